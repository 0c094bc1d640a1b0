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
 *
 * Most of a pod's bytes (managedFields, spec) lie between its identity and its status, and
 * walking them was most of the cost. The API server writes a watch event as `{"type":…,
 * "object":…}` and a pod's status as its last member, so a line is first read the short way:
 * the event's type, the pod's metadata up to its uid and resourceVersion, then the last
 * `"status":{` of the line (found by a native search), walked and followed by exactly the two
 * closing braces of the pod and the event. A `"status":` key is found only where it is a key
 * (inside a string a quote is escaped), and two closers after its value put it directly in
 * the event's object: the pod's last status member, the one JSON.parse keeps. Any other shape
 * takes the full walk.
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
const KEY_ITEMS = bytesOf("items");
const MODIFIED = bytesOf('"MODIFIED"');
/** Compact, as the API server writes it; conditions' `"status":"True"` do not match. */
const STATUS_MEMBER = bytesOf('"status":{');
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

function skipSpace(b: Buffer, i: number, end: number): number {
  while (i < end) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i += 1;
  }
  throw unusual;
}

/** `i` at an opening quote; the index just after the closing one. */
function skipString(b: Buffer, i: number, end: number): number {
  i += 1;
  while (i < end) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    i += c === BACKSLASH ? 2 : 1;
  }
  throw unusual;
}

