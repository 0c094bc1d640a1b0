import * as clients from "@restatedev/restate-sdk-clients";

import type { RemoteConfigInput } from "../../src/model/remote-config.ts";
import type { ClusterObject } from "../../workflows/cluster.object.ts";
import type { IncidentState } from "../../workflows/incident.object.ts";
import type { RestateHarness } from "../harness/restate-server.ts";

export async function incidents(
  restate: RestateHarness,
  cluster: string,
): Promise<IncidentState[]> {
  const rows = await restate.query<{ value_utf8: string }>(
    `SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND key = 'incident' AND service_key LIKE '${cluster}:%'`,
  );
  return rows.map((row) => JSON.parse(row.value_utf8) as IncidentState);
}

export async function incidentsFor(
  restate: RestateHarness,
  cluster: string,
  namespace: string,
  pod?: string,
) {
  return (await incidents(restate, cluster)).filter(
    (incident) =>
      incident.namespace === namespace && (pod === undefined || incident.lastEvent.pod === pod),
  );
}

export async function setConfig(
  restate: RestateHarness,
  cluster: string,
  config: RemoteConfigInput,
): Promise<number> {
  const ingress = clients.connect({ url: restate.ingressUrl });
  const answer = await ingress
    .objectClient<ClusterObject>({ name: "Cluster" }, cluster)
    .setConfig({ config, author: "test" });
  return answer.version;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
