import * as clients from "@restatedev/restate-sdk-clients";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { PodmortemError } from "../src/errors.ts";
import { queryRestate, type AdminSettings } from "../src/restate/admin.ts";
import { describeFailure } from "./failures.ts";

/** Where the CLI finds Restate and which cluster it speaks of: flags first, then environment. */
export const CONNECTION_OPTIONS = {
  "restate-url": { type: "string" },
  "admin-url": { type: "string" },
  cluster: { type: "string" },
  json: { type: "boolean", default: false },
} as const;

export type ConnectionValues = {
  "restate-url"?: string | undefined;
  "admin-url"?: string | undefined;
  cluster?: string | undefined;
};

export function connectionFrom(values: ConnectionValues) {
  const ingressUrl =
    values["restate-url"] ?? process.env.PODMORTEM_RESTATE_URL ?? "http://localhost:8080";
  const adminUrl = values["admin-url"] ?? process.env.RESTATE_ADMIN_URL ?? "http://localhost:9070";
  const cluster = values.cluster ?? process.env.PODMORTEM_CLUSTER_NAME ?? "dev";
  const token = process.env.PODMORTEM_RESTATE_AUTH_TOKEN;
  const ingress = clients.connect({
    url: ingressUrl,
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
  const admin: AdminSettings = { adminUrl, authToken: process.env.RESTATE_ADMIN_TOKEN };
  return { ingress, admin, cluster, ingressUrl };
}

export const CONNECTION_USAGE =
  "  --cluster NAME       the enrolled cluster ($PODMORTEM_CLUSTER_NAME, default dev)\n" +
  "  --restate-url URL    Restate ingress ($PODMORTEM_RESTATE_URL, default http://localhost:8080)\n" +
  "  --admin-url URL      Restate admin API ($RESTATE_ADMIN_URL, default http://localhost:9070)\n" +
  "  --json               machine-readable output";

/** Columns padded to their widest cell. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/**
 * The kubeconfig a command uses: --kubeconfig, else $KUBECONFIG, else ~/.kube/config; in a pod
 * none is needed. A file that is not there is a missing prerequisite (exit 4), said at once
 * instead of as a connection error to client-node's fallback, localhost:8080.
 */
export function kubeconfigPathFor(flag: string | undefined): string | undefined {
  const named = flag ?? process.env.KUBECONFIG;
  if (named) {
    const files = named.split(path.delimiter).filter(Boolean);
    const missing = files.find((file) => !existsSync(file));
    if (missing)
      throw new PodmortemError(
        "PREREQUISITE_MISSING",
        `no kubeconfig at ${missing} (from ${flag ? "--kubeconfig" : "$KUBECONFIG"})`,
      );
    return named;
  }
  const home = path.join(os.homedir(), ".kube", "config");
  if (existsSync(home) || process.env.KUBERNETES_SERVICE_HOST) return undefined;
  throw new PodmortemError(
    "PREREQUISITE_MISSING",
    `no kubeconfig: pass --kubeconfig PATH or set KUBECONFIG (${home} does not exist)`,
  );
}

/** Awaits an ingress client's answer; a failure becomes one sentence. */
export async function callRestate<T>(request: PromiseLike<T>, ingressUrl: string): Promise<T> {
  try {
    return await request;
  } catch (error) {
    throw restateFailure(error, ingressUrl);
  }
}

/** A failed call to Restate's ingress as one sentence: refused (exit 3) or not answering (4). */
export function restateFailure(error: unknown, ingressUrl: string): PodmortemError {
  if (error instanceof PodmortemError) return error;
  const failure = describeFailure(error);
  if (failure.exit === 3) return new PodmortemError("INPUT_INVALID", failure.message);
  return new PodmortemError(
    "RESTATE_UNAVAILABLE",
    `Restate at ${ingressUrl} is not answering (${failure.message}): is podmortem running ` +
      "(podmortem dev), or is --restate-url / $PODMORTEM_RESTATE_URL wrong?",
    { cause: error },
  );
}

export function unknownCluster(cluster: string): PodmortemError {
  return new PodmortemError(
    "INPUT_INVALID",
    `cluster "${cluster}" is unknown: no watcher enrolled it and it has no config or audit log ` +
      "(check --cluster / $PODMORTEM_CLUSTER_NAME)",
  );
}

/** Through the admin API: a cluster is known when its Cluster object or audit log holds state. */
export async function requireKnownCluster(admin: AdminSettings, cluster: string): Promise<void> {
  const name = `'${cluster.replaceAll("'", "''")}'`;
  const rows = await queryRestate(
    admin,
    `SELECT service_key FROM state WHERE service_name IN ('Cluster', 'AuditLog') AND service_key = ${name} LIMIT 1`,
  );
  if (rows.length === 0) throw unknownCluster(cluster);
}