/** The index just after the value starting at `i` (after any space). */
function skipValue(b: Buffer, i: number, end: number): number {
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

function keyIs(b: Buffer, start: number, end: number, key: Uint8Array): boolean {
  if (end - start !== key.length) return false;
  for (let k = 0; k < key.length; k += 1) if (b[start + k] !== key[k]) return false;
  return true;
}

// A cursor over one line, so nested objects are walked once, without closures or allocations:
// `at` is the position, `keyFrom`/`keyTo` the bounds of the last key read (without quotes).
let at = 0;
let keyFrom = 0;
let keyTo = 0;

/** `at` on an opening brace: true with `at` on the first key, false after an empty object. */
function enter(b: Buffer, end: number): boolean {
  if (b[at] !== OPEN_BRACE) throw unusual;
  at = skipSpace(b, at + 1, end);
  if (b[at] !== CLOSE_BRACE) return true;
  at += 1;
  return false;
}

/** Reads the key at `at`; leaves `at` on its value. An escaped key's meaning is not its bytes. */
function readKey(b: Buffer, end: number): void {
  if (b[at] !== QUOTE) throw unusual;
  const close = skipString(b, at, end);
  keyFrom = at + 1;
  keyTo = close - 1;
  for (let k = keyFrom; k < keyTo; k += 1) if (b[k] === BACKSLASH) throw unusual;
  at = skipSpace(b, close, end);
  if (b[at] !== COLON) throw unusual;
  at = skipSpace(b, at + 1, end);
}

/** After a value: true with `at` on the next key, false with `at` after the closing brace. */
function next(b: Buffer, end: number): boolean {
  at = skipSpace(b, at, end);
  const c = b[at];
  if (c === CLOSE_BRACE) {
    at += 1;
    return false;
  }
  if (c !== COMMA) throw unusual;
  at = skipSpace(b, at + 1, end);
  return true;
}

/** A plain string value's text, or unusual (escapes would make bytes and text differ). */
function readPlainString(b: Buffer, end: number): string {
  if (b[at] !== QUOTE) throw unusual;
  const close = skipString(b, at, end);
  for (let k = at + 1; k < close - 1; k += 1) if (b[k] === BACKSLASH) throw unusual;
  const text = b.toString("latin1", at + 1, close - 1);
  at = close;
  return text;
}

type Scan = {
  modified: boolean;
  uid: string | undefined;
  resourceVersion: string | undefined;
  /** [start, end) of each STATUS_KEYS value, -1 when absent. */
  ranges: Int32Array;
};

/**
 * The metadata's uid and resourceVersion. The full walk keeps the last of duplicate keys, as
 * JSON.parse does; the short way (`untilBoth`) stops as soon as both were read.
 */
function scanMetadata(b: Buffer, end: number, scan: Scan, untilBoth: boolean): void {
  scan.uid = undefined;
  scan.resourceVersion = undefined;
  if (!enter(b, end)) return;
  do {
    readKey(b, end);
    if (keyIs(b, keyFrom, keyTo, KEY_UID)) scan.uid = readPlainString(b, end);
    else if (keyIs(b, keyFrom, keyTo, KEY_RESOURCE_VERSION))
      scan.resourceVersion = readPlainString(b, end);
    else at = skipValue(b, at, end);
    if (untilBoth && scan.uid !== undefined && scan.resourceVersion !== undefined) return;
  } while (next(b, end));
}

/** The short way (see the top of this file): false when the line has another shape. */
function scanLineFast(b: Buffer, start: number, end: number, scan: Scan): boolean {
  at = skipSpace(b, start, end);
  if (!enter(b, end)) return false;
  readKey(b, end);
  if (!keyIs(b, keyFrom, keyTo, KEY_TYPE)) return false;
  const typeFrom = at;
  at = skipValue(b, at, end);
  if (!keyIs(b, typeFrom, at, MODIFIED)) return false;
  if (!next(b, end)) return false;
  readKey(b, end);
  if (!keyIs(b, keyFrom, keyTo, KEY_OBJECT)) return false;
  const objectFrom = at;
  if (!enter(b, end)) return false;
  scan.uid = undefined;
  scan.resourceVersion = undefined;
  do {
    readKey(b, end);
    if (keyIs(b, keyFrom, keyTo, KEY_METADATA)) {
      scanMetadata(b, end, scan, true);
      break;
    }
    at = skipValue(b, at, end);
  } while (next(b, end));
  if (scan.uid === undefined || scan.resourceVersion === undefined) return false;
  const status = b.lastIndexOf(STATUS_MEMBER, end - STATUS_MEMBER.length);
  if (status <= objectFrom || status < at) return false;
  at = status + STATUS_MEMBER.length - 1;
  scanStatus(b, end, scan.ranges);
  // Exactly the pod's and the event's closing braces, then the end of the line.
  if (b[(at = skipSpace(b, at, end))] !== CLOSE_BRACE) return false;
  at += 1;
  if (at === end) return false;
  if (b[(at = skipSpace(b, at, end))] !== CLOSE_BRACE) return false;
  at += 1;
  while (at < end) {
    const c = b[at]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
    at += 1;
  }
  scan.modified = true;
  return true;
}

function scanStatus(b: Buffer, end: number, ranges: Int32Array): void {
  ranges.fill(-1);
  if (!enter(b, end)) return;
  do {
    readKey(b, end);
    const from = at;
    at = skipValue(b, at, end);
    for (let k = 0; k < STATUS_KEYS.length; k += 1) {
      if (keyIs(b, keyFrom, keyTo, STATUS_KEYS[k]!)) {
        ranges[2 * k] = from;
        ranges[2 * k + 1] = at;
      }
    }
  } while (next(b, end));
}

function scanObject(b: Buffer, end: number, scan: Scan): void {
  scan.uid = undefined;
  scan.resourceVersion = undefined;
  scan.ranges.fill(-1);
  if (!enter(b, end)) return;
  do {
    readKey(b, end);
    if (keyIs(b, keyFrom, keyTo, KEY_METADATA)) scanMetadata(b, end, scan, false);
    else if (keyIs(b, keyFrom, keyTo, KEY_STATUS)) scanStatus(b, end, scan.ranges);
    else at = skipValue(b, at, end);
  } while (next(b, end));
}

function scanLine(b: Buffer, start: number, end: number, scan: Scan): void {
  scan.modified = false;
  let sawObject = false;
  at = skipSpace(b, start, end);
  if (!enter(b, end)) throw unusual;
  do {
    readKey(b, end);
    if (keyIs(b, keyFrom, keyTo, KEY_TYPE)) {
      const from = at;
      at = skipValue(b, at, end);
      scan.modified = keyIs(b, from, at, MODIFIED);
    } else if (keyIs(b, keyFrom, keyTo, KEY_OBJECT)) {
      sawObject = true;
      scanObject(b, end, scan);
    } else at = skipValue(b, at, end);
  } while (next(b, end));
  if (!sawObject) throw unusual;
}

function keyLength(ranges: Int32Array): number {
  let length = 0;
  for (let k = 0; k < ranges.length; k += 2) length += 1 + Math.max(0, ranges[k + 1]! - ranges[k]!);
  return length;
}

/** Equal when the stored key is exactly the fields' bytes, each after a separator byte. */
function sameKey(stored: Buffer, b: Buffer, ranges: Int32Array): boolean {
  if (stored.length !== keyLength(ranges)) return false;
  let at = 0;
  for (let k = 0; k < ranges.length; k += 2) {
    const from = ranges[k]!;
    const to = ranges[k + 1]!;
    // The separator tells an absent field from an empty one.
    if (stored[at] !== (from < 0 ? 0 : 1)) return false;
    at += 1;
    if (from < 0) continue;
    // A native compare: the container statuses are hundreds of bytes.
    if (b.compare(stored, at, at + (to - from), from, to) !== 0) return false;
    at += to - from;
  }
  return true;
}

function copyKey(b: Buffer, ranges: Int32Array): Buffer {
  const key = Buffer.allocUnsafeSlow(keyLength(ranges));
  let at = 0;
  for (let k = 0; k < ranges.length; k += 2) {
    const from = ranges[k]!;
    const to = ranges[k + 1]!;
    key[at] = from < 0 ? 0 : 1;
    at += 1;
    if (from >= 0) at += b.copy(key, at, from, to);
  }
  return key;
}

/**
 * Each item of a list page, as (uid, status key) once the whole page was walked; undefined when
 * the page or an item has a shape this walk does not read for sure (JSON.parse keeps the last of
 * two `items`, so a second one gives up too).
 */
function scanListPage(b: Buffer, start: number, end: number, scan: Scan) {
  const seeds: Array<{ uid: string | undefined; key: Buffer }> = [];
  let sawItems = false;
  at = skipSpace(b, start, end);
  if (!enter(b, end)) return undefined;
  do {
    readKey(b, end);
    if (!keyIs(b, keyFrom, keyTo, KEY_ITEMS)) {
      at = skipValue(b, at, end);
      continue;
    }
    if (sawItems || b[at] !== OPEN_BRACKET) return undefined;
    sawItems = true;
    at = skipSpace(b, at + 1, end);
    if (b[at] === CLOSE_BRACKET) {
      at += 1;
      continue;
    }
    for (;;) {
      scanObject(b, end, scan);
      seeds.push({ uid: scan.uid, key: copyKey(b, scan.ranges) });
      at = skipSpace(b, at, end);
      if (b[at] === CLOSE_BRACKET) break;
      if (b[at] !== COMMA) return undefined;
      at = skipSpace(b, at + 1, end);
    }
    at += 1;
  } while (next(b, end));
  return sawItems ? seeds : undefined;
}

export function createPodLineFilter() {
  const lastKeys = new Map<string, Buffer>();
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
    inspect(bytes: Buffer, start: number, end: number): LineInspection | undefined {
      try {
        if (!scanLineFast(bytes, start, end, scan)) scanLine(bytes, start, end, scan);
      } catch (error) {
        if (!(error instanceof Unusual)) throw error;
        try {
          // The short way stops at what it does not expect; the full walk decides.
          scanLine(bytes, start, end, scan);
        } catch (fullError) {
          if (fullError instanceof Unusual) return undefined;
          throw fullError;
        }
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
    /**
     * A list page just handed to the pipeline, item by item (`uids` in its order): each pod's
     * status bytes as listed become the ones its next watch line is compared with, so a relist
     * is not followed by one full parse per pod. A pod whose bytes could not be read for sure is
     * forgotten instead: its next line is parsed.
     */
    seedList(bytes: Buffer, uids: ReadonlyArray<string | undefined>): void {
      let seeds: ReturnType<typeof scanListPage>;
      try {
        seeds = scanListPage(bytes, 0, bytes.length, scan);
      } catch (error) {
        if (!(error instanceof Unusual)) throw error;
      }
      const complete = seeds !== undefined && seeds.length === uids.length;
      uids.forEach((uid, k) => {
        if (uid === undefined) return;
        const seed = complete ? seeds![k]! : undefined;
        if (seed?.uid === uid) lastKeys.set(uid, seed.key);
        else lastKeys.delete(uid);
      });
    },
    /** After a complete list of every namespace: pods it did not hold are gone. */
    keepOnly(uids: ReadonlySet<string>): void {
      for (const uid of lastKeys.keys()) if (!uids.has(uid)) lastKeys.delete(uid);
    },
    /** After a relist of one namespace or a config change: every pod is parsed again once. */
    reset(): void {
      lastKeys.clear();
    },
    get size(): number {
      return lastKeys.size;
    },
  };
}

export type PodLineFilter = ReturnType<typeof createPodLineFilter>;
