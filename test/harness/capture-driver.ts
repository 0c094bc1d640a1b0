import * as restate from "@restatedev/restate-sdk";
import * as clients from "@restatedev/restate-sdk-clients";

import type {
  CaptureRequest,
  CaptureStatus,
  CaptureWorkflow,
} from "../../workflows/capture.workflow.ts";

/**
 * Capture.run and Capture.removeCopyAtTtl are private: only Incident starts a capture and only the capture
 * schedules its expiry. Tests that drive a capture directly register this service beside the
 * product's and go through it, as Incident would.
 */
export const CaptureDriver = restate.service({
  name: "CaptureDriver",
  handlers: {
    start: async (ctx: restate.Context, input: { captureId: string; request: CaptureRequest }) => {
      ctx
        .workflowSendClient<CaptureWorkflow>({ name: "Capture" }, input.captureId)
        .run(input.request);
    },
    expire: async (ctx: restate.Context, input: { captureId: string }) =>
      ctx
        .workflowClient<CaptureWorkflow>({ name: "Capture" }, input.captureId)
        .removeCopyAtTtl(undefined),
  },
});

export function captureDriver(ingressUrl: string) {
  const ingress = clients.connect({ url: ingressUrl });
  const driver = ingress.serviceClient<typeof CaptureDriver>({ name: "CaptureDriver" });
  const status = (captureId: string) =>
    ingress.workflowClient<CaptureWorkflow>({ name: "Capture" }, captureId).status();
  return {
    start: (captureId: string, request: CaptureRequest) => driver.start({ captureId, request }),
    expire: (captureId: string) => driver.expire({ captureId }),
    status,
    /** The finished status, read through the public `status` handler (polled). */
    async result(captureId: string, timeoutMs = 90_000): Promise<CaptureStatus> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const current = await Promise.resolve(status(captureId)).catch(() => null);
        if (current?.finishedAt) return current;
        if (Date.now() > deadline)
          throw new Error(`capture ${captureId} did not finish in ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
  };
}

/** The workflow client's shape (submit, attach, output, expire) over the driver. */
export function captureWorkflowOf(ingressUrl: string, captureId: string) {
  const driver = captureDriver(ingressUrl);
  return {
    workflowSubmit: (request: CaptureRequest) => driver.start(captureId, request),
    workflowAttach: () => driver.result(captureId),
    async workflowOutput(): Promise<{ ready: boolean; result: CaptureStatus }> {
      const status = await driver.status(captureId);
      return status?.finishedAt
        ? { ready: true, result: status }
        : { ready: false, result: status as CaptureStatus };
    },
    // What it deletes comes from the capture's own state: an argument is ignored, as by expire.
    expire: (_ignored?: unknown) => driver.expire(captureId),
  };
}
