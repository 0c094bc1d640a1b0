import { ApiException } from "@kubernetes/client-node";

import type { KubeAccess } from "./kube-access.ts";

export type CheckpointResult = { archivePath: string; node: string };

/**
 * Asks the kubelet directly for a checkpoint (KEP-2008): authorized as `nodes/checkpoint`,
 * far narrower than going through the API server's node proxy (`nodes/proxy`).
 */
export async function checkpointContainer(
  kube: KubeAccess,
  input: {
    node: string;
    namespace: string;
    pod: string;
    container: string;
    timeoutS: number;
    insecureSkipTlsVerify?: boolean;
  },
): Promise<CheckpointResult> {
  const node = await kube.core.readNode({ name: input.node });
  const address =
    node.status?.addresses?.find((a) => a.type === "InternalIP")?.address ??
    node.status?.addresses?.[0]?.address;
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 10250;
  if (!address) throw new ApiException(404, `node ${input.node} has no address`, "", {});
  const host = address.includes(":") ? `[${address}]` : address;
  const url = `https://${host}:${port}/checkpoint/${encodeURIComponent(input.namespace)}/${encodeURIComponent(input.pod)}/${encodeURIComponent(input.container)}?timeout=${input.timeoutS}`;
  const response = await kube.http.requestKubelet(url, {
    method: "POST",
    insecureSkipTlsVerify: input.insecureSkipTlsVerify === true,
    timeoutMs: (input.timeoutS + 30) * 1000,
  });
  const body = await response.body.text();
  if (response.statusCode >= 300) {
    const hint =
      response.statusCode === 404
        ? " (the ContainerCheckpoint feature gate is off, or the container is not running)"
        : response.statusCode === 403
          ? " (RBAC: the workflows need nodes/checkpoint)"
          : "";
    throw new ApiException(
      response.statusCode,
      `kubelet checkpoint answered ${response.statusCode}${hint}: ${body.slice(0, 300)}`,
      body,
      {},
    );
  }
  const items = (JSON.parse(body) as { items?: string[] }).items ?? [];
  const archivePath = items[0];
  if (!archivePath)
    throw new ApiException(500, "kubelet checkpoint answered without an archive path", body, {});
  return { archivePath, node: input.node };
}
