import { RequestContext, Watch, type KubeConfig } from "@kubernetes/client-node";
import { fetch } from "undici";

import { toError } from "../../src/errors.ts";
import type { Logger } from "../../src/logging.ts";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export type WatchHandlers = {
  onObject(type: WatchEventType, raw: unknown, fromList: boolean): void;
  /** After a complete (re)list: the uids it held, so state for objects gone meanwhile can go. */
  onListed?(uids: ReadonlySet<string>): void;
};

export type SupervisedWatchOptions = {
  kc: KubeConfig;
  /** Collection path, e.g. `/api/v1/pods` or `/api/v1/namespaces/shop/pods`. */
  path: string;
  labelSelector?: string | undefined;
  log: Logger;
  handlers: WatchHandlers;
  onReconnect: () => void;
  pageSize?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** The server ends a watch after this many seconds; a fresh one resumes from the last version. */
  watchTimeoutS?: number;
};

class GoneError extends Error {
  constructor() {
    super("410 Gone: the resourceVersion was compacted");
  }
}

/** The watch request got no answer in time: the API server is unreachable, not merely quiet. */
class ConnectTimeoutError extends Error {
  constructor(path: string) {
    super(`watching ${path}: no response from the API server`);
  }
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const isTimeout = (error: unknown) => error instanceof Error && error.name === "TimeoutError";

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
 * List, then watch from the list's resourceVersion, forever: resumes from the last version seen
 * after a normal close, relists on 410 Gone, backs off with jitter after errors, and never lets
 * a handler's exception escape. client-node's informer stops for good on most errors instead.
 */
export function createSupervisedWatch(options: SupervisedWatchOptions) {
  const pageSize = options.pageSize ?? 500;
  const initialBackoffMs = options.initialBackoffMs ?? 500;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const watchTimeoutS = options.watchTimeoutS ?? 290;
  const log = options.log;
  const watch = new Watch(options.kc);
  let stopped = false;
  let healthy = false;
  let resourceVersion: string | undefined;
  let abort: AbortController | undefined;
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

  async function list(): Promise<string> {
    const uids = new Set<string>();
    let continueToken: string | undefined;
    let listVersion = "";
    do {
      const url = new URL(`${options.kc.getCurrentCluster()!.server}${options.path}`);
      url.searchParams.set("limit", String(pageSize));
      if (continueToken) url.searchParams.set("continue", continueToken);
      if (options.labelSelector) url.searchParams.set("labelSelector", options.labelSelector);
      const context = new RequestContext(url.toString(), "GET");
      await options.kc.applySecurityAuthentication(context);
      const response = await fetch(url, {
        headers: context.getHeaders(),
        dispatcher: context.getDispatcher(),
        signal: AbortSignal.timeout(60_000),
      });
      if (response.status === 410) {
        // The continue token expired mid-list: start the list again.
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
      const page = (await response.json()) as {
        metadata?: { continue?: string; resourceVersion?: string };
        items?: unknown[];
      };
      for (const item of page.items ?? []) {
        const { uid } = metadataOf(item);
        if (uid) uids.add(uid);
        deliver("ADDED", item, true);
      }
      continueToken = page.metadata?.continue || undefined;
      listVersion = page.metadata?.resourceVersion ?? listVersion;
    } while (continueToken);
    try {
      options.handlers.onListed?.(uids);
    } catch (err) {
      log.error({ err }, "list handler failed");
    }
    return listVersion;
  }

  function watchFrom(version: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let gone = false;
      let connected = false;
      let ended = false;
      watch
        .watch(
          options.path,
          {
            resourceVersion: version,
            allowWatchBookmarks: true,
            timeoutSeconds: watchTimeoutS,
            ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
          },
          (type: string, raw: unknown) => {
            if (type === "ERROR") {
              const code = (raw as { code?: number } | null)?.code;
              if (code === 410) gone = true;
              return;
            }
            const { resourceVersion: next } = metadataOf(raw);
            if (next) resourceVersion = next;
            if (type === "BOOKMARK") return;
            healthy = true;
            deliver(type as WatchEventType, raw, false);
          },
          (err: unknown) => {
            ended = true;
            abort = undefined;
            if (gone) reject(new GoneError());
            else if (isTimeout(err) && !connected) reject(new ConnectTimeoutError(options.path));
            else if (err) reject(toError(err));
            else resolve();
          },
        )
        .then((controller) => {
          // Resolves once the response headers are in (or after a failure already reported).
          connected = !ended;
          abort = controller;
          if (stopped) controller.abort();
        }, reject);
    });
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
        // The watchdog: client-node ends a watch that was silent for 30 s (a stalled connection
        // looks the same as a quiet one); resuming from the last version is cheap.
        if (isTimeout(error)) continue;
        options.onReconnect();
        if (error instanceof GoneError) {
          log.info({ path: options.path }, "watch expired (410 Gone); relisting");
          resourceVersion = undefined;
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
      abort?.abort();
      wake?.();
      firstList?.resolve();
      await loop;
    },
    isHealthy: () => healthy && !stopped,
  };
}

export type SupervisedWatch = ReturnType<typeof createSupervisedWatch>;
