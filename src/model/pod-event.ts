import { z } from "zod";

const HEX64 = /^[0-9a-f]{64}$/;
const MAX_MESSAGE_CHARS = 4096;
/** More than a cooldown of folded repeats could hold (1,000 replicas crashing every 10 s for a day). */
export const MAX_SUPPRESSED = 10_000_000;
const DNS_LABELISH = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export const CONTAINER_TYPES = ["init", "regular", "ephemeral"] as const;
export type ContainerType = (typeof CONTAINER_TYPES)[number];

export const WORKLOAD_KINDS = [
  "Deployment",
  "StatefulSet",
  "DaemonSet",
  "Job",
  "CronJob",
  "ReplicaSet",
  "ReplicationController",
  "Pod",
] as const;

const isoTimestamp = z.iso.datetime({ offset: true });
const k8sName = z.string().min(1).max(253).regex(DNS_LABELISH, "must be a Kubernetes object name");

export const workloadRefSchema = z.strictObject({
  kind: z.string().min(1).max(63),
  name: k8sName,
});
export type WorkloadRef = z.infer<typeof workloadRefSchema>;

export const podEventSchema = z.strictObject({
  id: z.string().regex(HEX64, "must be a 64-character lowercase hex SHA-256"),
  cluster: z.string().min(1).max(63),
  namespace: k8sName,
  pod: k8sName,
  podUID: z.string().min(1).max(64),
  node: z.string().max(253).nullable(),
  workload: workloadRefSchema,
  container: z.string().min(1).max(63),
  containerType: z.enum(CONTAINER_TYPES),
  image: z.string().max(1024),
  imageID: z.string().max(1024),
  reason: z.string().min(1).max(128),
  exitCode: z.int().nullable(),
  signal: z.int().nullable(),
  message: z.string().max(MAX_MESSAGE_CHARS),
  // For a termination, the restartCount of the instance that ended: it proves that many
  // earlier terminations of the container, which is what Incident counts from.
  restartCount: z.int().min(0),
  startedAt: isoTimestamp.nullable(),
  finishedAt: isoTimestamp.nullable(),
  observedAt: isoTimestamp,
  projectId: z.string().max(253).nullable(),
  workloadId: z.string().max(253).nullable(),
  signature: z.string().regex(HEX64, "must be a 64-character lowercase hex SHA-256"),
  // Earlier terminations of this container the event stands for (folded repeats, or instances
  // no watcher saw): a claim, which Incident bounds by restartCount and its high-water mark, and
  // this schema bounds outright, so a forged count is refused at the boundary.
  suppressed: z.int().min(0).max(MAX_SUPPRESSED),
});
export type PodEvent = z.infer<typeof podEventSchema>;

export const MAX_BATCH_EVENTS = 1000;

export const podEventBatchSchema = z.strictObject({
  events: z.array(podEventSchema).min(1).max(MAX_BATCH_EVENTS),
});
export type PodEventBatch = z.infer<typeof podEventBatchSchema>;

export function truncateMessage(message: string): string {
  return message.length > MAX_MESSAGE_CHARS ? message.slice(0, MAX_MESSAGE_CHARS) : message;
}
