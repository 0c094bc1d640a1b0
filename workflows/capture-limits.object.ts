import * as restate from "@restatedev/restate-sdk";

import type { RemoteConfig } from "../src/model/remote-config.ts";

export type AdmitRequest = {
  captureId: string;
  /** The source pod: one forensic copy of it alive at a time. */
  podUID: string;
  /** Where the forensic copy would go; null when the config makes none. */
  copyNamespace: string | null;
  copyTtlS: number;
  limits: RemoteConfig["capture"]["limits"];
};
/** `invasive`: snapshots, checkpoint, restart may run; `copy`: a forensic copy may be made. */
export type Admission = { invasive: boolean; copy: boolean; detail: string | null };

type Recent = { captureId: string; atMs: number };
type Copy = { captureId: string; podUID?: string; untilMs: number };

const MINUTE_MS = 60_000;

/**
 * The safety valve of one cluster (key = cluster): at most `capturesPerMinute` captures create
 * objects, and at most `forensicCopiesPerNamespace` forensic copies are alive in a namespace.
 * Past a cap a capture still salvages evidence; it creates nothing and says why. A copy holds
 * its place until its capture's expiry releases it, or its TTL passes.
 */
export const CaptureLimits = restate.object({
  name: "CaptureLimits",
  handlers: {
    admit: async (ctx: restate.ObjectContext, request: AdmitRequest): Promise<Admission> => {
      const nowMs = await ctx.date.now();
      const { capturesPerMinute, forensicCopiesPerNamespace } = request.limits;
      const recent = ((await ctx.get<Recent[]>("recent")) ?? []).filter(
        (r) => nowMs - r.atMs < MINUTE_MS && r.captureId !== request.captureId,
      );
      if (recent.length >= capturesPerMinute) {
        ctx.set("recent", recent);
        return {
          invasive: false,
          copy: false,
          detail: `${recent.length} captures in the last minute in cluster ${ctx.key} (limit capture.limits.capturesPerMinute ${capturesPerMinute}): evidence only`,
        };
      }
      ctx.set("recent", [...recent, { captureId: request.captureId, atMs: nowMs }]);
      if (request.copyNamespace === null) return { invasive: true, copy: false, detail: null };
      const key = `copies:${request.copyNamespace}`;
      const alive = ((await ctx.get<Copy[]>(key)) ?? []).filter(
        (c) => c.untilMs > nowMs && c.captureId !== request.captureId,
      );
      const sameSource = alive.find((c) => c.podUID === request.podUID);
      if (sameSource) {
        ctx.set(key, alive);
        return {
          invasive: true,
          copy: false,
          detail: `a forensic copy of this pod is alive (${sameSource.captureId}): one per pod`,
        };
      }
      if (alive.length >= forensicCopiesPerNamespace) {
        ctx.set(key, alive);
        return {
          invasive: true,
          copy: false,
          detail: `${alive.length} forensic copies alive in namespace ${request.copyNamespace} (limit capture.limits.forensicCopiesPerNamespace ${forensicCopiesPerNamespace})`,
        };
      }
      ctx.set(key, [
        ...alive,
        {
          captureId: request.captureId,
          podUID: request.podUID,
          untilMs: nowMs + request.copyTtlS * 1000,
        },
      ]);
      return { invasive: true, copy: true, detail: null };
    },
    release: async (
      ctx: restate.ObjectContext,
      request: { captureId: string; namespace: string },
    ) => {
      const key = `copies:${request.namespace}`;
      const alive = (await ctx.get<Copy[]>(key)) ?? [];
      ctx.set(
        key,
        alive.filter((c) => c.captureId !== request.captureId),
      );
    },
  },
  options: { ingressPrivate: true, enableLazyState: true },
});

export type CaptureLimitsObject = typeof CaptureLimits;
