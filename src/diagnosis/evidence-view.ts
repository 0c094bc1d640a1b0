import type { DiagnosisInput, EventRecord, Evidence } from "./finding.ts";
import { maskSecrets } from "./mask-secrets.ts";

/** Read-only views over parsed JSON whose shape the rules cannot trust. */
type Json = Record<string, unknown>;

const MAX_QUOTE_CHARS = 240;

export function asObject(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Json)
    : undefined;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function asNumber(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** A quote for a finding: one line, masked, bounded. */
export function quote(text: string): string {
  const line = maskSecrets(text.replace(/\s+/g, " ").trim());
  return line.length > MAX_QUOTE_CHARS ? `${line.slice(0, MAX_QUOTE_CHARS - 1)}…` : line;
}

export type ContainerView = {
  /** `status.containerStatuses[app]` or `status.initContainerStatuses[app]`. */
  statusField: string;
  status: Json | undefined;
  spec: Json | undefined;
};

/** The crashed container's status and spec in pod.json. */
export function crashedContainer(input: DiagnosisInput): ContainerView {
  const name = input.crash.container;
  const pod = asObject(input.pod);
  const status = asObject(pod?.["status"]);
  const spec = asObject(pod?.["spec"]);
  const init = input.crash.containerType === "init";
  const statusList = init ? "initContainerStatuses" : "containerStatuses";
  const specList = init ? "initContainers" : "containers";
  const byName = (list: unknown) =>
    asArray(list)
      .map(asObject)
      .find((entry) => entry?.["name"] === name);
  return {
    statusField: `status.${statusList}[${name}]`,
    status: byName(status?.[statusList]),
    spec: byName(spec?.[specList]),
  };
}

/** The last termination of the crashed container: the event's, else pod.json's lastState. */
export function lastTermination(input: DiagnosisInput): Json | undefined {
  const view = crashedContainer(input);
  const state = asObject(view.status?.["state"]);
  const last = asObject(view.status?.["lastState"]);
  return asObject(state?.["terminated"]) ?? asObject(last?.["terminated"]);
}

export function waitingState(input: DiagnosisInput): { reason?: string; message?: string } {
  const state = asObject(crashedContainer(input).status?.["state"]);
  const waiting = asObject(state?.["waiting"]);
  return { reason: asString(waiting?.["reason"]), message: asString(waiting?.["message"]) };
}

export function podStatus(input: DiagnosisInput): Json | undefined {
  return asObject(asObject(input.pod)?.["status"]);
}

/** Events about the crashed container (by fieldPath), or about the whole pod when they name none. */
export function containerEvents(input: DiagnosisInput): EventRecord[] {
  const name = input.crash.container;
  return (input.events ?? []).filter((event) => {
    const path = event.involvedObject?.fieldPath;
    return !path || path.endsWith(`{${name}}`);
  });
}

export function eventEvidence(event: EventRecord): Evidence {
  return {
    artifact: "events.json",
    field: `reason=${event.reason ?? ""}`,
    quote: quote(event.message ?? ""),
  };
}

export function memoryOf(spec: Json | undefined): { limit?: string; request?: string } {
  const resources = asObject(spec?.["resources"]);
  return {
    limit: asString(asObject(resources?.["limits"])?.["memory"]),
    request: asString(asObject(resources?.["requests"])?.["memory"]),
  };
}

/** A node condition that is True (MemoryPressure, DiskPressure, PIDPressure). */
export function nodeCondition(input: DiagnosisInput, type: string): Json | undefined {
  const conditions = asArray(asObject(input.node)?.["conditions"]).map(asObject);
  return conditions.find((c) => c?.["type"] === type && c?.["status"] === "True");
}

export function secondsBetween(from: string | null | undefined, to: string | null | undefined) {
  if (!from || !to) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? Math.round(ms / 1000) : undefined;
}

export function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}
