import { describe, expect, it } from "vitest";

import { evidenceFolder } from "../../../src/evidence/evidence-layout.ts";
import { boundedName } from "../../../src/k8s/names.ts";
import { restoredClaimName, snapshotName } from "../../../src/k8s/snapshots.ts";
import { parseRetrieveResult } from "../../../src/retriever/retrieve.ts";
import type { CaptureStatus } from "../../../workflows/capture.workflow.ts";
import { phaseOf } from "../../../workflows/steps/capture-run.ts";
import { withholdRestart } from "../../../workflows/steps/restart.ts";
import { stepLabel } from "../../../workflows/steps/step-runner.ts";
import { forensicAnnotations } from "../../../workflows/steps/forensic-pod.ts";
import {
  buildRetrieverPod,
  RETRIEVER_DEADLINE_S,
  retrieverPodName,
} from "../../../workflows/steps/retriever-pod.ts";

const SHA = "a".repeat(64);

function retrieverPod(overrides: { deleteFromNode?: boolean; s3Secret?: string } = {}) {
  return buildRetrieverPod({
    captureId: "pm-0123456789abcdef01234567",
    node: "node-a",
    archivePath: "/var/lib/kubelet/checkpoints/checkpoint-web_shop-app-2026.tar",
    key: "c1/shop/web/20261122T100000Z/checkpoint-app.tar",
    maxBytes: 1024,
    deleteFromNode: overrides.deleteFromNode ?? false,
    retriever: { image: "podmortem:dev", namespace: "podmortem", s3Secret: overrides.s3Secret },
    evidence: {
      kind: "s3",
      bucket: "evidence",
      prefix: undefined,
      endpoint: undefined,
      region: "eu-west-1",
      forcePathStyle: false,
      kmsKeyId: "alias/forensics",
    },
  });
}

describe("the retriever pod", () => {
  it("is pinned to the node, with no token, bounded memory and a deadline", () => {
    const pod = retrieverPod();
    expect(pod.spec?.nodeName).toBe("node-a");
    expect(pod.spec?.automountServiceAccountToken).toBe(false);
    expect(pod.spec?.restartPolicy).toBe("Never");
    expect(pod.spec?.activeDeadlineSeconds).toBe(RETRIEVER_DEADLINE_S);
    const container = pod.spec!.containers[0]!;
    expect(container.resources?.limits?.memory).toBe("160Mi");
    expect(container.securityContext?.capabilities?.drop).toEqual(["ALL"]);
    expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(container.command).toEqual([
      "podmortem",
      "retrieve",
      "--file",
      "/var/lib/kubelet/checkpoints/checkpoint-web_shop-app-2026.tar",
      "--key",
      "c1/shop/web/20261122T100000Z/checkpoint-app.tar",
      "--max-bytes",
      "1024",
    ]);
  });

  it("mounts only the checkpoint folder, read-only unless the archive is to be removed", () => {
    const keep = retrieverPod();
    expect(keep.spec?.volumes).toEqual([
      {
        name: "checkpoints",
        hostPath: { path: "/var/lib/kubelet/checkpoints", type: "Directory" },
      },
    ]);
    expect(keep.spec!.containers[0]!.volumeMounts?.[0]?.readOnly).toBe(true);
    const remove = retrieverPod({ deleteFromNode: true });
    expect(remove.spec!.containers[0]!.volumeMounts?.[0]?.readOnly).toBe(false);
    expect(remove.spec!.containers[0]!.command).toContain("--delete");
  });

  it("gets the store's settings as values and credentials only from the named Secret", () => {
    const container = retrieverPod({ s3Secret: "retriever-s3" }).spec!.containers[0]!;
    const env = Object.fromEntries((container.env ?? []).map((v) => [v.name, v.value]));
    expect(env).toMatchObject({
      PODMORTEM_S3_BUCKET: "evidence",
      PODMORTEM_S3_REGION: "eu-west-1",
      PODMORTEM_S3_SSE_KMS_KEY_ID: "alias/forensics",
      MALLOC_ARENA_MAX: "2",
    });
    expect(env.NODE_OPTIONS).toContain("--max-old-space-size=32");
    expect(Object.keys(env).some((name) => /SECRET|ACCESS_KEY|TOKEN/.test(name))).toBe(false);
    expect(container.envFrom).toEqual([{ secretRef: { name: "retriever-s3" } }]);
    expect(container.terminationMessagePolicy).toBe("FallbackToLogsOnError");
  });
});

describe("object names", () => {
  it("stay as they are when they fit in 63 characters", () => {
    expect(snapshotName("pm-abc", "data")).toBe("pm-abc-data");
    expect(restoredClaimName("pm-abc", "data")).toBe("pm-abc-data-restored");
    expect(retrieverPodName("pm-abc")).toBe("pm-abc-retriever");
    expect(retrieverPodName("pm-abc", 2)).toBe("pm-abc-retriever-2");
  });

  it("are cut to 63 characters and stay distinct for claims that share a long prefix", () => {
    const id = "pm-0123456789abcdef01234567";
    const a = snapshotName(id, `${"x".repeat(40)}-alpha`);
    const b = snapshotName(id, `${"x".repeat(40)}-beta`);
    expect(a).toHaveLength(63);
    expect(b.length).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(boundedName(`${"y".repeat(70)}`)).toBe(boundedName(`${"y".repeat(70)}`));
  });
});

