// Compares the real `helm template` output with deploy/manifests, object by object, after the
// same normalization (Helm's labels, hooks and checksums left out). Run by the GitHub workflow:
//   helm template podmortem deploy/helm/podmortem -n podmortem --set clusterName=my-cluster > out.yaml
//   node test/unit/deploy/compare-helm.ts out.yaml
import yaml from "js-yaml";
import { isDeepStrictEqual } from "node:util";
import { readFileSync } from "node:fs";

import {
  MANIFEST_RELEASE,
  loadManifests,
  normalizeForManifests,
  objectId,
  type K8sObject,
} from "./chart.ts";

export function compareWithManifests(helmOutput: string): string[] {
  const helm = (yaml.loadAll(helmOutput) as Array<K8sObject | null>)
    .filter((o): o is K8sObject => o !== null && typeof o === "object")
    .map((o) => normalizeForManifests(o, MANIFEST_RELEASE.namespace));
  const manifests = new Map([...loadManifests().values()].flat().map((o) => [objectId(o), o]));
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const object of helm) {
    const id = objectId(object);
    seen.add(id);
    const ours = manifests.get(id);
    if (!ours) problems.push(`${id}: rendered by helm, missing from deploy/manifests`);
    else if (!isDeepStrictEqual(ours, object))
      problems.push(
        `${id}: differs\n--- helm\n${yaml.dump(object)}--- deploy/manifests\n${yaml.dump(ours)}`,
      );
  }
  for (const id of manifests.keys())
    if (!seen.has(id)) problems.push(`${id}: in deploy/manifests, not rendered by helm`);
  return problems;
}

if (import.meta.main) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: node test/unit/deploy/compare-helm.ts HELM_OUTPUT.yaml\n");
    process.exit(2);
  }
  const problems = compareWithManifests(readFileSync(file, "utf8"));
  if (problems.length > 0) {
    process.stderr.write(`${problems.join("\n")}\n`);
    process.exit(1);
  }
  process.stdout.write("helm template equals deploy/manifests in every object\n");
}
