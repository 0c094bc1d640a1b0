import * as restate from "@restatedev/restate-sdk";

import { captureClaimSchema, onDemandCaptureId } from "../src/model/capture-request.ts";
import { describeProblems, validate } from "../src/model/validation.ts";
import type { CaptureWorkflow } from "./capture.workflow.ts";

export type SubmitAnswer = { captureId: string };

/**
 * `kubectl forensic capture`'s door: public, because a user's command calls it, and therefore
 * believed in nothing. It takes a pointer to a request written on the pod and starts the capture
 * keyed by it; the capture reads the pod and refuses unless the request is there (confirm-claim).
 * A resent pointer lands on the same key: one capture per request.
 */
export const CaptureRequest = restate.service({
  name: "CaptureRequest",
  handlers: {
    submit: (ctx: restate.Context, input: unknown): Promise<SubmitAnswer> => {
      const result = validate(captureClaimSchema, input);
      if (!result.ok)
        return Promise.reject(
          new restate.TerminalError(
            `invalid capture request: ${describeProblems(result.problems)}`,
            { errorCode: 400 },
          ),
        );
      const claim = result.value;
      const captureId = onDemandCaptureId(claim);
      ctx
        .workflowSendClient<CaptureWorkflow>({ name: "Capture" }, captureId)
        .run({ onDemand: claim });
      return Promise.resolve({ captureId });
    },
  },
});

export type CaptureRequestService = typeof CaptureRequest;
