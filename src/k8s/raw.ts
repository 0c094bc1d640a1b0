import { ApiException, RequestContext, type KubeConfig } from "@kubernetes/client-node";
import { fetch } from "undici";

/** A GET that returns the raw JSON (no class instances, no Date parsing); undefined on 404. */
export async function getRaw(kc: KubeConfig, path: string, timeoutMs = 15_000): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const url = `${cluster.server}${path}`;
  const context = new RequestContext(url, "GET");
  await kc.applySecurityAuthentication(context);
  const response = await fetch(url, {
    headers: context.getHeaders(),
    dispatcher: context.getDispatcher(),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (response.status === 404) return undefined;
  if (!response.ok)
    throw new ApiException(response.status, `GET ${path}`, await response.text(), {});
  return response.json();
}

const PLURALS: Record<string, string> = {
  ReplicaSet: "replicasets",
  Deployment: "deployments",
  StatefulSet: "statefulsets",
  DaemonSet: "daemonsets",
  Job: "jobs",
  CronJob: "cronjobs",
  ReplicationController: "replicationcontrollers",
};

/** The REST path of a namespaced object named by an owner reference. */
export function objectPath(
  apiVersion: string,
  kind: string,
  namespace: string,
  name: string,
): string {
  const plural = PLURALS[kind] ?? `${kind.toLowerCase()}s`;
  const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}`;
}
