/** Sortable, and free of characters that trouble file systems or URLs. */
export function evidenceTimestamp(epochMs: number): string {
  return new Date(epochMs)
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replaceAll(":", "-");
}

export type EvidenceLayoutInput = {
  prefix: string | undefined;
  cluster: string;
  namespace: string;
  pod: string;
  capturedAtMs: number;
  captureId: string;
};

/** A capture id as one path segment: anything outside [A-Za-z0-9._-] becomes "-". */
export function captureSegment(captureId: string): string {
  return captureId.replaceAll(/[^A-Za-z0-9._-]/g, "-");
}

/**
 * `<prefix><namespace>/<pod>/<timestamp>_<captureId>/`, the prefix defaulting to `<cluster>/`
 * (contract). The capture id makes the folder one capture's own: two containers of one pod that
 * crash in the same second are two captures and two folders.
 */
export function evidenceFolder(input: EvidenceLayoutInput): string {
  const prefix = input.prefix ?? `${input.cluster}/`;
  const segment = `${evidenceTimestamp(input.capturedAtMs)}_${captureSegment(input.captureId)}`;
  return `${prefix}${input.namespace}/${input.pod}/${segment}/`;
}

export const EVIDENCE_FILES = {
  crashLog: "crash.log",
  custody: "custody.json",
  pod: "pod.json",
  events: "events.json",
  node: "node.json",
  containerLog: (container: string, previous: boolean) =>
    `containers/${container}${previous ? ".previous" : ""}.log`,
  checkpoint: (container: string) => `checkpoint-${container}.tar`,
} as const;
