import * as clients from "@restatedev/restate-sdk-clients";
import { createHash } from "node:crypto";

import type { PodEvent } from "../src/model/pod-event.ts";
import type {
  ClusterObject,
  EnrollmentInput,
  GetConfigAnswer,
} from "../workflows/cluster.object.ts";
import type { IngestService } from "../workflows/ingest.service.ts";

export type RestateLinkSettings = {
  ingressUrl: string;
  authToken: string | undefined;
  requestTimeoutMs: number;
};

/** The same events always make the same key, so a resent batch is accepted once. */
export function batchIdempotencyKey(events: readonly PodEvent[]): string {
  const hash = createHash("sha256");
  for (const event of events) hash.update(event.id).update("\0");
  return hash.digest("hex");
}

export function createRestateLink(settings: RestateLinkSettings) {
  const ingress = clients.connect({
    url: settings.ingressUrl,
    ...(settings.authToken ? { headers: { authorization: `Bearer ${settings.authToken}` } } : {}),
  });
  const ingest = ingress.serviceClient<IngestService>({ name: "Ingest" });
  const cluster = (name: string) => ingress.objectClient<ClusterObject>({ name: "Cluster" }, name);
  const timeout = settings.requestTimeoutMs;

  return {
    async sendBatch(events: PodEvent[]): Promise<string> {
      const idempotencyKey = batchIdempotencyKey(events);
      await ingest.batch({ events }, clients.rpc.opts({ idempotencyKey, timeout }));
      return idempotencyKey;
    },
    async enroll(clusterName: string, enrollment: EnrollmentInput) {
      return cluster(clusterName).enroll(enrollment, clients.rpc.opts({ timeout }));
    },
    async getConfig(
      clusterName: string,
      knownVersion: number | undefined,
    ): Promise<GetConfigAnswer> {
      return cluster(clusterName).getConfig(
        knownVersion === undefined ? {} : { knownVersion },
        clients.rpc.opts({ timeout }),
      );
    },
  };
}

export type RestateLink = ReturnType<typeof createRestateLink>;
