import { KubeConfig } from "@kubernetes/client-node";
import * as clients from "@restatedev/restate-sdk-clients";
import net from "node:net";

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
  restate: Pick<RestateHarness, "ingressUrl">,
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

/** A TCP relay to the API server that can be made to swallow everything: a hung network. */
export async function startRelay(target: URL) {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const hung = new Set<net.Socket>();
  let blackhole = false;
  const server = net.createServer((client) => {
    client.on("error", () => undefined);
    if (blackhole) {
      hung.add(client);
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    upstream.on("error", () => client.destroy());
    client.pipe(upstream).pipe(client);
    pairs.add([client, upstream]);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    swallow() {
      blackhole = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
      }
    },
    /** New connections go through again; the swallowed ones are closed, as a dead network's are. */
    heal() {
      blackhole = false;
      for (const pair of pairs) {
        pair[0].destroy();
        pair[1].destroy();
      }
      for (const socket of hung) socket.destroy();
      pairs.clear();
      hung.clear();
    },
    close() {
      for (const socket of hung) socket.destroy();
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      server.close();
    },
  };
}

export function throughRelay(base: KubeConfig, port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: base.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${port}` })),
    users: base.users,
    contexts: base.contexts,
    currentContext: base.getCurrentContext(),
  });
  return kc;
}

/** What a watcher does on start: Ingest accepts events only for enrolled clusters. */
export async function enroll(restate: RestateHarness, cluster: string): Promise<void> {
  const ingress = clients.connect({ url: restate.ingressUrl });
  await ingress
    .objectClient<ClusterObject>({ name: "Cluster" }, cluster)
    .enroll({ clusterUID: `${cluster}-uid` });
}
