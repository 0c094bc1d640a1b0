import type { V1Pod } from "@kubernetes/client-node";

import { CHANGES_FILE, describeChanges } from "../../src/changes/changes-document.ts";
import type { CustodyArtifact } from "../../src/evidence/custody.ts";
import { readOwnerRevisions } from "../../src/k8s/revisions.ts";
import type { CaptureRun } from "./capture-run.ts";

/**
 * What changed: the owner's revision the pod runs against the one before it, stored as
 * changes.json for the report and for custody. Owners without revisions are skipped.
 */
export async function captureChanges(run: CaptureRun, pod: V1Pod): Promise<void> {
  const { deps, event, folder } = run;
  const stored = await run.step(
    "capture changes",
    async (): Promise<{ artifact: CustodyArtifact; summary: string } | { none: string }> => {
      const revisions = await readOwnerRevisions(deps.kube, pod);
      if (!revisions)
        return { none: `${event.workload.kind} ${event.workload.name} keeps no revisions` };
      const document = describeChanges({
        ...revisions,
        crashedAt: event.finishedAt ?? event.observedAt,
      });
      const put = await deps.store.put(
        `${folder}${CHANGES_FILE}`,
        `${JSON.stringify(document, null, 2)}\n`,
        { contentType: "application/json" },
      );
      return {
        summary: document.summary,
        artifact: {
          name: CHANGES_FILE,
          key: put.key,
          uri: put.uri,
          size: put.size,
          sha256: put.sha256,
          truncated: put.truncated,
          capturedAt: new Date().toISOString(),
        },
      };
    },
    (result) => ("none" in result ? result.none : result.summary),
  );
  if (stored && "artifact" in stored) run.artifacts.push(stored.artifact);
}
