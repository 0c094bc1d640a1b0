import * as restate from "@restatedev/restate-sdk";
import { createHash } from "node:crypto";
import { z } from "zod";

import {
  defaultRemoteConfig,
  redactSecrets,
  remoteConfigSchema,
  toWatcherConfig,
  type NotificationSink,
  type RemoteConfig,
  type WatcherConfig,
} from "../src/model/remote-config.ts";
import { toDeliverySink, type DeliverySink } from "../src/notifications/delivery-sink.ts";
import { isSealed, type Sealer } from "../src/notifications/sealed-secret.ts";
import { describeProblems, validate } from "../src/model/validation.ts";
import { MAX_DOCUMENT_BYTES } from "../src/model/bounded-document.ts";
import { diffConfigs, type ConfigChange } from "../src/audit/config-diff.ts";
import { announce } from "./milestones.ts";

export const CONFIG_HISTORY_LIMIT = 50;

export const enrollmentSchema = z.strictObject({
  clusterUID: z.string().min(1).max(64),
  kubernetesVersion: z.string().max(64).default(""),
  watcherVersion: z.string().max(64).default(""),
  watcherIdentity: z.string().max(253).default(""),
  capabilities: z.array(z.string().max(64)).max(64).default([]),
});
export type EnrollmentInput = z.input<typeof enrollmentSchema>;
export type Enrollment = z.infer<typeof enrollmentSchema> & {
  enrolledAt: string;
  lastSeenAt: string;
};

export type ConfigRecord = {
  version: number;
  config: RemoteConfig;
  updatedBy: string;
  updatedAt: string;
  comment: string;
  /** What this version changed against the one before, secrets redacted (bounded). */
  changes?: ConfigChange[];
  moreChanges?: number;
};

export type IngestSettings = {
  enrolled: boolean;
  rateLimitWindowS: number;
  namespaces: RemoteConfig["namespaces"];
};
export type NotificationRoute = Pick<NotificationSink, "name" | "events">;
/** What the Notifier needs for one delivery: the sink with its secrets sealed, nothing more. */
export type DeliverySettings = {
  sink: DeliverySink | null;
  allowedDestinations: RemoteConfig["notifications"]["allowedDestinations"];
  forgetAfterIdleWindows: number;
  link: NotificationLink;
};
type NotificationLink = RemoteConfig["notifications"]["link"];
const DEFAULT_LINK: NotificationLink = defaultRemoteConfig().notifications.link;

export type GetConfigRequest = { knownVersion?: number } | undefined;
export type GetConfigAnswer =
  { version: number; changed: false } | { version: number; changed: true; config: WatcherConfig };

export type SetConfigRequest = { config: unknown; author?: string; comment?: string };
export type RollbackRequest = { version: number; author?: string };
export type ConfigHistoryEntry = Omit<ConfigRecord, "config"> & { config: RemoteConfig };

function parseOrRefuse<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = validate(schema, input);
  if (!result.ok) {
    throw new restate.TerminalError(`invalid ${what}: ${describeProblems(result.problems)}`, {
      errorCode: 400,
    });
  }
  return result.value;
}

/** The CLI caps what it sends; anything else reaching the ingress is capped here. */
function refuseOversized(document: unknown): void {
  const bytes = Buffer.byteLength(JSON.stringify(document ?? null), "utf8");
  if (bytes > MAX_DOCUMENT_BYTES)
    throw new restate.TerminalError(
      `invalid config: (root): the document is ${bytes} bytes, more than the ${MAX_DOCUMENT_BYTES} a config document may have`,
      { errorCode: 413 },
    );
}

async function currentRecord(ctx: restate.ObjectSharedContext): Promise<ConfigRecord> {
  return (
    (await ctx.get<ConfigRecord>("config")) ?? {
      version: 0,
      config: defaultRemoteConfig(),
      updatedBy: "default",
      updatedAt: new Date(0).toISOString(),
      comment: "built-in defaults",
    }
  );
}

const REDACTED = "[redacted]";
const SECRET_FIELDS = ["url", "hmacSecret", "routingKey"] as const;

/**
 * `config get` shows secrets as "[redacted]"; a document edited from it and set again keeps the
 * secret of the sink with the same name. A "[redacted]" with nothing to keep is left as it is,
 * so validation refuses it by its path.
 */
export function restoreRedactedSecrets(input: unknown, current: RemoteConfig): unknown {
  if (input === null || typeof input !== "object") return input;
  const document = input as { notifications?: { sinks?: unknown } };
  const sinks = document.notifications?.sinks;
  if (!Array.isArray(sinks)) return input;
  const restored = sinks.map((sink: unknown) => {
    if (sink === null || typeof sink !== "object") return sink;
    const named = sink as Record<string, unknown>;
    const kept = current.notifications.sinks.find((s) => s.name === named.name);
    const copy = { ...named };
    for (const field of SECRET_FIELDS) {
      if (copy[field] === REDACTED && kept?.[field] !== undefined) copy[field] = kept[field];
    }
    return copy;
  });
  return { ...document, notifications: { ...document.notifications, sinks: restored } };
}

