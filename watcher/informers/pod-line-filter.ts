/**
 * A byte-level look at one watch line of a pod, so the common update — status churn that cannot
 * change a detection — is dropped without `JSON.parse` (most of a watcher's CPU otherwise).
 *
 * The line is walked structurally (strings, nesting) without building anything; it yields the
 * pod's uid, its resourceVersion, and the bytes of every status field detection reads: `phase`,
 * `reason` and the three container-status arrays. A MODIFIED line whose bytes there equal the
 * last ones seen for that uid is skipped: detection reads nothing else of an update (its
 * fingerprint is made of these fields alone). Anything unusual — another event type, an escaped
 * key, a malformed line, a pod not seen before — is parsed in full. Equal bytes, not a hash:
 * a skip can never hide a change.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

const bytesOf = (text: string) => Buffer.from(text, "latin1");
const KEY_TYPE = bytesOf("type");
const KEY_OBJECT = bytesOf("object");
const KEY_METADATA = bytesOf("metadata");
const KEY_STATUS = bytesOf("status");
const KEY_UID = bytesOf("uid");
const KEY_RESOURCE_VERSION = bytesOf("resourceVersion");
const MODIFIED = bytesOf('"MODIFIED"');
/** The status fields detection reads, in the order their bytes make up a pod's key. */
const STATUS_KEYS = [
  "phase",
  "reason",
  "initContainerStatuses",
  "containerStatuses",
  "ephemeralContainerStatuses",
].map(bytesOf);

export type LineInspection = {
  /** The pod's resourceVersion, which a resumed watch starts from, even for a skipped line. */
  resourceVersion: string;
  /** True: nothing detection reads changed since the last line of this pod; do not parse. */
  unchanged: boolean;
};

/** Malformed or unexpected input: the caller parses the line in full. */
class Unusual extends Error {}
const unusual = new Unusual();

function skipSpace(b: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i += 1;
  }
  throw unusual;
}

/** `i` at an opening quote; the index just after the closing one. */
function skipString(b: Uint8Array, i: number, end: number): number {
  i += 1;
  while (i < end) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    i += c === BACKSLASH ? 2 : 1;
  }
  throw unusual;
}

/** The index just after the value starting at `i` (after any space). */
function skipValue(b: Uint8Array, i: number, end: number): number {
  const first = b[i]!;
  if (first === QUOTE) return skipString(b, i, end);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    while (i < end) {
      const c = b[i]!;
      if (c === QUOTE) {
        i = skipString(b, i, end);
        continue;
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) depth += 1;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth -= 1;
        if (depth === 0) return i + 1;
      }
      i += 1;
    }
    throw unusual;
  }
  // A number, true, false or null.
  while (i < end) {
    const c = b[i]!;
    if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c <= 0x20) return i;
    i += 1;
  }
  throw unusual;
}

function keyIs(b: Uint8Array, start: number, end: number, key: Uint8Array): boolean {
  if (end - start !== key.length) return false;
  for (let k = 0; k < key.length; k += 1) if (b[start + k] !== key[k]) return false;
  return true;
}

/**
 * Walks the object starting at `i` (an opening brace), calling `onMember` with each key's
 * bounds (without quotes) and the value's start; `onMember` returns the value's end. Returns
 * the index after the closing brace. An escaped key is unusual: its meaning is not its bytes.
 */
function walkObject(
  b: Uint8Array,
  i: number,
  end: number,
  onMember: (keyStart: number, keyEnd: number, valueStart: number) => number,
): number {
  if (b[i] !== OPEN_BRACE) throw unusual;
  i = skipSpace(b, i + 1, end);
  if (b[i] === CLOSE_BRACE) return i + 1;
  for (;;) {
    if (b[i] !== QUOTE) throw unusual;
    const keyStart = i;
    const keyEnd = skipString(b, i, end);
    for (let k = keyStart + 1; k < keyEnd - 1; k += 1) if (b[k] === BACKSLASH) throw unusual;
    i = skipSpace(b, keyEnd, end);
    if (b[i] !== COLON) throw unusual;
    const valueStart = skipSpace(b, i + 1, end);
    i = skipSpace(b, onMember(keyStart, keyEnd, valueStart), end);
    const c = b[i];
    if (c === CLOSE_BRACE) return i + 1;
    if (c !== COMMA) throw unusual;
    i = skipSpace(b, i + 1, end);
  }
}

/** A plain string value's text, or unusual (escapes would make bytes and text differ). */
function plainString(b: Uint8Array, start: number, end: number): string {
  if (b[start] !== QUOTE) throw unusual;
  const close = skipString(b, start, end);
  for (let k = start + 1; k < close - 1; k += 1) if (b[k] === BACKSLASH) throw unusual;
  return Buffer.from(b.buffer, b.byteOffset + start + 1, close - start - 2).toString("latin1");
}

type Scan = {
  modified: boolean;
  uid: string | undefined;
  resourceVersion: string | undefined;
  /** [start, end) of each STATUS_KEYS value, -1 when absent. */
  ranges: Int32Array;
};

