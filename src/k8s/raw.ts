import type { KubeConfig } from "@kubernetes/client-node";

import { kubeHttpFor } from "./kube-http.ts";

/** A GET that returns the raw JSON (no class instances, no Date parsing); undefined on 404. */
export async function getRaw(kc: KubeConfig, path: string, timeoutMs = 15_000): Promise<unknown> {
  return kubeHttpFor(kc).getJson(path, { timeoutMs });
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