function deepMerge(base: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  if (base === null || typeof base !== "object" || Array.isArray(base)) return patch;
  const merged: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    merged[key] = deepMerge(merged[key], value);
  }
  return merged;
}

/**
 * Inline sink secrets are sealed before the record is stored: Restate's state then holds
 * ciphertext only. Without a secrets key an inline secret is refused, naming its field.
 */
export function sealInlineSecrets(config: RemoteConfig, sealer: Sealer | undefined): RemoteConfig {
  const sinks = config.notifications.sinks.map((sink, index) => {
    const sealed = { ...sink };
    for (const field of SECRET_FIELDS) {
      const value = sink[field];
      if (value === undefined || isSealed(value)) continue;
      if (!sealer)
        throw new restate.TerminalError(
          `invalid config: notifications.sinks[${index}].${field}: an inline secret needs PODMORTEM_SECRETS_KEY on the workflows; use ${field}SecretRef to name a Kubernetes Secret instead`,
          { errorCode: 400 },
        );
      sealed[field] = field === "url" ? sealer.sealUrl(value) : sealer.sealText(value);
    }
    return sealed;
  });
  return { ...config, notifications: { ...config.notifications, sinks } };
}

async function storeVersion(
  ctx: restate.ObjectContext,
  plainConfig: RemoteConfig,
  author: string | undefined,
  comment: string,
  sealer: Sealer | undefined,
): Promise<{ version: number }> {
  const config = sealInlineSecrets(plainConfig, sealer);
  const previous = await currentRecord(ctx);
  const { changes, more } = diffConfigs(
    { raw: previous.config, redacted: redactSecrets(previous.config) },
    { raw: config, redacted: redactSecrets(config) },
  );
  const record: ConfigRecord = {
    version: previous.version + 1,
    config,
    updatedBy: author?.slice(0, 253) || "unknown",
    updatedAt: new Date(await ctx.date.now()).toISOString(),
    comment: comment.slice(0, 1024),
    changes,
    moreChanges: more,
  };
  ctx.set("config", record);
  const history = (await ctx.get<ConfigRecord[]>("history")) ?? [];
  ctx.set("history", [...history, record].slice(-CONFIG_HISTORY_LIMIT));
  announce(ctx, {
    kind: "config.changed",
    cluster: ctx.key,
    version: record.version,
    author: record.updatedBy,
    comment: record.comment,
    changes,
    moreChanges: more,
    configSha256: createHash("sha256").update(JSON.stringify(config)).digest("hex"),
  });
  return { version: record.version };
}

export type ClusterDeps = { sealer?: Sealer | undefined };

