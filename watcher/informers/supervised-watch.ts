import type { KubeConfig } from "@kubernetes/client-node";

import { kubeHttpFor } from "../../src/k8s/kube-http.ts";

import type { Logger } from "../../src/logging.ts";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export type WatchHandlers = {
  onObject(type: WatchEventType, raw: unknown, fromList: boolean): void;
  /** After a complete (re)list: the uids it held, so state for objects gone meanwhile can go. */
  onListed?(uids: ReadonlySet<string>): void;
  /**
   * Asked after each chunk of the watch stream: a promise while the consumer is behind (owner
   * lookups piling up). Nothing more is read until it settles, so the API server's bytes wait
   * in TCP and HTTP/2 flow control rather than in this process.
   */
  whenCaughtUp?(): Promise<void> | undefined;
};

/** A look at a watch line's bytes before it is parsed: undefined parses it in full. */
export type WatchLineFilter = {
  inspect(
    bytes: Buffer,
    start: number,
    end: number,
  ): { resourceVersion: string; unchanged: boolean } | undefined;
  /** A list page whose items (these uids, in order) were just handed to onObject. */
  seedList?(bytes: Buffer, uids: ReadonlyArray<string | undefined>): void;
};

export type SupervisedWatchOptions = {
  kc: KubeConfig;
  /** Collection path, e.g. `/api/v1/pods` or `/api/v1/namespaces/shop/pods`. */
  path: string;
  labelSelector?: string | undefined;
  log: Logger;
  handlers: WatchHandlers;
  /** Skips watch lines whose bytes show nothing new to the handlers (see pod-line-filter.ts). */
  lineFilter?: WatchLineFilter | undefined;
  onReconnect: () => void;
  pageSize?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * The server ends a watch after about this many seconds (jittered up to +20 % so many
   * watches do not reconnect together); a fresh one resumes from the last version.
   */
  watchTimeoutS?: number;
  /** No byte for this long after the server's own timeout should have ended it: a stall. */
  stallGraceMs?: number;
  /** The API server answers a list page or a watch's headers within this, or it is down. */
  requestTimeoutMs?: number;
};

/** A list whose continue token keeps expiring (a cluster compacting faster than we page). */
const MAX_LIST_RESTARTS = 5;

const NEWLINE = 0x0a;

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

