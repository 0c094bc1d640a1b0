import { createHash } from "node:crypto";
import { z } from "zod";

/**
 * An on-demand capture is asked for on the pod itself, where the API server authenticates and
 * authorizes the asker (only someone allowed to patch the pod can write it); what reaches
 * Restate's ingress is only a pointer to it, which the Capture workflow checks against the pod.
 */
export const CAPTURE_REQUEST_ANNOTATION = "forensic.io/capture-request";

/** How old a request may be when the workflow reads it: a replayed pointer is not honoured later. */
export const REQUEST_MAX_AGE_S = 15 * 60;
/** Clock skew allowed between the asker's machine and the workflows. */
export const REQUEST_MAX_SKEW_S = 5 * 60;

/** Where `requestedBy` came from: the API server's own answer, or the kubeconfig's names. */
export const IDENTITY_SOURCES = ["SelfSubjectReview", "kubeconfig"] as const;
export type IdentitySource = (typeof IDENTITY_SOURCES)[number];

const REQUEST_ID = /^[0-9a-f]{32}$/;
const DNS_LABELISH = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const k8sName = z.string().min(1).max(253).regex(DNS_LABELISH, "must be a Kubernetes object name");

/** The annotation's value (JSON). */
export const captureRequestSchema = z.strictObject({
  id: z.string().regex(REQUEST_ID, "must be 32 lowercase hex characters"),
  container: z.string().min(1).max(63),
  checkpoint: z.boolean(),
  copy: z.boolean(),
  requestedBy: z
    .string()
    .min(1)
    .max(512)
    .refine(
      (value) => ![...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
      "must not hold control characters",
    ),
  identitySource: z.enum(IDENTITY_SOURCES),
  requestedAt: z.iso.datetime({ offset: true }),
});
export type CaptureRequestAnnotation = z.infer<typeof captureRequestSchema>;

/** What crosses Restate's ingress: which pod to look at and which request to find there. */
export const captureClaimSchema = z.strictObject({
  cluster: z.string().min(1).max(63),
  namespace: k8sName,
  pod: k8sName,
  podUID: z.string().min(1).max(64),
  requestId: z.string().regex(REQUEST_ID, "must be 32 lowercase hex characters"),
});
export type CaptureClaim = z.infer<typeof captureClaimSchema>;

/**
 * The capture's id, from everything the claim names: the same request is one capture (a resent
 * pointer attaches to it), and a forged pointer with another UID or pod cannot take its key.
 */
export function onDemandCaptureId(claim: CaptureClaim): string {
  const digest = createHash("sha256")
    .update([claim.cluster, claim.namespace, claim.pod, claim.podUID, claim.requestId].join("\0"))
    .digest("hex");
  return `pm-od-${digest.slice(0, 24)}`;
}

/** What custody.json, report.json and the status say about why a capture ran. */
export type CaptureTrigger =
  | { kind: "crash" }
  | {
      kind: "on-demand";
      requestId: string;
      requestedBy: string;
      identitySource: IdentitySource;
      requestedAt: string;
    };

export const captureTriggerSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("crash") }),
  z.strictObject({
    kind: z.literal("on-demand"),
    requestId: z.string().max(64),
    requestedBy: z.string().max(512),
    identitySource: z.enum(IDENTITY_SOURCES),
    requestedAt: z.string().max(64),
  }),
]);

/** The reason an on-demand capture's PodEvent carries: there was no crash. */
export const ON_DEMAND_REASON = "OnDemand";