export function createClusterObject(deps: ClusterDeps = {}) {
  return restate.object({
    name: "Cluster",
    handlers: {
      enroll: async (ctx: restate.ObjectContext, input: EnrollmentInput) => {
        const enrollment = parseOrRefuse(enrollmentSchema, input, "enrollment");
        const now = new Date(await ctx.date.now()).toISOString();
        const previous = await ctx.get<Enrollment>("enrollment");
        if (previous && previous.clusterUID !== enrollment.clusterUID) {
          throw new restate.TerminalError(
            `cluster name "${ctx.key}" is enrolled with kube-system UID ${previous.clusterUID}; refusing UID ${enrollment.clusterUID}`,
            { errorCode: 409 },
          );
        }
        ctx.set<Enrollment>("enrollment", {
          ...enrollment,
          enrolledAt: previous?.enrolledAt ?? now,
          lastSeenAt: now,
        });
        const record = await currentRecord(ctx);
        return { cluster: ctx.key, configVersion: record.version };
      },

      describe: restate.handlers.object.shared(async (ctx: restate.ObjectSharedContext) => {
        const record = await currentRecord(ctx);
        return {
          cluster: ctx.key,
          enrollment: (await ctx.get<Enrollment>("enrollment")) ?? null,
          configVersion: record.version,
        };
      }),

      getConfig: restate.handlers.object.shared(
        // Every watcher replica polls; a finished poll is kept neither as a journal nor for its
        // idempotency key (a day by default), so the Restate UI's invocation list shows captures,
        // not 11,520 polls a day (test/bench/config-poll.bench.ts).
        { journalRetention: 0, idempotencyRetention: 0 },
        async (
          ctx: restate.ObjectSharedContext,
          request: GetConfigRequest,
        ): Promise<GetConfigAnswer> => {
          const record = await currentRecord(ctx);
          if (request?.knownVersion === record.version)
            return { version: record.version, changed: false };
          return { version: record.version, changed: true, config: toWatcherConfig(record.config) };
        },
      ),

      // The backend's own reads: each answers one caller's slice, never the whole record, since
      // an answer is journaled by its caller and the record holds the sinks' inline secrets.
      ingestSettings: restate.handlers.object.shared(
        { ingressPrivate: true },
        async (ctx: restate.ObjectSharedContext): Promise<IngestSettings> => {
          const { config } = await currentRecord(ctx);
          return {
            enrolled: (await ctx.get<Enrollment>("enrollment")) !== null,
            rateLimitWindowS: config.capture.rateLimitWindowS,
            namespaces: config.namespaces,
          };
        },
      ),

      captureSettings: restate.handlers.object.shared(
        { ingressPrivate: true },
        async (ctx: restate.ObjectSharedContext): Promise<RemoteConfig["capture"]> =>
          (await currentRecord(ctx)).config.capture,
      ),

      notificationRoutes: restate.handlers.object.shared(
        { ingressPrivate: true },
        async (ctx: restate.ObjectSharedContext): Promise<NotificationRoute[]> =>
          (await currentRecord(ctx)).config.notifications.sinks.map(({ name, events }) => ({
            name,
            events,
          })),
      ),

      deliverySink: restate.handlers.object.shared(
        { ingressPrivate: true },
        async (ctx: restate.ObjectSharedContext, name: string): Promise<DeliverySettings> => {
          const { config } = await currentRecord(ctx);
          const sink = config.notifications.sinks.find((s) => s.name === name);
          return {
            sink: sink ? toDeliverySink(sink, deps.sealer) : null,
            allowedDestinations: config.notifications.allowedDestinations,
            forgetAfterIdleWindows: config.capture.forgetAfterIdleWindows,
            // A record stored before links existed has none: the defaults apply.
            link: { ...DEFAULT_LINK, ...config.notifications.link },
          };
        },
      ),

      // The request may carry inline secrets in the clear (it is sealed before it is stored): no
      // journal of it is kept once it completes.
      setConfig: restate.handlers.object.exclusive(
        { journalRetention: 0 },
        async (ctx: restate.ObjectContext, request: SetConfigRequest) => {
          refuseOversized(request?.config);
          const current = await currentRecord(ctx);
          const config = parseOrRefuse(
            remoteConfigSchema,
            restoreRedactedSecrets(request?.config, current.config),
            "config",
          );
          return storeVersion(ctx, config, request.author, request.comment ?? "", deps.sealer);
        },
      ),

      /** Merges a partial document into the current config (secrets kept), then validates the whole. */
      patchConfig: restate.handlers.object.exclusive(
        { journalRetention: 0 },
        async (
          ctx: restate.ObjectContext,
          request: { patch: unknown; author?: string; comment?: string },
        ) => {
          refuseOversized(request?.patch);
          const current = await currentRecord(ctx);
          const merged = deepMerge(current.config, request?.patch);
          const config = parseOrRefuse(remoteConfigSchema, merged, "config");
          return storeVersion(ctx, config, request.author, request.comment ?? "patch", deps.sealer);
        },
      ),

      /** The config as the CLI shows it: every secret value replaced by "[redacted]". */
      showConfig: restate.handlers.object.shared(async (ctx: restate.ObjectSharedContext) => {
        const record = await currentRecord(ctx);
        return { ...record, config: redactSecrets(record.config) };
      }),

      history: restate.handlers.object.shared(
        async (ctx: restate.ObjectSharedContext): Promise<ConfigHistoryEntry[]> => {
          const history = (await ctx.get<ConfigRecord[]>("history")) ?? [];
          return history.map((record) => ({ ...record, config: redactSecrets(record.config) }));
        },
      ),

      /** Makes an earlier version current again, as a new version (history only grows). */
      rollback: async (ctx: restate.ObjectContext, request: RollbackRequest) => {
        const history = (await ctx.get<ConfigRecord[]>("history")) ?? [];
        const target = history.find((record) => record.version === request?.version);
        if (!target) {
          const kept = history.map((record) => record.version).join(", ") || "none";
          throw new restate.TerminalError(
            `version: ${String(request?.version)} is not in the kept history (kept: ${kept})`,
            { errorCode: 404 },
          );
        }
        return storeVersion(
          ctx,
          target.config,
          request.author,
          `rollback to version ${target.version}`,
          deps.sealer,
        );
      },
    },
    // The watcher polls getConfig: with lazy state it reads the current record, not the history.
    options: { enableLazyState: true },
  });
}

export type ClusterObject = ReturnType<typeof createClusterObject>;
/**
 * Names the object for typed clients (`ctx.objectClient(Cluster, key)`); services.ts serves the
 * one built with the secrets key.
 */
export const Cluster: ClusterObject = createClusterObject();
