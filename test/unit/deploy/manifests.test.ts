import yaml from "js-yaml";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { ensureTools, runTool } from "../../harness/tools.ts";
import {
  MANIFEST_RELEASE,
  MANIFEST_VALUES,
  MANIFESTS_DIR,
  loadManifests,
  normalizeForManifests,
  objectId,
  renderChart,
  type K8sObject,
} from "./chart.ts";
import { manifestFiles } from "./write-manifests.ts";

const byId = (objects: K8sObject[]) => new Map(objects.map((o) => [objectId(o), o]));

describe("deploy/manifests", () => {
  it("is the chart's rendering for the documented values, file for file (regenerate with write-manifests.ts)", () => {
    const expected = manifestFiles();
    const actual = readdirSync(MANIFESTS_DIR).sort();
    expect(actual).toEqual([...expected.keys()].sort());
    for (const [name, text] of expected) {
      expect(readFileSync(path.join(MANIFESTS_DIR, name), "utf8"), name).toBe(text);
    }
  });

  it("holds every object of the rendering and nothing else, each equal in every field", () => {
    const rendered = renderChart(MANIFEST_VALUES).objects.map((o) =>
      normalizeForManifests(o, MANIFEST_RELEASE.namespace),
    );
    const manifests = [...loadManifests().values()].flat();
    expect([...byId(manifests).keys()].sort()).toEqual([...byId(rendered).keys()].sort());
    const inManifests = byId(manifests);
    for (const object of rendered) expect(inManifests.get(objectId(object))).toEqual(object);
  });

  it("is a kustomization of every manifest file", () => {
    const kustomization = yaml.load(
      readFileSync(path.join(MANIFESTS_DIR, "kustomization.yaml"), "utf8"),
    ) as { namespace: string; resources: string[] };
    expect(kustomization.namespace).toBe("podmortem");
    expect(kustomization.resources.sort()).toEqual([...loadManifests().keys()].sort());
  });

  it("builds with kustomize into the same objects", () => {
    const built = runTool(ensureTools().kubectl, ["kustomize", MANIFESTS_DIR]);
    const objects = yaml.loadAll(built) as K8sObject[];
    expect([...byId(objects).keys()].sort()).toEqual(
      [...byId([...loadManifests().values()].flat()).keys()].sort(),
    );
  });
});