class GoneError extends Error {
  constructor() {
    super("410 Gone: the resourceVersion was compacted");
  }
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Connected, then silent past the server's own timeout: a half-open connection. */
class StallError extends Error {}

function metadataOf(raw: unknown): { uid?: string; resourceVersion?: string } {
  const metadata = (raw as { metadata?: { uid?: unknown; resourceVersion?: unknown } } | null)
    ?.metadata;
  return {
    ...(typeof metadata?.uid === "string" ? { uid: metadata.uid } : {}),
    ...(typeof metadata?.resourceVersion === "string"
      ? { resourceVersion: metadata.resourceVersion }
      : {}),
  };
}

/**
 * List (paged), then watch from the list's resourceVersion, forever: resumes from the last
 * version seen after the server closes a watch, relists on 410 Gone, backs off with jitter after
 * errors, restarts a watch that went silent (the watchdog), and never lets a handler's
 * exception escape. client-node's informer stops for good on most errors instead, and keeps
 * every object whole; here each object goes to the handlers and nothing of it is kept.
 */
export function createSupervisedWatch(options: SupervisedWatchOptions) {
  const pageSize = options.pageSize ?? 500;
  const initialBackoffMs = options.initialBackoffMs ?? 500;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const watchTimeoutS = options.watchTimeoutS ?? 290;
  const stallGraceMs = options.stallGraceMs ?? 30_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const log = options.log;
  let stopped = false;
  let healthy = false;
  let resourceVersion: string | undefined;
  let abort: AbortController | undefined;
  const stopping = new AbortController();
  let wake: (() => void) | undefined;
  let firstList: PromiseWithResolvers<void> | undefined = Promise.withResolvers<void>();
  let loop: Promise<void> | undefined;

  const deliver = (type: WatchEventType, raw: unknown, fromList: boolean) => {
    try {
      options.handlers.onObject(type, raw, fromList);
    } catch (err) {
      log.error({ err, path: options.path }, "watch handler failed; event skipped");
    }
  };

  const http = kubeHttpFor(options.kc);
  const request = (url: URL, signal: AbortSignal) => http.fetch(url, { signal });

  function collectionUrl(): URL {
    const url = new URL(`${http.server}${options.path}`);
    if (options.labelSelector) url.searchParams.set("labelSelector", options.labelSelector);
    return url;
  }

  async function list(): Promise<string> {
    const uids = new Set<string>();
    let continueToken: string | undefined;
    let listVersion = "";
    let restarts = 0;
    for (;;) {
      const url = collectionUrl();
      url.searchParams.set("limit", String(pageSize));
      if (continueToken) url.searchParams.set("continue", continueToken);
      const response = await request(
        url,
        AbortSignal.any([stopping.signal, AbortSignal.timeout(requestTimeoutMs * 2)]),
      );
      if (response.status === 410 && continueToken !== undefined) {
        // 410 Gone on a continue token: the snapshot it pages through was compacted. Page again
        // from the start; what was delivered is delivered again, and onListed only sees a
        // complete set, so no baseline is wiped by half a list.
        await response.body?.cancel();
        restarts += 1;
        if (restarts > MAX_LIST_RESTARTS) {
          throw new HttpError(
            410,
            `listing ${options.path}: continue token expired ${restarts} times`,
          );
        }
        log.info({ path: options.path, restarts }, "list continue token expired; paging again");
        continueToken = undefined;
        uids.clear();
        continue;
      }
      if (!response.ok) {
        throw new HttpError(
          response.status,
          `listing ${options.path}: ${response.status} ${(await response.text()).slice(0, 300)}`,
        );
      }
      // Parsed page by page and reduced by the handlers, so a 100k-pod list never sits whole.
      const bytes = Buffer.from(await response.arrayBuffer());
      const page = JSON.parse(bytes.toString("utf8")) as {
        metadata?: { continue?: string; resourceVersion?: string };
        items?: unknown[];
      };
      const itemUids: Array<string | undefined> = [];
      for (const item of page.items ?? []) {
        const { uid } = metadataOf(item);
        if (uid) uids.add(uid);
        itemUids.push(uid);
        deliver("ADDED", item, true);
      }
      options.lineFilter?.seedList?.(bytes, itemUids);
      continueToken = page.metadata?.continue || undefined;
      listVersion = page.metadata?.resourceVersion ?? listVersion;
      if (continueToken === undefined) break;
    }
    try {
      options.handlers.onListed?.(uids);
    } catch (err) {
      log.error({ err }, "list handler failed");
    }
    return listVersion;
  }

  function handleLine(line: string): void {
    let event: { type?: unknown; object?: unknown };
    try {
      event = JSON.parse(line) as typeof event;
    } catch (err) {
      log.warn({ err, path: options.path }, "unreadable watch event skipped");
      return;
    }
    if (event.type === "ERROR") {
      const code = (event.object as { code?: number } | null)?.code;
      // 410 Gone: the resourceVersion was compacted; relist.
      if (code === 410) throw new GoneError();
      throw new HttpError(code ?? 500, `watch error: ${JSON.stringify(event.object)}`);
    }
    const { resourceVersion: next } = metadataOf(event.object);
    if (next) resourceVersion = next;
    if (event.type === "BOOKMARK") return;
    if (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED") {
      healthy = true;
      deliver(event.type, event.object, false);
    }
  }

  function handleLineBytes(bytes: Buffer, start: number, end: number): void {
    while (start < end && bytes[start]! <= 0x20) start += 1;
    if (start === end) return;
    const inspection = options.lineFilter?.inspect(bytes, start, end);
    if (inspection) {
      resourceVersion = inspection.resourceVersion;
      healthy = true;
      if (inspection.unchanged) return;
    }
    handleLine(bytes.toString("utf8", start, end));
  }

  // A line cut by a chunk boundary is assembled here, in one buffer reused for every such line
  // (a third of the lines at 5 KB a pod and 16 KB a frame): no allocation per line.
  let spill = Buffer.allocUnsafe(64 * 1024);
  let spilled = 0;
  const keep = (bytes: Buffer, from: number, to: number) => {
    const needed = spilled + (to - from);
    if (needed > spill.length) {
      const larger = Buffer.allocUnsafe(Math.max(needed, spill.length * 2));
      spill.copy(larger, 0, 0, spilled);
      spill = larger;
    }
    bytes.copy(spill, spilled, from, to);
    spilled = needed;
  };

  /** Handles the chunk's complete lines; its unfinished tail waits for the next chunk. */
  function handleChunk(chunk: Buffer): void {
    let start = 0;
    let newline = chunk.indexOf(NEWLINE);
    if (spilled > 0 && newline >= 0) {
      keep(chunk, 0, newline);
      const length = spilled;
      spilled = 0;
      handleLineBytes(spill, 0, length);
      start = newline + 1;
      newline = chunk.indexOf(NEWLINE, start);
    }
    while (newline >= 0) {
      handleLineBytes(chunk, start, newline);
      start = newline + 1;
      newline = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) keep(chunk, start, chunk.length);
  }

  async function watchFrom(version: string): Promise<void> {
    const timeoutS = Math.round(watchTimeoutS * (1 + Math.random() * 0.2));
    const url = collectionUrl();
    url.searchParams.set("watch", "true");
    url.searchParams.set("resourceVersion", version);
    url.searchParams.set("allowWatchBookmarks", "true");
    url.searchParams.set("timeoutSeconds", String(timeoutS));
    const controller = new AbortController();
    abort = controller;
    if (stopped) return;
    let connected = false;
    let timedOut = false;
    let watchdog: NodeJS.Timeout | undefined;
    let armedMs = 0;
    const arm = (ms: number) => {
      // Once a chunk, tens of thousands a second: restart the same timer, do not make one.
      if (watchdog !== undefined && armedMs === ms) {
        watchdog.refresh();
        return;
      }
      clearTimeout(watchdog);
      armedMs = ms;
      watchdog = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, ms);
    };
    arm(requestTimeoutMs);
    try {
      const response = await http.request(`${url.pathname}${url.search}`, {
        signal: controller.signal,
        // The watchdog bounds the wait for headers and the silence between chunks.
        timeoutMs: 0,
        bodyTimeoutMs: 0,
      });
      if (response.statusCode !== 200) {
        const text = (await response.body.text()).slice(0, 300);
        if (response.statusCode === 410) throw new GoneError();
        throw new HttpError(
          response.statusCode,
          `watching ${options.path}: ${response.statusCode} ${text}`,
        );
      }
      connected = true;
      healthy = true;
      // The server closes the watch after timeoutS; silence well past that is a dead connection.
      const silenceMs = timeoutS * 1000 + stallGraceMs;
      arm(silenceMs);
      spilled = 0;
      for await (const chunk of response.body) {
        arm(silenceMs);
        handleChunk(chunk as Buffer);
        const behind = options.handlers.whenCaughtUp?.();
        if (behind) {
          // Waiting on the consumer is not silence from the server.
          clearTimeout(watchdog);
          watchdog = undefined;
          await Promise.race([behind, aborted(controller.signal)]);
          if (controller.signal.aborted) break;
          arm(silenceMs);
        }
      }
      if (spilled > 0) {
        const length = spilled;
        spilled = 0;
        handleLineBytes(spill, 0, length);
      }
    } catch (error) {
      if (stopped) return;
      if (timedOut) {
        throw connected
          ? new StallError(`watching ${options.path}: silent past the server's timeout`)
          : new Error(`watching ${options.path}: no answer within ${requestTimeoutMs} ms`);
      }
      throw error;
    } finally {
      clearTimeout(watchdog);
      abort = undefined;
    }
  }

