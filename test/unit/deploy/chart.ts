import { Ajv, type ErrorObject } from "ajv";
import yaml from "js-yaml";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { ensureTools, runTool } from "../../harness/tools.ts";

export const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..", "..");
export const CHART_DIR = path.join(REPO_ROOT, "deploy", "helm", "podmortem");
export const MANIFESTS_DIR = path.join(REPO_ROOT, "deploy", "manifests");

/** What deploy/manifests is rendered from: `helm template podmortem deploy/helm/podmortem -n podmortem --set clusterName=my-cluster`. */
export const MANIFEST_RELEASE = { name: "podmortem", namespace: "podmortem" };
export const MANIFEST_VALUES = { clusterName: "my-cluster" };

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
};

type Values = Record<string, unknown>;

function isPlainObject(value: unknown): value is Values {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Helm's coalescing of user values over the chart's: maps merge, anything else replaces, null deletes. */
export function mergeValues(base: Values, override: Values): Values {
  const out: Values = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete out[key];
    else if (isPlainObject(value) && isPlainObject(out[key]))
      out[key] = mergeValues(out[key], value);
    else out[key] = value;
  }
  return out;
}

export function chartDefaults(): Values {
  return yaml.load(readFileSync(path.join(CHART_DIR, "values.yaml"), "utf8")) as Values;
}

export function chartMetadata(): { name: string; version: string; appVersion: string } {
  return yaml.load(readFileSync(path.join(CHART_DIR, "Chart.yaml"), "utf8")) as {
    name: string;
    version: string;
    appVersion: string;
  };
}

function schemaValidator() {
  const schema = JSON.parse(
    readFileSync(path.join(CHART_DIR, "values.schema.json"), "utf8"),
  ) as object;
  return new Ajv({ allErrors: true, strict: false }).compile(schema);
}

/** One line per problem, named by its values path, the way an operator reads it. */
export function describeSchemaErrors(errors: ErrorObject[]): string[] {
  return errors.map((error) => {
    const at = error.instancePath.replace(/^\//, "").replaceAll("/", ".") || "(root)";
    if (error.keyword === "additionalProperties") {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      return `${at === "(root)" ? "" : `${at}.`}${extra}: is not a value of this chart`;
    }
    if (error.keyword === "enum") {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
      return `${at}: must be one of ${allowed.map((v) => JSON.stringify(v)).join(", ")}`;
    }
    return `${at}: ${error.message ?? error.keyword}`;
  });
}

/** Validates merged values like `helm install` does before rendering; the problems, or none. */
export function validateValues(values: Values): string[] {
  const validate = schemaValidator();
  if (validate(values)) return [];
  return describeSchemaErrors(validate.errors ?? []);
}

export type Rendering = { objects: K8sObject[]; byFile: Map<string, K8sObject[]> };

/**
 * The real `helm template` of this chart: user values over values.yaml, checked by helm against
 * values.schema.json, every template rendered (hooks included) and split into objects by the
 * template each came from.
 */
export function renderChart(
  overrides: Values = {},
  release: { name: string; namespace: string } = MANIFEST_RELEASE,
): Rendering {
  return parseRendering(helmTemplate(overrides, release));
}

const renderings = new Map<string, string>();

/** `helm template`'s own output (once per values and release); a refusal throws helm's message. */
export function helmTemplate(
  overrides: Values = {},
  release: { name: string; namespace: string } = MANIFEST_RELEASE,
): string {
  const key = JSON.stringify([overrides, release]);
  const known = renderings.get(key);
  if (known !== undefined) return known;
  const output = runHelmTemplate(overrides, release);
  renderings.set(key, output);
  return output;
}

function runHelmTemplate(overrides: Values, release: { name: string; namespace: string }): string {
  const { helm } = ensureTools();
  const dir = mkdtempSync(path.join(tmpdir(), "podmortem-values-"));
  try {
    const file = path.join(dir, "values.json");
    writeFileSync(file, JSON.stringify(overrides));
    return runTool(helm, [
      "template",
      release.name,
      CHART_DIR,
      "-n",
      release.namespace,
      "-f",
      file,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `helm lint --strict` with these values; the problems it reports, or none. */
export function helmLint(overrides: Values = {}): string {
  const { helm } = ensureTools();
  const dir = mkdtempSync(path.join(tmpdir(), "podmortem-values-"));
  try {
    const file = path.join(dir, "values.json");
    writeFileSync(file, JSON.stringify(overrides));
    return runTool(helm, ["lint", "--strict", CHART_DIR, "-f", file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function parseRendering(output: string): Rendering {
  const byFile = new Map<string, K8sObject[]>();
  const objects: K8sObject[] = [];
  for (const doc of output.split(/^---$/m)) {
    const source = /^# Source: [^/]+\/(.+)$/m.exec(doc)?.[1];
    const object = yaml.load(doc);
    if (!source || !isPlainObject(object)) continue;
    const file = source;
    byFile.set(file, [...(byFile.get(file) ?? []), object as K8sObject]);
    objects.push(object as K8sObject);
  }
  return { objects, byFile };
}

const HELM_ONLY_LABELS = ["helm.sh/chart", "app.kubernetes.io/managed-by"];

/**
 * An object as deploy/manifests holds it: without what only Helm uses (its labels, hook
 * annotations, config checksums that only Helm recomputes) and with the namespace kustomize sets.
 */
export function normalizeForManifests(object: K8sObject, namespace: string): K8sObject {
  const copy = structuredClone(object);
  const strip = (meta: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  }) => {
    for (const label of HELM_ONLY_LABELS) delete meta.labels?.[label];
    for (const key of Object.keys(meta.annotations ?? {})) {
      if (key.startsWith("helm.sh/") || key.startsWith("checksum/")) delete meta.annotations![key];
    }
    if (meta.annotations && Object.keys(meta.annotations).length === 0) delete meta.annotations;
  };
  strip(copy.metadata);
  const template = (copy.spec as { template?: { metadata?: Record<string, never> } } | undefined)
    ?.template;
  if (template?.metadata) strip(template.metadata);
  if (!CLUSTER_SCOPED.has(copy.kind) && copy.metadata.namespace === undefined)
    copy.metadata.namespace = namespace;
  return copy;
}

export const CLUSTER_SCOPED = new Set(["ClusterRole", "ClusterRoleBinding", "Namespace"]);

export function objectId(object: K8sObject): string {
  return `${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`;
}

/** The file in deploy/manifests an object belongs in: one file per chart template. */
export function manifestFileFor(templateFile: string): string {
  return path.basename(templateFile);
}

export function loadManifests(): Map<string, K8sObject[]> {
  const out = new Map<string, K8sObject[]>();
  for (const name of readdirSync(MANIFESTS_DIR).sort()) {
    if (!name.endsWith(".yaml") || name === "kustomization.yaml") continue;
    const docs = yaml
      .loadAll(readFileSync(path.join(MANIFESTS_DIR, name), "utf8"))
      .filter((doc): doc is K8sObject => isPlainObject(doc));
    out.set(name, docs);
  }
  return out;
}

export function dumpObjects(objects: K8sObject[]): string {
  return objects.map((o) => yaml.dump(o, { lineWidth: -1, noRefs: true })).join("---\n");
}
