import * as clients from "@restatedev/restate-sdk-clients";

import type { AdminSettings } from "../src/restate/admin.ts";

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
