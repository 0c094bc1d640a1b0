import { z } from "zod";

import {
  ALLOW_LIST_FIELD,
  articled,
  parseAllowedDestination,
  parseAllowList,
  refusalOfUrl,
} from "../net/outbound-guard.ts";

export const DEFAULT_REASONS = [
  "CrashLoopBackOff",
  "OOMKilled",
  "Error",
  "ImagePullBackOff",
  "ErrImagePull",
  "CreateContainerError",
  "CreateContainerConfigError",
  "RunContainerError",
  "ContainerStatusUnknown",
  "Evicted",
] as const;

export const NAMESPACE_MODES = ["all", "list", "label"] as const;
export const NOTIFICATION_EVENTS = ["detected", "captured", "failed"] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];
export const SINK_TYPES = ["webhook", "slack"] as const;

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** A value kept in a Kubernetes Secret instead of inline in the config document. */
export const secretRefSchema = z.strictObject({
  namespace: z.string().min(1).optional(),
  name: z.string().min(1),
  key: z.string().min(1),
});
export type SecretRef = z.infer<typeof secretRefSchema>;

const namespaceName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a namespace name");

const namespacesSchema = z
  .strictObject({
    mode: z.enum(NAMESPACE_MODES).default("all"),
    list: z.array(namespaceName).max(10_000).default([]),
    selector: z.string().max(1024).default(""),
    exclude: z.array(namespaceName).max(10_000).default([]),
  })
  .superRefine((value, ctx) => {
    if (value.mode === "list" && value.list.length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["list"],
        message: "mode list needs at least one namespace",
      });
    }
    if (value.mode === "label" && value.selector.trim() === "") {
      ctx.addIssue({
        code: "custom",
        path: ["selector"],
        message: "mode label needs a label selector",
      });
    }
  });

const allowedDestinationSchema = z
  .string()
  .max(300)
  .refine(
    (entry) => parseAllowedDestination(entry) !== undefined,
    "must be HOST, HOST:PORT (a DNS name, an IPv4 address or [IPv6]) or a CIDR block like 10.0.0.0/8",
  );

const sinkSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][-a-z0-9]{0,62}$/, "must be a short lowercase name"),
    type: z.enum(SINK_TYPES),
    url: z.url({ protocol: /^https?$/ }).optional(),
    urlSecretRef: secretRefSchema.optional(),
    hmacSecret: z.string().min(16, "must be at least 16 characters").optional(),
    hmacSecretRef: secretRefSchema.optional(),
    events: z.array(z.enum(NOTIFICATION_EVENTS)).min(1).default(["captured", "failed"]),
    rateLimitS: z.int().min(0).max(86_400).default(300),
  })
  .superRefine((sink, ctx) => {
    const urls = Number(sink.url !== undefined) + Number(sink.urlSecretRef !== undefined);
    if (urls !== 1) {
      ctx.addIssue({
        code: "custom",
        path: ["url"],
        message: "give exactly one of url or urlSecretRef",
      });
    }
    if (sink.hmacSecret !== undefined && sink.hmacSecretRef !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["hmacSecret"],
        message: "give at most one of hmacSecret or hmacSecretRef",
      });
    }
    if (sink.type === "slack" && (sink.hmacSecret ?? sink.hmacSecretRef) !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["hmacSecret"],
        message: "HMAC signing applies to webhook sinks only",
      });
    }
  });
export type NotificationSink = z.infer<typeof sinkSchema>;

