import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  type KubeConfig,
} from "@kubernetes/client-node";
import type { Readable } from "node:stream";

import { kubeHttpFor, type KubeHttp } from "./kube-http.ts";
import { openPodLogStream, type LogRequest } from "./logs.ts";

/** Everything the capture steps need of Kubernetes, behind one seam that tests can point anywhere. */
export type KubeAccess = {
  kc: KubeConfig;
  /** The one connection per endpoint every call below goes through. */
  http: KubeHttp;
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  networking: NetworkingV1Api;
  custom: CustomObjectsApi;
  openLog(request: LogRequest): Promise<Readable>;
};

export function createKubeAccess(kc: KubeConfig): KubeAccess {
  const http = kubeHttpFor(kc);
  return {
    kc,
    http,
    core: http.apiClient(CoreV1Api),
    apps: http.apiClient(AppsV1Api),
    batch: http.apiClient(BatchV1Api),
    networking: http.apiClient(NetworkingV1Api),
    custom: http.apiClient(CustomObjectsApi),
    openLog: (request) => openPodLogStream(kc, request),
  };
}
