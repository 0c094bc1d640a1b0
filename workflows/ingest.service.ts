import * as restate from "@restatedev/restate-sdk";

import { podEventBatchSchema, type PodEvent } from "../src/model/pod-event.ts";
import { computeOccurrenceId, computeSignature } from "../src/model/signature.ts";
import { describeProblems, validate } from "../src/model/validation.ts";
import { appendToAudit } from "./audit-inbox.object.ts";
import type { ClusterObject, IngestSettings } from "./cluster.object.ts";
import { Incident, incidentKey } from "./incident.object.ts";
import type { WorkflowMetrics } from "./metrics.ts";

export const REFUSAL_REASONS = [
  "cluster not enrolled",
  "namespace excluded",
  "signature does not match the event",
  "id does not match the event",
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export type BatchAnswer = { accepted: number; refused: number };

/** How many refused events an audit entry names; the rest are counted. */
const REFUSED_SAMPLE = 10;

/**
 * An event is a claim, checked here before anything acts on it: its cluster enrolled, its
 * namespace one the config watches, its signature and id those of its own fields.
 */
export function refusalOf(event: PodEvent, settings: IngestSettings): RefusalReason | undefined {
  if (!settings.enrolled) return "cluster not enrolled";
  const { mode, list, exclude } = settings.namespaces;
  if (exclude.includes(event.namespace) || (mode === "list" && !list.includes(event.namespace)))
    return "namespace excluded";
  if (computeSignature(event) !== event.signature) return "signature does not match the event";
  if (computeOccurrenceId(event) !== event.id) return "id does not match the event";
  return undefined;
}

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
        const settings = new Map<string, IngestSettings>();
        for (const cluster of new Set(events.map((event) => event.cluster))) {
          settings.set(
            cluster,
            await ctx.objectClient<ClusterObject>({ name: "Cluster" }, cluster).ingestSettings(),
          );
        }
        const accepted: PodEvent[] = [];
        const refused = new Map<string, Array<{ event: PodEvent; reason: RefusalReason }>>();
        for (const event of events) {
          const reason = refusalOf(event, settings.get(event.cluster)!);
          if (reason === undefined) accepted.push(event);
          else
            refused.set(event.cluster, [...(refused.get(event.cluster) ?? []), { event, reason }]);
        }
        // Every event counts, but one capture per pod container per batch: a batch naming one
        // pod a thousand times starts one capture (CaptureSlot holds the window after that).
        const capturing = new Set<string>();
        for (const event of accepted) {
          const pod = `${event.cluster}:${event.podUID}:${event.container}`;
          const mayCapture = !capturing.has(pod);
          capturing.add(pod);
          ctx.objectSendClient(Incident, incidentKey(event)).record(
            {
              event,
              rateLimitWindowS: settings.get(event.cluster)!.rateLimitWindowS,
              mayCapture,
            },
            restate.rpc.sendOpts({ idempotencyKey: event.id }),
          );
        }
        // One audit entry per cluster and batch, not one per event: refusals cannot flood it.
        for (const [cluster, items] of refused) {
          const byReason: Record<string, number> = {};
          for (const { reason } of items) byReason[reason] = (byReason[reason] ?? 0) + 1;
          appendToAudit(ctx, {
            kind: "events.refused",
            cluster,
            namespace: null,
            pod: null,
            signature: null,
            captureId: null,
            detail: {
              refused: items.length,
              byReason,
              sample: items.slice(0, REFUSED_SAMPLE).map(({ event, reason }) => ({
                reason,
                id: event.id,
                namespace: event.namespace,
                pod: event.pod,
              })),
            },
          });
        }
        // Crashes are counted by the Incident, which alone knows what an event adds: counting
        // here would count a watcher's claims, not terminations.
        await ctx.run("count refusals", () => {
          for (const items of refused.values())
            for (const { reason } of items) metrics.eventsRefused.inc({ reason });
        });
        return { accepted: accepted.length, refused: events.length - accepted.length };
      },
    },
  });
}

export type IngestService = ReturnType<typeof createIngestService>;