  async function sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = undefined;
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      try {
        if (resourceVersion === undefined) {
          resourceVersion = await list();
          healthy = true;
          firstList?.resolve();
          firstList = undefined;
        }
        await watchFrom(resourceVersion);
        failures = 0;
      } catch (error) {
        if (stopped) break;
        options.onReconnect();
        if (error instanceof GoneError) {
          log.info({ path: options.path }, "watch expired (410 Gone); relisting");
          resourceVersion = undefined;
          continue;
        }
        if (error instanceof StallError) {
          // The watchdog: the connection died without a word. Resume at once; if the API
          // server is really gone, the next attempt fails and backs off.
          log.warn({ path: options.path }, "watch went silent; reconnecting");
          continue;
        }
        healthy = false;
        failures += 1;
        firstList?.resolve();
        firstList = undefined;
        const backoff = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.min(failures - 1, 10));
        const delay = backoff / 2 + Math.random() * (backoff / 2);
        log.warn(
          { err: error, path: options.path, failures, retryInMs: Math.round(delay) },
          "watch failed; retrying",
        );
        await sleep(delay);
      }
    }
  }

  return {
    /** Resolves once the first list is in, or the first failure happened: the loop goes on. */
    async start(): Promise<void> {
      loop = run();
      const first = firstList?.promise;
      if (first) await Promise.race([first, loop]);
    },
    async stop(): Promise<void> {
      stopped = true;
      stopping.abort();
      abort?.abort();
      wake?.();
      firstList?.resolve();
      await loop;
    },
    isHealthy: () => healthy && !stopped,
  };
}

export type SupervisedWatch = ReturnType<typeof createSupervisedWatch>;
