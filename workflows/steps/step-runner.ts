import * as restate from "@restatedev/restate-sdk";

import { classifyKubeError, describeKubeError } from "../../src/k8s/kube-errors.ts";
import type { WorkflowMetrics } from "../metrics.ts";

export const STEP_OUTCOMES = ["ok", "skipped", "failed"] as const;
export type StepOutcome = (typeof STEP_OUTCOMES)[number];

export type StepRecord = {
  name: string;
  outcome: StepOutcome;
  detail: string;
};

/** A permanent failure of a step: recorded on the capture, never retried. */
export class StepFailure extends restate.TerminalError {
  constructor(message: string) {
    super(message, { errorCode: 500 });
    this.name = "StepFailure";
  }
}

export type Classifier = (error: unknown) => "terminal" | "retryable";

export const DEFAULT_STEP_RETRY = {
  maxRetryAttempts: 10,
  initialRetryInterval: { milliseconds: 200 },
  maxRetryInterval: { seconds: 10 },
  retryIntervalFactor: 2,
} as const;

/**
 * Runs one side effect as a named durable step. Kubernetes errors are classified: a 4xx fails
 * at once, anything else is retried with backoff until the attempts run out. Durations are
 * observed inside the step, so a replay does not count them again.
 */
export async function runStep<T>(
  ctx: restate.Context,
  metrics: WorkflowMetrics,
  name: string,
  action: () => Promise<T>,
  options: { classify?: Classifier; retry?: restate.RunOptions<T> } = {},
): Promise<T> {
  const classify = options.classify ?? classifyKubeError;
  return ctx.run(
    name,
    async () => {
      const end = metrics.stepDuration.startTimer({ step: stepLabel(name) });
      try {
        const value = await action();
        end({ outcome: "ok" });
        return value;
      } catch (error) {
        end({ outcome: "error" });
        if (error instanceof restate.TerminalError) throw error;
        if (classify(error) === "terminal") throw new StepFailure(describeKubeError(error));
        throw error;
      }
    },
    { ...DEFAULT_STEP_RETRY, ...options.retry },
  );
}

/**
 * "check retriever 12" → "check retriever", "capture log sidecar" → "capture log": metric labels
 * stay a small fixed set, never a container name.
 */
export function stepLabel(name: string): string {
  return name.replace(/ \d+$/, "").replace(/^(capture (?:previous )?log) .+$/, "$1");
}

export function failureMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
