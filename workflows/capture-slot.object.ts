import * as restate from "@restatedev/restate-sdk";

export type SlotRequest = { captureId: string; windowS: number };
export type SlotAnswer = { granted: true } | { granted: false; heldBy: string; grantedAt: string };

type Slot = { captureId: string; grantedAtMs: number };

export function captureSlotKey(cluster: string, podUID: string, container: string): string {
  return `${cluster}:${podUID}:${container}`;
}

/**
 * One capture per pod container per window, whatever a batch says: the first capture of a
 * container of a pod UID holds the slot until the window ends (a delayed release clears it, so
 * state does not outlive it). Two containers of one pod failing are two captures (each its own
 * crash.log); the forensic copy stays one per pod (CaptureLimits).
 */
export const CaptureSlot = restate.object({
  name: "CaptureSlot",
  handlers: {
    claim: async (ctx: restate.ObjectContext, request: SlotRequest): Promise<SlotAnswer> => {
      const nowMs = await ctx.date.now();
      const slot = await ctx.get<Slot>("slot");
      const windowMs = request.windowS * 1000;
      if (slot && slot.captureId !== request.captureId && nowMs - slot.grantedAtMs < windowMs)
        return {
          granted: false,
          heldBy: slot.captureId,
          grantedAt: new Date(slot.grantedAtMs).toISOString(),
        };
      if (slot?.captureId === request.captureId) return { granted: true };
      if (windowMs === 0) return { granted: true };
      ctx.set<Slot>("slot", { captureId: request.captureId, grantedAtMs: nowMs });
      ctx
        .objectSendClient(CaptureSlot, ctx.key)
        .release(
          { captureId: request.captureId },
          restate.rpc.sendOpts({ delay: { seconds: request.windowS } }),
        );
      return { granted: true };
    },
    release: async (ctx: restate.ObjectContext, request: { captureId: string }) => {
      const slot = await ctx.get<Slot>("slot");
      if (slot?.captureId === request.captureId) ctx.clear("slot");
    },
  },
  options: { ingressPrivate: true },
});

export type CaptureSlotObject = typeof CaptureSlot;
