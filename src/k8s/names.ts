import { createHash } from "node:crypto";

const MAX_NAME = 63;

/**
 * A deterministic object name of at most 63 characters: as is when it fits, else cut and made
 * unique again by a hash of the whole, so two long names never collapse into one object.
 */
export function boundedName(name: string): string {
  if (name.length <= MAX_NAME) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 10);
  return `${name.slice(0, MAX_NAME - 11).replace(/-+$/, "")}-${hash}`;
}
