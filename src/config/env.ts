import { z } from "zod";

import { PodmortemError } from "../errors.ts";
import { describeProblems, listProblems } from "../model/validation.ts";

export type Env = Readonly<Record<string, string | undefined>>;

export const envBoolean = z
  .enum(["true", "false", "1", "0", "yes", "no"], { error: "must be true or false" })
  .transform((value) => value === "true" || value === "1" || value === "yes");

export const envPort = z.coerce.number().int().min(0).max(65_535);

export const envList = z.string().transform((value) =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean),
);

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * Parses the process environment once: the schema's keys are the variable names, so every
 * problem is reported under the name the operator has to fix.
 */
export function parseEnv<T extends z.ZodType>(
  schema: T,
  env: Env,
  processName: string,
): Readonly<z.infer<T>> {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ""),
  );
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    throw new PodmortemError(
      "CONFIG_INVALID",
      `invalid ${processName} configuration: ${describeProblems(listProblems(result.error))}`,
    );
  }
  return Object.freeze(result.data);
}
