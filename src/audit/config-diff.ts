export type ConfigChange = { path: string; from: unknown; to: unknown };

export const CONFIG_CHANGES_LIMIT = 50;
const VALUE_CHARS = 200;

type Segment = string | number;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);
const isPrimitiveList = (v: unknown): boolean =>
  Array.isArray(v) && v.every((item) => item === null || typeof item !== "object");

function changedPaths(before: unknown, after: unknown, at: Segment[], out: Segment[][]): void {
  if (isObject(before) && isObject(after)) {
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      changedPaths(before[key], after[key], [...at, key], out);
    }
    return;
  }
  // Lists of objects (sinks) by position; lists of values (reasons) as one value.
  if (
    Array.isArray(before) &&
    Array.isArray(after) &&
    !(isPrimitiveList(before) && isPrimitiveList(after))
  ) {
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      changedPaths(before[i], after[i], [...at, i], out);
    }
    return;
  }
  if (JSON.stringify(before) !== JSON.stringify(after)) out.push(at);
}

function valueAt(document: unknown, path: Segment[]): unknown {
  let node = document;
  for (const segment of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<Segment, unknown>)[segment];
  }
  return node;
}

function shown(value: unknown): unknown {
  if (value === undefined) return null;
  const json = JSON.stringify(value);
  return json.length <= VALUE_CHARS ? value : `${json.slice(0, VALUE_CHARS)}…`;
}

const pathText = (path: Segment[]) =>
  path.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`)).join("") ||
  "(root)";

/**
 * What changed between two documents, found on the real ones (so a replaced secret counts as a
 * change) but shown from their redacted copies (so no secret value is ever in the answer).
 */
export function diffConfigs(
  before: { raw: unknown; redacted: unknown },
  after: { raw: unknown; redacted: unknown },
  limit = CONFIG_CHANGES_LIMIT,
): { changes: ConfigChange[]; more: number } {
  const paths: Segment[][] = [];
  changedPaths(before.raw, after.raw, [], paths);
  return {
    changes: paths.slice(0, limit).map((path) => ({
      path: pathText(path),
      from: shown(valueAt(before.redacted, path)),
      to: shown(valueAt(after.redacted, path)),
    })),
    more: Math.max(0, paths.length - limit),
  };
}
