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
};

/** `<prefix><namespace>/<pod>/<timestamp>/`, the prefix defaulting to `<cluster>/` (contract). */
export function evidenceFolder(input: EvidenceLayoutInput): string {
  const prefix = input.prefix ?? `${input.cluster}/`;
  return `${prefix}${input.namespace}/${input.pod}/${evidenceTimestamp(input.capturedAtMs)}/`;
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
