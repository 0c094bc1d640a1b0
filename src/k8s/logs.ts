import { ApiException, type KubeConfig } from "@kubernetes/client-node";
import type { Readable } from "node:stream";

import { kubeHttpFor } from "./kube-http.ts";

export type LogRequest = {
  namespace: string;
  pod: string;
  container: string;
  previous: boolean;
  tailLines?: number | undefined;
  limitBytes?: number | undefined;
};

/**
 * Streams a container log from the API server. client-node's Log pipes into a Writable and hides
 * the status of a failed request; a Readable lets the evidence store hash the bytes as they pass.
 */
export async function openPodLogStream(kc: KubeConfig, request: LogRequest): Promise<Readable> {
  const path = `/api/v1/namespaces/${encodeURIComponent(request.namespace)}/pods/${encodeURIComponent(request.pod)}/log`;
  const response = await kubeHttpFor(kc).request(path, {
    query: {
      container: request.container,
      previous: request.previous,
      tailLines: request.tailLines,
      limitBytes: request.limitBytes,
    },
    // A log streams for as long as it is long; only a stalled one is cut.
    timeoutMs: 0,
    bodyTimeoutMs: 120_000,
  });
  if (response.statusCode !== 200) {
    const body = await response.body.text();
    throw new ApiException(
      response.statusCode,
      `reading the log of ${request.pod}/${request.container}`,
      body,
      {},
    );
  }
  return response.body;
}
