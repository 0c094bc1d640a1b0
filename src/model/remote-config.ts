import { z } from "zod";

import {
  ALLOW_LIST_FIELD,
  articled,
  parseAllowedDestination,
  parseAllowList,
  refusalOfUrl,
} from "../net/outbound-guard.ts";
import { SEALED_TEXT_PREFIX } from "../notifications/sealed-secret.ts";

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
export const SINK_TYPES = ["webhook", "slack", "pagerduty", "teams"] as const;
export type SinkType = (typeof SINK_TYPES)[number];
/** PagerDuty's Events API v2; a sink's `url` replaces it (a proxy, a test receiver). */
export const PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue";
/** SigV4 refuses a presigned URL valid for longer than seven days. */
export const MAX_PRESIGN_EXPIRY_S = 7 * 86_400;
export const CONSOLE_URL_PLACEHOLDERS = [
  "cluster",
  "namespace",
  "pod",
  "captureId",
  "signature",
] as const;

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
    /** PagerDuty's integration key (32 characters); sealed at rest like every inline secret. */
    routingKey: z
      .string()
      .refine(
        (key) => /^[A-Za-z0-9]{32}$/.test(key) || key.startsWith(SEALED_TEXT_PREFIX),
        "must be a PagerDuty integration key: 32 letters and digits",
      )
      .optional(),
    routingKeySecretRef: secretRefSchema.optional(),
    events: z.array(z.enum(NOTIFICATION_EVENTS)).min(1).default(["captured", "failed"]),
    rateLimitS: z.int().min(0).max(86_400).default(300),
  })
  .superRefine((sink, ctx) => {
    const urls = Number(sink.url !== undefined) + Number(sink.urlSecretRef !== undefined);
    if (sink.type === "pagerduty") {
      const keys =
        Number(sink.routingKey !== undefined) + Number(sink.routingKeySecretRef !== undefined);
      if (keys !== 1)
        ctx.addIssue({
          code: "custom",
          path: ["routingKey"],
          message: "a pagerduty sink needs exactly one of routingKey or routingKeySecretRef",
        });
      // The endpoint is public knowledge; only a proxy or a test receiver replaces it.
      if (sink.urlSecretRef !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["urlSecretRef"],
          message: `a pagerduty sink takes url (default ${PAGERDUTY_EVENTS_URL}), not urlSecretRef`,
        });
    } else if ((sink.routingKey ?? sink.routingKeySecretRef) !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["routingKey"],
        message: "routingKey applies to pagerduty sinks only",
      });
    }
    if (urls !== 1 && sink.type !== "pagerduty") {
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
    if (sink.type !== "webhook" && (sink.hmacSecret ?? sink.hmacSecretRef) !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["hmacSecret"],
        message: "HMAC signing applies to webhook sinks only",
      });
    }
  });
export type NotificationSink = z.infer<typeof sinkSchema>;

/** `{name}` placeholders that are not among CONSOLE_URL_PLACEHOLDERS, in order. */
export function unknownPlaceholders(template: string): string[] {
  const known = new Set<string>(CONSOLE_URL_PLACEHOLDERS);
  return [...template.matchAll(/\{([^{}]*)\}/g)]
    .map((match) => match[1] ?? "")
    .filter((name) => !known.has(name));
}

/** The link each message carries: a presigned report (S3 evidence) and/or a console page. */
const linkSchema = z
  .strictObject({
    /** How long a presigned report link opens; 0 sends none (a bearer link in chat). */
    presignExpiryS: z.int().min(0).max(MAX_PRESIGN_EXPIRY_S).default(86_400),
    consoleUrlTemplate: z.string().max(2048).nullable().default(null),
  })
  .superRefine((link, ctx) => {
    const template = link.consoleUrlTemplate;
    if (template === null) return;
    const unknown = unknownPlaceholders(template);
    const sample = template.replace(/\{[^{}]*\}/g, "x");
    let url: URL | undefined;
    try {
      url = new URL(sample);
    } catch {
      url = undefined;
    }
    const problem =
      unknown.length > 0
        ? `unknown placeholder {${unknown[0]}}; use ${CONSOLE_URL_PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}`
        : url === undefined || (url.protocol !== "https:" && url.protocol !== "http:")
          ? "must be an http(s) URL once its placeholders are filled in"
          : undefined;
    if (problem) ctx.addIssue({ code: "custom", path: ["consoleUrlTemplate"], message: problem });
  });

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
      link: linkSchema.prefault({}),
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
      sinks: config.notifications.sinks.map(({ url, hmacSecret, routingKey, ...sink }) => ({
        ...sink,
        ...(url === undefined ? {} : { url: "[redacted]" }),
        ...(hmacSecret === undefined ? {} : { hmacSecret: "[redacted]" }),
        ...(routingKey === undefined ? {} : { routingKey: "[redacted]" }),
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