function scanLine(b: Uint8Array, start: number, end: number, scan: Scan): void {
  scan.modified = false;
  scan.uid = undefined;
  scan.resourceVersion = undefined;
  let sawObject = false;
  const ranges = scan.ranges;
  walkObject(b, skipSpace(b, start, end), end, (keyStart, keyEnd, valueStart) => {
    const valueEnd = skipValue(b, valueStart, end);
    if (keyIs(b, keyStart + 1, keyEnd - 1, KEY_TYPE)) {
      scan.modified = keyIs(b, valueStart, valueEnd, MODIFIED);
    } else if (keyIs(b, keyStart + 1, keyEnd - 1, KEY_OBJECT)) {
      // The last of duplicate keys wins, as in JSON.parse.
      sawObject = true;
      scan.uid = undefined;
      scan.resourceVersion = undefined;
      ranges.fill(-1);
      walkObject(b, valueStart, valueEnd, (objectKeyStart, objectKeyEnd, memberStart) => {
        const memberEnd = skipValue(b, memberStart, valueEnd);
        if (keyIs(b, objectKeyStart + 1, objectKeyEnd - 1, KEY_METADATA)) {
          scan.uid = undefined;
          scan.resourceVersion = undefined;
          walkObject(b, memberStart, memberEnd, (metaKeyStart, metaKeyEnd, fieldStart) => {
            const fieldEnd = skipValue(b, fieldStart, memberEnd);
            if (keyIs(b, metaKeyStart + 1, metaKeyEnd - 1, KEY_UID))
              scan.uid = plainString(b, fieldStart, fieldEnd);
            else if (keyIs(b, metaKeyStart + 1, metaKeyEnd - 1, KEY_RESOURCE_VERSION))
              scan.resourceVersion = plainString(b, fieldStart, fieldEnd);
            return fieldEnd;
          });
        } else if (keyIs(b, objectKeyStart + 1, objectKeyEnd - 1, KEY_STATUS)) {
          ranges.fill(-1);
          if (b[memberStart] !== OPEN_BRACE) throw unusual;
          walkObject(b, memberStart, memberEnd, (statusKeyStart, statusKeyEnd, fieldStart) => {
            const fieldEnd = skipValue(b, fieldStart, memberEnd);
            for (let k = 0; k < STATUS_KEYS.length; k += 1) {
              if (keyIs(b, statusKeyStart + 1, statusKeyEnd - 1, STATUS_KEYS[k]!)) {
                ranges[2 * k] = fieldStart;
                ranges[2 * k + 1] = fieldEnd;
              }
            }
            return fieldEnd;
          });
        }
        return memberEnd;
      });
    }
    return valueEnd;
  });
  if (!sawObject) throw unusual;
}

function keyLength(ranges: Int32Array): number {
  let length = 0;
  for (let k = 0; k < ranges.length; k += 2) length += 1 + Math.max(0, ranges[k + 1]! - ranges[k]!);
  return length;
}

/** Equal when the stored key is exactly the fields' bytes, each after a separator byte. */
function sameKey(stored: Uint8Array, b: Uint8Array, ranges: Int32Array): boolean {
  if (stored.length !== keyLength(ranges)) return false;
  let at = 0;
  for (let k = 0; k < ranges.length; k += 2) {
    const from = ranges[k]!;
    const to = ranges[k + 1]!;
    // The separator tells an absent field from an empty one.
    if (stored[at] !== (from < 0 ? 0 : 1)) return false;
    at += 1;
    for (let j = from; j < to; j += 1, at += 1) if (stored[at] !== b[j]) return false;
  }
  return true;
}

function copyKey(b: Uint8Array, ranges: Int32Array): Uint8Array {
  const key = new Uint8Array(keyLength(ranges));
  let at = 0;
  for (let k = 0; k < ranges.length; k += 2) {
    const from = ranges[k]!;
    const to = ranges[k + 1]!;
    key[at] = from < 0 ? 0 : 1;
    at += 1;
    if (from >= 0) {
      key.set(b.subarray(from, to), at);
      at += to - from;
    }
  }
  return key;
}

export function createPodLineFilter() {
  const lastKeys = new Map<string, Uint8Array>();
  const scan: Scan = {
    modified: false,
    uid: undefined,
    resourceVersion: undefined,
    ranges: new Int32Array(STATUS_KEYS.length * 2),
  };

  return {
    /**
     * Undefined: parse the line in full (and it is remembered by `parsed`). Otherwise the
     * resourceVersion and whether the pod's detection-relevant bytes are unchanged.
     */
    inspect(bytes: Uint8Array, start: number, end: number): LineInspection | undefined {
      try {
        scanLine(bytes, start, end, scan);
      } catch (error) {
        if (error instanceof Unusual) return undefined;
        throw error;
      }
      const { uid, resourceVersion } = scan;
      if (uid === undefined || resourceVersion === undefined) return undefined;
      if (!scan.modified) {
        // ADDED or DELETED: parsed in full; a pod that comes back is compared afresh.
        lastKeys.delete(uid);
        return undefined;
      }
      const stored = lastKeys.get(uid);
      if (stored !== undefined && sameKey(stored, bytes, scan.ranges))
        return { resourceVersion, unchanged: true };
      lastKeys.set(uid, copyKey(bytes, scan.ranges));
      return { resourceVersion, unchanged: false };
    },
    /** After a relist or a config change: every pod is parsed again once. */
    reset(): void {
      lastKeys.clear();
    },
    get size(): number {
      return lastKeys.size;
    },
  };
}

export type PodLineFilter = ReturnType<typeof createPodLineFilter>;
