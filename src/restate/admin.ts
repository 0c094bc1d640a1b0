import { PodmortemError } from "../errors.ts";

export type AdminSettings = { adminUrl: string; authToken?: string | undefined };

function headers(settings: AdminSettings): Record<string, string> {
  return {
    "content-type": "application/json",
    accept: "application/json",
    ...(settings.authToken ? { authorization: `Bearer ${settings.authToken}` } : {}),
  };
}

async function adminCall(
  settings: AdminSettings,
  method: "GET" | "POST" | "DELETE",
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(new URL(path, settings.adminUrl), {
      method,
      headers: headers(settings),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new PodmortemError(
      "RESTATE_UNAVAILABLE",
      `the Restate admin API at ${settings.adminUrl} did not answer`,
      { cause: error },
    );
  }
  const text = await response.text();
  if (!response.ok) {
    throw new PodmortemError(
      "RESTATE_UNAVAILABLE",
      `the Restate admin API answered ${response.status} to ${path}: ${text.slice(0, 500)}`,
    );
  }
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

async function adminRequest(settings: AdminSettings, path: string, body: unknown) {
  return (await adminCall(settings, "POST", path, body)).body;
}

export type RegisteredDeployment = {
  id: string;
  services: Array<{ name: string; revision: number }>;
  /** False when this URL was registered before: Restate then keeps it exactly as it was. */
  created: boolean;
};

/**
 * Registers a service endpoint with Restate. A deployment is immutable: a new release registers
 * its own URL and Restate keeps every invocation on the deployment it started on. Re-registering
 * a known URL changes nothing (Restate answers with the deployment it has); only `force`, which
 * `podmortem dev` alone uses, replaces the code under running journals.
 */
export async function registerDeployment(
  settings: AdminSettings,
  endpointUri: string,
  options: { force?: boolean } = {},
): Promise<RegisteredDeployment> {
  const answer = await adminCall(settings, "POST", "/deployments", {
    uri: endpointUri,
    force: options.force ?? false,
  });
  const deployment = answer.body as Omit<RegisteredDeployment, "created">;
  return { id: deployment.id, services: deployment.services, created: answer.status === 201 };
}

/**
 * Removes a drained deployment: refused while an unfinished invocation is pinned to it. Restate
 * 1.7 deletes only with force (501 without), so the drain check is made here first; nothing new
 * pins to an old deployment once a newer one serves the same services.
 */
export async function removeDrainedDeployment(
  settings: AdminSettings,
  deploymentId: string,
): Promise<void> {
  const pinned = await queryRestate<{ pinned_deployment_id: string | null; invocations: number }>(
    settings,
    PINNED_INVOCATIONS_SQL,
  );
  const left = pinned.find((row) => row.pinned_deployment_id === deploymentId)?.invocations ?? 0;
  if (left > 0)
    throw new PodmortemError(
      "INPUT_INVALID",
      `deployment ${deploymentId} still has ${left} unfinished invocations pinned to it`,
    );
  await adminCall(
    settings,
    "DELETE",
    `/deployments/${encodeURIComponent(deploymentId)}?force=true`,
  );
}

/** Invocations not yet completed, per deployment they are pinned to (none: not started yet). */
export const PINNED_INVOCATIONS_SQL =
  "SELECT pinned_deployment_id, count(*) AS invocations FROM sys_invocation " +
  "WHERE status <> 'completed' GROUP BY pinned_deployment_id";

/** Runs SQL against Restate's introspection tables (sys_invocation, state, sys_journal, …). */
export async function queryRestate<T = Record<string, unknown>>(
  settings: AdminSettings,
  sql: string,
): Promise<T[]> {
  const answer = (await adminRequest(settings, "/query", { query: sql })) as { rows?: T[] };
  return answer.rows ?? [];
}
