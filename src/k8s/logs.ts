import { ApiException, RequestContext, type KubeConfig } from "@kubernetes/client-node";
import { Readable } from "node:stream";
import type { ReadableStream } from "node:stream/web";
import { fetch } from "undici";

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
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const url = new URL(
    `${cluster.server}/api/v1/namespaces/${encodeURIComponent(request.namespace)}/pods/${encodeURIComponent(request.pod)}/log`,
  );
  url.searchParams.set("container", request.container);
  url.searchParams.set("previous", String(request.previous));
  if (request.tailLines !== undefined) url.searchParams.set("tailLines", String(request.tailLines));
  if (request.limitBytes !== undefined)
    url.searchParams.set("limitBytes", String(request.limitBytes));
  const context = new RequestContext(url.toString(), "GET");
  await kc.applySecurityAuthentication(context);
  const response = await fetch(url, {
    headers: context.getHeaders(),
    dispatcher: context.getDispatcher(),
  });
  if (response.status !== 200 || !response.body) {
    const body = await response.text();
    throw new ApiException(
      response.status,
      `reading the log of ${request.pod}/${request.container}`,
      body,
      {},
    );
  }
  return Readable.fromWeb(response.body as ReadableStream<Uint8Array>);
}
