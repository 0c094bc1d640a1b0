import { CoreV1Api } from "@kubernetes/client-node";
import { parseArgs } from "node:util";

import { PodmortemError } from "../../src/errors.ts";
import { FORENSIC_ANNOTATIONS, FORENSIC_LABELS } from "../../src/k8s/forensic-pod.ts";
import { loadKubeConfig } from "../../src/k8s/client.ts";
import { kubeHttpFor } from "../../src/k8s/kube-http.ts";
import { connectionFrom, kubeconfigPathFor, table } from "../connection.ts";
import { runExport } from "../evidence-export.ts";
import { captureLivePod, parseTimeout } from "./forensic-capture.ts";
import { showForensicReport } from "./forensic-show.ts";
import { EXIT, type ExitCode } from "../exit-codes.ts";
import type { Command } from "../main.ts";

export const forensicCommand: Command = {
  summary:
    "kubectl plugin: list forensic pods, export a capture's evidence with every hash verified, capture a live pod on request.",
  usage: [
    "kubectl forensic list [-A | -n NAMESPACE] [--json]",
    "kubectl forensic export POD [-n NAMESPACE] [--out DIR] [--progress] [--json]",
    "kubectl forensic show POD [-n NAMESPACE] [--json]",
    "kubectl forensic capture POD [-n NAMESPACE] [-c CONTAINER] [--checkpoint] [--copy] [--no-wait] [--timeout D] [--json]",
    "  capture asks podmortem to capture a live pod now: it writes the request on the pod (annotation",
    "  forensic.io/capture-request, so it needs patch on the pod), passes Restate (--restate-url,",
    "  $PODMORTEM_RESTATE_URL; --cluster, $PODMORTEM_CLUSTER_NAME) a pointer to it, and waits (--timeout,",
    "  default 5m) for the capture: evidence, a checkpoint with --checkpoint and a forensic copy with --copy,",
    "  as far as the cluster's config allows them; exit 0 captured, 1 failed or partial or still running,",
    "  3 unknown pod or container or not allowed to patch it, 4 Restate unreachable, 6 refused by podmortem;",
    "  show prints the capture's report.md (--json: report.json) for a forensic pod or the pod it copies,",
    "  checked against custody.json and the pod's bundle hash (exit 3 unknown pod, 5 mismatch);",
    "  the cluster comes from KUBECONFIG (or --kubeconfig); s3:// evidence is read with the AWS default",
    "  credential chain (PODMORTEM_S3_ENDPOINT/_REGION/_FORCE_PATH_STYLE for S3-compatible stores);",
    "  export checks custody.json against the pod's forensic.io/bundle-sha256 before reading it, fetches",
    "  only files in custody.json's own folder, writes only inside --out, and exits 5 at the first",
    "  file that does not match custody.json or the pod's annotations",
  ].join("\n"),
  async run(args): Promise<ExitCode> {
    const [sub, ...rest] = args;
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        namespace: { type: "string", short: "n" },
        "all-namespaces": { type: "boolean", short: "A", default: false },
        out: { type: "string" },
        kubeconfig: { type: "string" },
        json: { type: "boolean", default: false },
        progress: { type: "boolean", default: false },
        container: { type: "string", short: "c" },
        checkpoint: { type: "boolean", default: false },
        copy: { type: "boolean", default: false },
        "no-wait": { type: "boolean", default: false },
        timeout: { type: "string" },
        "restate-url": { type: "string" },
        "admin-url": { type: "string" },
        cluster: { type: "string" },
      },
    });
    const kc = loadKubeConfig({ kubeconfigPath: kubeconfigPathFor(values.kubeconfig) });
    const core = kubeHttpFor(kc).apiClient(CoreV1Api);
    const namespace =
      values.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default";
    if (sub === "list") {
      const selector = `${FORENSIC_LABELS.role}=forensic-copy`;
      const pods = values["all-namespaces"]
        ? await core.listPodForAllNamespaces({ labelSelector: selector })
        : await core.listNamespacedPod({ namespace, labelSelector: selector });
      const rows = pods.items.map((pod) => {
        const a = pod.metadata?.annotations ?? {};
        return {
          namespace: pod.metadata?.namespace ?? "",
          name: pod.metadata?.name ?? "",
          source: a[FORENSIC_ANNOTATIONS.sourcePod] ?? "",
          capture: pod.metadata?.labels?.[FORENSIC_LABELS.captureId] ?? "",
          expires: a[FORENSIC_ANNOTATIONS.expiresAt] ?? "",
          evidence: a[FORENSIC_ANNOTATIONS.evidence] ?? "",
        };
      });
      if (values.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else
        process.stdout.write(
          table(
            ["NAMESPACE", "NAME", "SOURCE POD", "CAPTURE", "EXPIRES", "EVIDENCE"],
            rows.map((r) => [r.namespace, r.name, r.source, r.capture, r.expires, r.evidence]),
          ),
        );
      return EXIT.ok;
    }
    if (sub === "export") {
      const name = positionals[0];
      if (!name) {
        process.stderr.write(
          "kubectl forensic export: name a forensic pod (kubectl forensic list shows them)\n",
        );
        return EXIT.usage;
      }
      const pod = await core.readNamespacedPod({ name, namespace }).catch((error: unknown) => {
        if ((error as { code?: number }).code !== 404) throw error;
        throw new PodmortemError(
          "INPUT_INVALID",
          `no pod ${name} in namespace ${namespace}${values.namespace ? "" : " (the context's default; pass -n NAMESPACE)"}: kubectl forensic list -A shows the forensic pods`,
        );
      });
      const a = pod.metadata?.annotations ?? {};
      const custodyUri = a[FORENSIC_ANNOTATIONS.evidence];
      if (!custodyUri)
        throw new PodmortemError(
          "INPUT_INVALID",
          `pod ${namespace}/${name} has no ${FORENSIC_ANNOTATIONS.evidence} annotation: not a forensic pod`,
        );
      return runExport(
        {
          uri: custodyUri,
          sha256: a[FORENSIC_ANNOTATIONS.bundleSha256],
          logSha256: a[FORENSIC_ANNOTATIONS.logSha256],
          source: FORENSIC_ANNOTATIONS.bundleSha256,
          logSource: FORENSIC_ANNOTATIONS.logSha256,
        },
        { out: values.out ?? `./${name}`, json: values.json, progress: values.progress },
      );
    }
    if (sub === "capture") {
      const name = positionals[0];
      if (!name) {
        process.stderr.write(
          "kubectl forensic capture: name the pod to capture (kubectl get pods lists them)\n",
        );
        return EXIT.usage;
      }
      const timeoutMs = parseTimeout(values.timeout ?? "5m");
      const connection = connectionFrom(values);
      return captureLivePod(kc, core, {
        namespace,
        name,
        container: values.container,
        checkpoint: values.checkpoint,
        copy: values.copy,
        wait: !values["no-wait"],
        timeoutMs,
        json: values.json,
        cluster: connection.cluster,
        ingress: connection.ingress,
        ingressUrl: connection.ingressUrl,
      });
    }
    if (sub === "show") {
      const name = positionals[0];
      if (!name) {
        process.stderr.write(
          "kubectl forensic show: name a pod (kubectl forensic list shows them)\n",
        );
        return EXIT.usage;
      }
      return showForensicReport(core, { namespace, name, json: values.json });
    }
    process.stderr.write(`kubectl forensic: unknown subcommand ${sub ?? "(none)"}; try --help\n`);
    return EXIT.usage;
  },
};
