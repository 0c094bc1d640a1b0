import type { V1Container, V1PodTemplateSpec, V1Probe } from "@kubernetes/client-node";

export const CHANGE_KINDS = [
  "image",
  "env",
  "resources",
  "command",
  "probe",
  "volume",
  "container",
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** One difference between two pod templates; never carries an env value. */
export type TemplateChange = { kind: ChangeKind; container?: string; detail: string };

const stable = (value: unknown) =>
  JSON.stringify(value ?? null, Object.keys(flatten(value)).sort());

function flatten(value: unknown, into: Record<string, true> = {}): Record<string, true> {
  if (typeof value === "object" && value !== null)
    for (const [key, inner] of Object.entries(value)) {
      into[key] = true;
      flatten(inner, into);
    }
  return into;
}

function same(a: unknown, b: unknown): boolean {
  return stable(a) === stable(b);
}

function describeProbe(probe: V1Probe | undefined): string {
  if (!probe) return "none";
  const how = probe.httpGet
    ? `GET ${probe.httpGet.path ?? "/"}:${String(probe.httpGet.port)}`
    : probe.tcpSocket
      ? `tcp :${String(probe.tcpSocket.port)}`
      : probe.exec
        ? "exec"
        : probe.grpc
          ? `grpc :${probe.grpc.port}`
          : "?";
  const timing = [
    probe.initialDelaySeconds !== undefined ? `delay ${probe.initialDelaySeconds}s` : undefined,
    probe.periodSeconds !== undefined ? `period ${probe.periodSeconds}s` : undefined,
    probe.timeoutSeconds !== undefined ? `timeout ${probe.timeoutSeconds}s` : undefined,
    probe.failureThreshold !== undefined ? `failures ${probe.failureThreshold}` : undefined,
  ].filter(Boolean);
  return timing.length ? `${how} (${timing.join(", ")})` : how;
}

function describeResources(container: V1Container): string {
  const r = container.resources;
  const part = (kind: "requests" | "limits") =>
    Object.entries(r?.[kind] ?? {})
      .map(([name, quantity]) => `${name}=${String(quantity)}`)
      .join(" ");
  return `requests ${part("requests") || "none"}, limits ${part("limits") || "none"}`;
}

function diffContainer(name: string, before: V1Container, after: V1Container): TemplateChange[] {
  const changes: TemplateChange[] = [];
  if (before.image !== after.image)
    changes.push({
      kind: "image",
      container: name,
      detail: `image ${before.image ?? "?"} → ${after.image ?? "?"}`,
    });
  const envBefore = new Map((before.env ?? []).map((e) => [e.name, e]));
  const envAfter = new Map((after.env ?? []).map((e) => [e.name, e]));
  const added = [...envAfter.keys()].filter((k) => !envBefore.has(k));
  const removed = [...envBefore.keys()].filter((k) => !envAfter.has(k));
  const changed = [...envAfter.keys()].filter(
    (k) => envBefore.has(k) && !same(envBefore.get(k), envAfter.get(k)),
  );
  if (added.length)
    changes.push({ kind: "env", container: name, detail: `env added: ${added.join(", ")}` });
  if (removed.length)
    changes.push({ kind: "env", container: name, detail: `env removed: ${removed.join(", ")}` });
  if (changed.length)
    changes.push({
      kind: "env",
      container: name,
      detail: `env changed (values not shown): ${changed.join(", ")}`,
    });
  if (!same(before.envFrom, after.envFrom))
    changes.push({ kind: "env", container: name, detail: "envFrom sources changed" });
  if (!same(before.resources, after.resources))
    changes.push({
      kind: "resources",
      container: name,
      detail: `resources ${describeResources(before)} → ${describeResources(after)}`,
    });
  if (!same(before.command, after.command) || !same(before.args, after.args))
    changes.push({
      kind: "command",
      container: name,
      detail: `command/args ${[...(before.command ?? []), ...(before.args ?? [])].join(" ") || "image default"} → ${[...(after.command ?? []), ...(after.args ?? [])].join(" ") || "image default"}`,
    });
  for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"] as const)
    if (!same(before[probe], after[probe]))
      changes.push({
        kind: "probe",
        container: name,
        detail: `${probe} ${describeProbe(before[probe])} → ${describeProbe(after[probe])}`,
      });
  if (!same(before.volumeMounts, after.volumeMounts))
    changes.push({
      kind: "volume",
      container: name,
      detail: `volume mounts ${(before.volumeMounts ?? []).map((m) => `${m.name}:${m.mountPath}`).join(", ") || "none"} → ${(after.volumeMounts ?? []).map((m) => `${m.name}:${m.mountPath}`).join(", ") || "none"}`,
    });
  return changes;
}

/** What differs between the previous and the current pod template, container by container. */
export function diffTemplates(
  before: V1PodTemplateSpec | undefined,
  after: V1PodTemplateSpec | undefined,
): TemplateChange[] {
  const changes: TemplateChange[] = [];
  for (const list of ["initContainers", "containers"] as const) {
    const old = new Map((before?.spec?.[list] ?? []).map((c) => [c.name, c]));
    const now = new Map((after?.spec?.[list] ?? []).map((c) => [c.name, c]));
    for (const [name, container] of now) {
      const previous = old.get(name);
      if (!previous)
        changes.push({
          kind: "container",
          container: name,
          detail: `container added (${container.image ?? "?"})`,
        });
      else changes.push(...diffContainer(name, previous, container));
    }
    for (const name of old.keys())
      if (!now.has(name))
        changes.push({ kind: "container", container: name, detail: "container removed" });
  }
  const volumesBefore = new Map((before?.spec?.volumes ?? []).map((v) => [v.name, v]));
  const volumesAfter = new Map((after?.spec?.volumes ?? []).map((v) => [v.name, v]));
  for (const [name, volume] of volumesAfter) {
    const previous = volumesBefore.get(name);
    if (!previous) changes.push({ kind: "volume", detail: `volume added: ${name}` });
    else if (!same(previous, volume))
      changes.push({ kind: "volume", detail: `volume changed: ${name}` });
  }
  for (const name of volumesBefore.keys())
    if (!volumesAfter.has(name))
      changes.push({ kind: "volume", detail: `volume removed: ${name}` });
  return changes;
}
