import type { z } from "zod";

export type FieldProblem = { path: string; problem: string };

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(root)";
  return path
    .map((part, index) =>
      typeof part === "number" ? `[${part}]` : `${index === 0 ? "" : "."}${String(part)}`,
    )
    .join("");
}

export function listProblems(error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), problem: issue.message }));
}

/** One line a human can act on: every bad field with what is wrong with it. */
export function describeProblems(problems: readonly FieldProblem[]): string {
  return problems.map(({ path, problem }) => `${path}: ${problem}`).join("; ");
}

export type Validated<T> = { ok: true; value: T } | { ok: false; problems: FieldProblem[] };

export function validate<T>(schema: z.ZodType<T>, input: unknown): Validated<T> {
  const result = schema.safeParse(input);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, problems: listProblems(result.error) };
}
