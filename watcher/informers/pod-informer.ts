import { CoreV1Api, makeInformer, type KubeConfig, type V1Pod } from "@kubernetes/client-node";

import type { Logger } from "../../src/logging.ts";

export type PodInformerHooks = {
  onPod(pod: V1Pod): void;
  onRestart(): void;
};

const RESTART_DELAY_MS = 2000;

/** All pods of the cluster; client-node's informer stops on an error, so it is restarted. */
export function createPodInformer(kc: KubeConfig, log: Logger, hooks: PodInformerHooks) {
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces());
  let stopped = false;
  let started = false;
  const safely = (pod: V1Pod) => {
    try {
      hooks.onPod(pod);
    } catch (err) {
      log.error({ err, pod: pod.metadata?.name }, "pod handler failed");
    }
  };
  informer.on("add", safely);
  informer.on("update", safely);
  informer.on("error", (err: unknown) => {
    started = false;
    if (stopped) return;
    log.warn({ err }, "pod watch failed; restarting");
    hooks.onRestart();
    setTimeout(() => {
      if (stopped) return;
      informer.start().then(
        () => (started = true),
        (error: unknown) => log.warn({ err: error }, "pod watch restart failed"),
      );
    }, RESTART_DELAY_MS).unref();
  });
  return {
    async start() {
      await informer.start();
      started = true;
    },
    async stop() {
      stopped = true;
      await informer.stop();
    },
    isWatching: () => started,
  };
}