export const remoteConfigSchema = z.strictObject({
  detection: z
    .strictObject({
      reasons: z
        .array(z.string().min(1).max(128))
        .min(1)
        .max(100)
        .default([...DEFAULT_REASONS]),
    })
    .prefault({}),
  namespaces: namespacesSchema.prefault({}),
  dedup: z.strictObject({ cooldownS: z.int().min(0).max(86_400).default(300) }).prefault({}),
  batch: z
    .strictObject({
      maxEvents: z.int().min(1).max(1000).default(200),
      flushIntervalMs: z.int().min(10).max(60_000).default(1000),
      queueBound: z.int().min(10).max(1_000_000).default(10_000),
    })
    .prefault({}),
  metadataCache: z
    .strictObject({
      ttlS: z.int().min(1).max(86_400).default(600),
      maxEntries: z.int().min(100).max(1_000_000).default(200_000),
    })
    .prefault({}),
  capture: z
    .strictObject({
      rateLimitWindowS: z
        .int()
        .min(0)
        .max(30 * 86_400)
        .default(3600),
      /** Incident and Notifier state idle this many windows (of the rate limit) is forgotten. */
      forgetAfterIdleWindows: z.int().min(1).max(10_000).default(24),
      steps: z
        .strictObject({
          evidence: z.boolean().default(true),
          snapshots: z.boolean().default(true),
          checkpoint: z.boolean().default(false),
          forensicPod: z.boolean().default(true),
          restartAfterSalvage: z.boolean().default(false),
        })
        .prefault({}),
      logs: z
        .strictObject({
          tailLines: z.int().min(1).max(1_000_000).default(10_000),
          limitBytes: z
            .int()
            .min(1024)
            .max(1 * GIB)
            .default(16 * MIB),
        })
        .prefault({}),
      snapshots: z
        .strictObject({
          className: z.string().min(1).nullable().default(null),
          readyTimeoutS: z.int().min(1).max(3600).default(300),
          restoreAndMount: z.boolean().default(true),
          // Snapshots and restored claims go with the forensic copy at its TTL unless kept.
          keepAfterExpiry: z.boolean().default(false),
        })
        .prefault({}),
      checkpoint: z
        .strictObject({
          maxBytes: z
            .int()
            .min(1)
            .max(64 * GIB)
            .default(4 * GIB),
          deleteFromNode: z.boolean().default(true),
          timeoutS: z.int().min(1).max(3600).default(120),
        })
        .prefault({}),
      forensicPod: z
        .strictObject({
          namespace: namespaceName.nullable().default(null),
          ttlS: z
            .int()
            .min(60)
            .max(30 * 86_400)
            .default(86_400),
        })
        .prefault({}),
      // Safety valve: past either cap a capture still salvages evidence but creates nothing.
      limits: z
        .strictObject({
          forensicCopiesPerNamespace: z.int().min(0).max(1000).default(3),
          capturesPerMinute: z.int().min(1).max(10_000).default(30),
        })
        .prefault({}),
    })
    .prefault({}),
  notifications: z
    .strictObject({
      /**
       * Destinations a sink may reach although they are not on the public internet (loopback,
       * private, link-local, metadata): `HOST`, `HOST:PORT` or a CIDR block. Empty by default.
       */
      allowedDestinations: z.array(allowedDestinationSchema).max(100).default([]),
      sinks: z.array(sinkSchema).max(20).default([]),
    })
    .prefault({})
    .superRefine((value, ctx) => {
      const seen = new Set<string>();
      const allowed = parseAllowList(value.allowedDestinations);
      value.sinks.forEach((sink, index) => {
        if (seen.has(sink.name)) {
          ctx.addIssue({
            code: "custom",
            path: ["sinks", index, "name"],
            message: `duplicate sink name "${sink.name}"`,
          });
        }
        seen.add(sink.name);
        // A Secret-referenced URL is not known here: delivery checks it, after DNS too.
        const refusal = sink.url === undefined ? null : refusalOfUrl(new URL(sink.url), allowed);
        if (refusal) {
          ctx.addIssue({
            code: "custom",
            path: ["sinks", index, "url"],
            message: `points to ${articled(refusal)} address; podmortem calls such a destination only when ${ALLOW_LIST_FIELD} names it`,
          });
        }
      });
    }),
});

export type RemoteConfig = z.infer<typeof remoteConfigSchema>;
export type RemoteConfigInput = z.input<typeof remoteConfigSchema>;

export function defaultRemoteConfig(): RemoteConfig {
  return remoteConfigSchema.parse({});
}

/** What the watcher receives: the config with every secret value removed. */
export function redactSecrets(config: RemoteConfig): RemoteConfig {
  return {
    ...config,
    notifications: {
      ...config.notifications,
      sinks: config.notifications.sinks.map(({ url, hmacSecret, ...sink }) => ({
        ...sink,
        ...(url === undefined ? {} : { url: "[redacted]" }),
        ...(hmacSecret === undefined ? {} : { hmacSecret: "[redacted]" }),
      })),
    },
  };
}

export const watcherConfigSchema = remoteConfigSchema.pick({
  detection: true,
  namespaces: true,
  dedup: true,
  batch: true,
  metadataCache: true,
});
/** The part of the config the watcher applies; it holds no secrets by construction. */
export type WatcherConfig = z.infer<typeof watcherConfigSchema>;

export function toWatcherConfig(config: RemoteConfig): WatcherConfig {
  const { detection, namespaces, dedup, batch, metadataCache } = config;
  return { detection, namespaces, dedup, batch, metadataCache };
}
