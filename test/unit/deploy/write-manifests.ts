// Regenerates deploy/manifests from the chart's rendering: node test/unit/deploy/write-manifests.ts
// (deploy/manifests is what `helm template` gives for MANIFEST_VALUES, less Helm's own labels,
// hooks and checksums; manifests.test.ts fails when the two drift apart).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

import {
  MANIFEST_RELEASE,
  MANIFEST_VALUES,
  MANIFESTS_DIR,
  dumpObjects,
  manifestFileFor,
  normalizeForManifests,
  renderChart,
} from "./chart.ts";

const HEADER =
  "# Generated from deploy/helm/podmortem by test/unit/deploy/write-manifests.ts: edit the chart, then\n" +
  "# regenerate. `helm template podmortem deploy/helm/podmortem -n podmortem --set clusterName=my-cluster`\n" +
  "# gives the same objects (plus Helm's labels, hook annotations and config checksums).\n";

export function manifestFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const [template, objects] of renderChart(MANIFEST_VALUES).byFile) {
    if (objects.length === 0) continue;
    const normalized = objects.map((o) => normalizeForManifests(o, MANIFEST_RELEASE.namespace));
    files.set(manifestFileFor(template), HEADER + dumpObjects(normalized));
  }
  const resources = [...files.keys()].sort();
  files.set(
    "kustomization.yaml",
    HEADER +
      [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        `namespace: ${MANIFEST_RELEASE.namespace}`,
        "resources:",
        ...resources.map((file) => `  - ${file}`),
        "",
      ].join("\n"),
  );
  return files;
}

if (import.meta.main) {
  mkdirSync(MANIFESTS_DIR, { recursive: true });
  for (const old of readdirSync(MANIFESTS_DIR)) rmSync(path.join(MANIFESTS_DIR, old));
  for (const [name, text] of manifestFiles()) writeFileSync(path.join(MANIFESTS_DIR, name), text);
  process.stdout.write(`wrote ${[...manifestFiles().keys()].join(", ")} to ${MANIFESTS_DIR}\n`);
}