describe("the retriever's termination message", () => {
  it("reads a stored result", () => {
    const message = JSON.stringify({
      outcome: "stored",
      key: "k",
      uri: "s3://b/k",
      size: 10,
      sha256: SHA,
      deleted: true,
    });
    expect(parseRetrieveResult(message)).toEqual({
      outcome: "stored",
      key: "k",
      uri: "s3://b/k",
      size: 10,
      sha256: SHA,
      deleted: true,
    });
  });

  it("reads a refusal with its reason", () => {
    expect(
      parseRetrieveResult(JSON.stringify({ outcome: "refused", reason: "too big", size: 9 })),
    ).toEqual({ outcome: "refused", reason: "too big", size: 9, deleted: false });
  });

  it("is no result when it is a crash's log tail or a malformed hash", () => {
    expect(parseRetrieveResult("Error: connect ECONNREFUSED 127.0.0.1:9000")).toBeUndefined();
    expect(
      parseRetrieveResult(
        JSON.stringify({ outcome: "stored", key: "k", uri: "u", size: 1, sha256: "nothex" }),
      ),
    ).toBeUndefined();
    expect(parseRetrieveResult("null")).toBeUndefined();
  });
});

describe("a capture's phase", () => {
  it("is succeeded with no failure, partial with some, failed when every step that ran failed", () => {
    const ok = { name: "a", outcome: "ok" as const, detail: "" };
    const failed = { name: "b", outcome: "failed" as const, detail: "" };
    const skipped = { name: "c", outcome: "skipped" as const, detail: "" };
    expect(phaseOf([ok, skipped])).toBe("succeeded");
    expect(phaseOf([ok, failed, skipped])).toBe("partial");
    expect(phaseOf([failed, skipped])).toBe("failed");
  });
});

describe("the forensic pod's annotations", () => {
  it("carry the DESIGN contract: hashes, evidence URI, snapshots, checkpoint, source", () => {
    const status = {
      namespace: "shop",
      pod: "web-1",
      snapshots: ["pm-1-data", "pm-1-logs"],
      evidence: {
        folder: "c1/shop/web-1/t/",
        custodyUri: "s3://b/c1/shop/web-1/t/custody.json",
        custodySha256: SHA,
        logSha256: "b".repeat(64),
        artifacts: [],
      },
      checkpoint: {
        node: "node-a",
        archivePath: "/var/lib/kubelet/checkpoints/x.tar",
        uri: "s3://b/c1/shop/web-1/t/checkpoint-app.tar",
        sha256: SHA,
      },
    } as unknown as CaptureStatus;
    expect(forensicAnnotations(status, "sig", "2026-11-23T00:00:00.000Z")).toEqual({
      "forensic.io/signature": "sig",
      "forensic.io/source-pod": "shop/web-1",
      "forensic.io/snapshots": "pm-1-data,pm-1-logs",
      "forensic.io/expires-at": "2026-11-23T00:00:00.000Z",
      "forensic.io/evidence": "s3://b/c1/shop/web-1/t/custody.json",
      "forensic.io/bundle-sha256": SHA,
      "forensic.io/log-sha256": "b".repeat(64),
      "forensic.io/checkpoint":
        "node-a:/var/lib/kubelet/checkpoints/x.tar s3://b/c1/shop/web-1/t/checkpoint-app.tar",
    });
  });
});

describe("step duration labels", () => {
  it("fold numbered polls into one label per step", () => {
    expect(stepLabel("check retriever 12")).toBe("check retriever");
    expect(stepLabel("check snapshots 1")).toBe("check snapshots");
    expect(stepLabel("start retriever 2")).toBe("start retriever");
    expect(stepLabel("capture crash log")).toBe("capture crash log");
    expect(stepLabel("capture log sidecar-2")).toBe("capture log");
    expect(stepLabel("capture previous log app")).toBe("capture previous log");
  });
});

describe("restart after salvage", () => {
  const crashLog = {
    name: "crash.log",
    key: "k",
    uri: "s3://b/k",
    size: 1,
    sha256: SHA,
    truncated: false,
    capturedAt: "t",
  };
  const sealed = (artifacts: (typeof crashLog)[]) =>
    ({
      evidence: { folder: "f/", custodyUri: "u", custodySha256: SHA, logSha256: SHA, artifacts },
    }) as unknown as CaptureStatus;

  it("runs only when custody is sealed and holds crash.log", () => {
    expect(withholdRestart(sealed([crashLog]))).toBeUndefined();
    expect(withholdRestart({ evidence: null } as unknown as CaptureStatus)).toBe(
      "not restarted: custody is not sealed, and a restart would lose the crash log",
    );
    expect(withholdRestart(sealed([{ ...crashLog, name: "pod.json" }]))).toBe(
      "not restarted: custody holds no crash log, and a restart would lose it",
    );
  });
});

describe("evidence folders", () => {
  it("are one capture's own: the timestamp and the capture id", () => {
    const at = Date.parse("2026-12-01T00:38:44.512Z");
    const folder = (captureId: string) =>
      evidenceFolder({
        prefix: undefined,
        cluster: "prod",
        namespace: "shop",
        pod: "web-1",
        capturedAtMs: at,
        captureId,
      });
    expect(folder("pm-abc")).toBe("prod/shop/web-1/2026-12-01T00-38-44Z_pm-abc/");
    expect(folder("pm-abc")).not.toBe(folder("pm-abd"));
    expect(folder("on demand/../x")).toBe("prod/shop/web-1/2026-12-01T00-38-44Z_on-demand-..-x/");
  });
});
