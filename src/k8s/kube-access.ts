import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  type KubeConfig,
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

export function createKubeAccess(kc: KubeConfig): KubeAccess {
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
