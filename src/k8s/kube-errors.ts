import { ApiException } from "@kubernetes/client-node";

export type KubeErrorClass = "terminal" | "retryable";

/** The HTTP status of a failed Kubernetes call, or undefined for network errors. */
export function kubeStatusOf(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  if (typeof error === "object" && error !== null && "statusCode" in error) {
    const status = error.statusCode;
    if (typeof status === "number") return status;
  }
  return undefined;
}

export function classifyKubeError(error: unknown): KubeErrorClass {
  const status = kubeStatusOf(error);
  if (status === undefined) return "retryable";
  if (status === 408 || status === 429 || status >= 500) return "retryable";
  if (status >= 400) return "terminal";
  return "retryable";
}

const RBAC_HINT =
  "; podmortem's workflows need this permission (their RBAC rules and why: docs/rbac.md)";

/**
 * The API server's own message (a Status object in the body) when there is one; a 403 also says
 * where the missing permission is documented, since a human has to grant it.
 */
export function describeKubeError(error: unknown): string {
  const described = describeApiError(error);
  return kubeStatusOf(error) === 403 ? `${described}${RBAC_HINT}` : described;
}

function describeApiError(error: unknown): string {
  if (error instanceof ApiException) {
    const body: unknown = error.body;
    if (typeof body === "string") {
      try {
        const status = JSON.parse(body) as { message?: unknown };
        if (typeof status.message === "string") return `${error.code}: ${status.message}`;
      } catch {
        return `${error.code}: ${body.slice(0, 500)}`;
      }
    }
    if (typeof body === "object" && body !== null && "message" in body) {
      return `${error.code}: ${String(body.message)}`;
    }
    return `${error.code}: ${error.message.slice(0, 500)}`;
  }
  return error instanceof Error ? error.message : String(error);
}

export function isNotFound(error: unknown): boolean {
  return kubeStatusOf(error) === 404;
}

export function isConflict(error: unknown): boolean {
  return kubeStatusOf(error) === 409;
}
