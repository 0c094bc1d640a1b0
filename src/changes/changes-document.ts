import type { V1PodTemplateSpec } from "@kubernetes/client-node";

import { diffTemplates, type TemplateChange } from "./template-diff.ts";

export const CHANGES_SCHEMA_VERSION = "podmortem.changes/v1";
export const CHANGES_FILE = "changes.json";

export type Revision = {
  /** The ReplicaSet's or ControllerRevision's name. */
  name: string;
  revision: number;
  createdAt: string | null;
  template: V1PodTemplateSpec | undefined;
};

export type ChangesDocument = {
  schema: typeof CHANGES_SCHEMA_VERSION;
  owner: { kind: string; name: string };
  current: Omit<Revision, "template"> | null;
  previous: Omit<Revision, "template"> | null;
  /** Seconds from the current revision's creation (the rollout) to the crash. */
  crashAfterRolloutS: number | null;
  changes: TemplateChange[];
  summary: string;
  details: string[];
};

function formatSeconds(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

/** The previous revision against the current one, and when the crash came after the rollout. */
export function describeChanges(input: {
  owner: { kind: string; name: string };
  current: Revision | undefined;
  previous: Revision | undefined;
  crashedAt: string | null;
}): ChangesDocument {
  const { owner, current, previous } = input;
  const strip = (r: Revision | undefined) =>
    r ? { name: r.name, revision: r.revision, createdAt: r.createdAt } : null;
  const elapsedMs =
    current?.createdAt && input.crashedAt
      ? Date.parse(input.crashedAt) - Date.parse(current.createdAt)
      : Number.NaN;
  const crashAfterRolloutS =
    Number.isFinite(elapsedMs) && elapsedMs >= 0 ? Math.round(elapsedMs / 1000) : null;
  const changes = current && previous ? diffTemplates(previous.template, current.template) : [];
  const when =
    crashAfterRolloutS !== null
      ? `The crash came ${formatSeconds(crashAfterRolloutS)} after the rollout to revision ${current!.revision}`
      : current
        ? `The pod runs revision ${current.revision} of ${owner.kind} ${owner.name}`
        : `No revision of ${owner.kind} ${owner.name} was found`;
  const what = !current
    ? "."
    : !previous
      ? "; there is no earlier revision to compare."
      : changes.length === 0
        ? `; revision ${current.revision} changed none of images, env names, resources, command, probes or volumes since revision ${previous.revision}.`
        : `, which changed since revision ${previous.revision}: ${changes
            .slice(0, 3)
            .map((c) => (c.container ? `${c.container} ${c.detail}` : c.detail))
            .join("; ")}${changes.length > 3 ? ` and ${changes.length - 3} more` : ""}.`;
  return {
    schema: CHANGES_SCHEMA_VERSION,
    owner,
    current: strip(current),
    previous: strip(previous),
    crashAfterRolloutS,
    changes,
    summary: `${when}${what}`,
    details: changes.map((c) => (c.container ? `${c.container}: ${c.detail}` : c.detail)),
  };
}
