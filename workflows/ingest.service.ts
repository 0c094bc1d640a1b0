import * as restate from "@restatedev/restate-sdk";

import { podEventBatchSchema, type PodEvent } from "../src/model/pod-event.ts";
import { describeProblems, validate } from "../src/model/validation.ts";
import { Cluster } from "./cluster.object.ts";
import { Incident, incidentKey } from "./incident.object.ts";
import type { WorkflowMetrics } from "./metrics.ts";

export type BatchAnswer = { accepted: number };

export function createIngestService(metrics: WorkflowMetrics) {
  return restate.service({
    name: "Ingest",
    handlers: {
      batch: async (ctx: restate.Context, input: unknown): Promise<BatchAnswer> => {
        const result = validate(podEventBatchSchema, input);
        if (!result.ok) {
          throw new restate.TerminalError(`invalid batch: ${describeProblems(result.problems)}`, {
            errorCode: 400,
          });
        }
        const { events } = result.value;
        const windows = new Map<string, number>();
        for (const cluster of new Set(events.map((event) => event.cluster))) {
          const record = await ctx.objectClient(Cluster, cluster).captureConfig();
          windows.set(cluster, record.config.capture.rateLimitWindowS);
        }
        for (const event of events) {
          ctx
            .objectSendClient(Incident, incidentKey(event))
            .record(
              { event, rateLimitWindowS: windows.get(event.cluster) },
              restate.rpc.sendOpts({ idempotencyKey: event.id }),
            );
        }
        await ctx.run("count crashes", () => countCrashes(metrics, events));
        return { accepted: events.length };
      },
    },
  });
}

function countCrashes(metrics: WorkflowMetrics, events: readonly PodEvent[]): void {
  for (const event of events) {
    metrics.crashes.inc({ namespace: event.namespace, reason: event.reason }, 1 + event.suppressed);
  }
}

export type IngestService = ReturnType<typeof createIngestService>;
