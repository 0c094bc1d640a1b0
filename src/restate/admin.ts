import { PodmortemError } from "../errors.ts";

export type AdminSettings = { adminUrl: string; authToken?: string | undefined };

function headers(settings: AdminSettings): Record<string, string> {
  return {
    "content-type": "application/json",
    accept: "application/json",
    ...(settings.authToken ? { authorization: `Bearer ${settings.authToken}` } : {}),
  };
}

async function adminRequest(
  settings: AdminSettings,
  path: string,
  body: unknown,
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(new URL(path, settings.adminUrl), {
      method: "POST",
      headers: headers(settings),
      body: JSON.stringify(body),
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
  return text ? (JSON.parse(text) as unknown) : undefined;
}

export type RegisteredDeployment = {
  id: string;
  services: Array<{ name: string; revision: number }>;
};

/** Registers (or, with force, re-registers) a service endpoint with Restate. */
export async function registerDeployment(
  settings: AdminSettings,
  endpointUri: string,
  options: { force?: boolean } = {},
): Promise<RegisteredDeployment> {
  return (await adminRequest(settings, "/deployments", {
    uri: endpointUri,
    force: options.force ?? true,
  })) as RegisteredDeployment;
}

/** Runs SQL against Restate's introspection tables (sys_invocation, state, sys_journal, …). */
export async function queryRestate<T = Record<string, unknown>>(
  settings: AdminSettings,
  sql: string,
): Promise<T[]> {
  const answer = (await adminRequest(settings, "/query", { query: sql })) as { rows?: T[] };
  return answer.rows ?? [];
}
