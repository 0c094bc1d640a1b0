import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  type KubeConfig,
  type RequestContext,
} from "@kubernetes/client-node";
import type { Readable } from "node:stream";

import { openPodLogStream, type LogRequest } from "./logs.ts";

/** Everything the capture steps need of Kubernetes, behind one seam that tests can point anywhere. */
export type KubeAccess = {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  networking: NetworkingV1Api;
  custom: CustomObjectsApi;
  openLog(request: LogRequest): Promise<Readable>;
};

/**
 * client-node 2.x builds a new undici Agent for every call, so every call pays a TLS handshake
 * (a large share of a capture's CPU on a small node). After the first call this config hands out
 * one shared Agent: connections are kept alive and reused. Credentials are still applied per call
 * (bearer tokens are headers, read fresh); only the TLS settings of the first call are kept.
 */
function shareDispatcher(kc: KubeConfig): KubeConfig {
  const apply = kc.applySecurityAuthentication.bind(kc);
  let shared: ReturnType<RequestContext["getDispatcher"]>;
  kc.applySecurityAuthentication = async (context: RequestContext) => {
    await apply(context);
    const own = context.getDispatcher();
    if (!own) return;
    shared ??= own;
    if (own !== shared) context.setDispatcher(shared);
  };
  return kc;
}

export function createKubeAccess(config: KubeConfig): KubeAccess {
  const kc = shareDispatcher(config);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    batch: kc.makeApiClient(BatchV1Api),
    networking: kc.makeApiClient(NetworkingV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    openLog: (request) => openPodLogStream(kc, request),
  };
}
