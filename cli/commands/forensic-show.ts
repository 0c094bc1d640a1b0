import type { CoreV1Api, V1Pod } from "@kubernetes/client-node";

import { custodySchema } from "../../src/evidence/custody.ts";
import { PodmortemError } from "../../src/errors.ts";
import { FORENSIC_ANNOTATIONS, FORENSIC_LABELS } from "../../src/k8s/forensic-pod.ts";
import { REPORT_FILES } from "../../src/report/report-schema.ts";
import { HashMismatch, readEvidenceDocument } from "../evidence-reader.ts";
import { EXIT, type ExitCode } from "../exit-codes.ts";
import { renderForTerminal } from "../terminal-markdown.ts";

/** The forensic copy itself, or the newest forensic copy of a source pod of that name. */
async function forensicPodFor(core: CoreV1Api, namespace: string, name: string): Promise<V1Pod> {
  const copies = await core.listNamespacedPod({
    namespace,
    labelSelector: `${FORENSIC_LABELS.role}=forensic-copy`,
  });
  const own = copies.items.find((pod) => pod.metadata?.name === name);
  if (own) return own;
  const ofSource = copies.items
    .filter((pod) =>
      [name, `${namespace}/${name}`].includes(
        pod.metadata?.annotations?.[FORENSIC_ANNOTATIONS.sourcePod] ?? "",
      ),
    )
    .sort(
      (a, b) =>
        new Date(b.metadata?.creationTimestamp ?? 0).getTime() -
        new Date(a.metadata?.creationTimestamp ?? 0).getTime(),
    );
  if (ofSource[0]) return ofSource[0];
  throw new PodmortemError(
    "INPUT_INVALID",
    `no forensic pod ${namespace}/${name} and none copied from a pod of that name (kubectl forensic list shows them)`,
  );
}

/**
 * `kubectl forensic show POD`: the capture's report.md, found through the forensic pod's
 * custody annotation, custody.json checked against the pod's hash and the report against custody.
 */
export async function showForensicReport(
  core: CoreV1Api,
  input: { namespace: string; name: string; json: boolean },
): Promise<ExitCode> {
  const pod = await forensicPodFor(core, input.namespace, input.name);
  const annotations = pod.metadata?.annotations ?? {};
  const custodyUri = annotations[FORENSIC_ANNOTATIONS.evidence];
  if (!custodyUri)
    throw new PodmortemError(
      "INPUT_INVALID",
      `pod ${input.namespace}/${pod.metadata?.name} has no ${FORENSIC_ANNOTATIONS.evidence} annotation`,
    );
  const file = input.json ? REPORT_FILES.json : REPORT_FILES.markdown;
  try {
    const custody = custodySchema.parse(
      JSON.parse(
        (
          await readEvidenceDocument(
            custodyUri,
            "custody.json",
            annotations[FORENSIC_ANNOTATIONS.bundleSha256],
          )
        ).toString("utf8"),
      ),
    );
    const report = custody.artifacts.find((a) => a.name === file);
    if (!report)
      throw new PodmortemError("INPUT_INVALID", `the capture's custody.json lists no ${file}`);
    const body = (await readEvidenceDocument(custodyUri, report.name, report.sha256)).toString(
      "utf8",
    );
    process.stdout.write(
      input.json ? body : renderForTerminal(body, process.stdout.isTTY === true),
    );
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof HashMismatch)) throw error;
    process.stderr.write(
      `kubectl forensic show: EVIDENCE DOES NOT MATCH ITS CHAIN OF CUSTODY: ${error.message}\n`,
    );
    return EXIT.verificationFailed;
  }
}
