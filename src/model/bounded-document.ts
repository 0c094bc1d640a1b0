import yaml from "js-yaml";

/** A config document is a few KiB; 1 MiB leaves room for long lists and refuses the absurd. */
export const MAX_DOCUMENT_BYTES = 1024 * 1024;
/** Anchors are fine; references to them are what a bomb multiplies. */
export const MAX_ALIASES = 64;
/** Nodes (and characters of scalars, counted as nodes of 64) once every alias is expanded. */
export const MAX_EXPANDED_NODES = 200_000;

export type DocumentLimits = { maxBytes: number; maxAliases: number; maxExpandedNodes: number };
export const DOCUMENT_LIMITS: DocumentLimits = {
  maxBytes: MAX_DOCUMENT_BYTES,
  maxAliases: MAX_ALIASES,
  maxExpandedNodes: MAX_EXPANDED_NODES,
};

/** Why a document was refused, as one sentence without its content. */
export class DocumentRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DocumentRefusedError";
  }
}

const mib = (bytes: number) =>
  `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) ? 1 : 0)} MiB`;

/**
 * What the document would be once every alias is expanded, measured without expanding it: js-yaml
 * hands an alias back as the same object, so a bomb is small in memory until something (JSON, a
 * diff, a journal) walks it. Each distinct object is visited once; its expanded size is memoised.
 */
export function checkExpansion(value: unknown, limits: DocumentLimits = DOCUMENT_LIMITS): void {
  const expanded = new Map<object, number>();
  let aliases = 0;
  const cap = limits.maxExpandedNodes + 1;
  const sizeOf = (node: unknown): number => {
    if (typeof node === "string") return 1 + Math.floor(node.length / 64);
    if (node === null || typeof node !== "object") return 1;
    const known = expanded.get(node);
    if (known !== undefined) {
      aliases += 1;
      if (aliases > limits.maxAliases)
        throw new DocumentRefusedError(
          `uses more than ${limits.maxAliases} aliases (*name); a config document needs few or none`,
        );
      return known;
    }
    let total = 1;
    for (const child of Array.isArray(node) ? node : Object.values(node))
      total = Math.min(cap, total + sizeOf(child));
    expanded.set(node, total);
    return total;
  };
  if (sizeOf(value) > limits.maxExpandedNodes)
    throw new DocumentRefusedError(
      `expands to more than ${limits.maxExpandedNodes} nodes once its aliases are resolved`,
    );
}

/**
 * YAML (and so JSON) with limits: a size cap before parsing, then a cap on aliases and on the
 * expanded size, so a "billion laughs" document is refused in milliseconds.
 */
export function parseBoundedYaml(text: string, limits: DocumentLimits = DOCUMENT_LIMITS): unknown {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > limits.maxBytes)
    throw new DocumentRefusedError(
      `is ${mib(bytes)}, more than the ${mib(limits.maxBytes)} a config document may have`,
    );
  const value = yaml.load(text);
  checkExpansion(value, limits);
  return value;
}
