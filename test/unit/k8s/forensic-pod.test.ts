import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";

import { buildDenyAllPolicy, buildForensicPod } from "../../../src/k8s/forensic-pod.ts";

const source: V1Pod = {
  metadata: { name: "checkout-1", namespace: "shop", labels: { app: "checkout" } },
  spec: {
    serviceAccountName: "checkout",
    containers: [
      {
        name: "app",
        image: "registry.example/checkout:1",
        command: ["/checkout"],
        env: [{ name: "MODE", value: "prod" }],
        livenessProbe: { httpGet: { path: "/healthz", port: 8080 } },
        readinessProbe: { httpGet: { path: "/readyz", port: 8080 } },
        securityContext: { privileged: true, capabilities: { add: ["NET_ADMIN", "SYS_ADMIN"] } },
        volumeMounts: [
          { name: "data", mountPath: "/data" },
          { name: "token", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount" },
          { name: "host", mountPath: "/host" },
        ],
      },
    ],
    volumes: [
      { name: "data", persistentVolumeClaim: { claimName: "checkout-data" } },
      { name: "token", projected: { sources: [{ serviceAccountToken: { path: "token" } }] } },
      { name: "host", hostPath: { path: "/var/log" } },
    ],
  },
};

describe("the forensic copy", () => {
  const pod = buildForensicPod({
    source,
    captureId: "pm-abc",
    namespace: "shop",
    ttlS: 600,
    annotations: { "forensic.io/signature": "s" },
    restoredClaims: { "checkout-data": "pm-abc-checkout-data-restored" },
  });
  const container = pod.spec!.containers[0]!;

  it("runs a sleep instead of the workload, with no probes and no selectable labels", () => {
    expect(container.command).toEqual(["sleep", "600"]);
    expect(container.livenessProbe).toBeUndefined();
    expect(container.readinessProbe).toBeUndefined();
    expect(pod.metadata!.labels).toEqual({
      "forensic.io/capture-id": "pm-abc",
      "forensic.io/role": "forensic-copy",
      "app.kubernetes.io/managed-by": "podmortem",
    });
  });

  it("drops privileges and the service account token", () => {
    expect(container.securityContext).toMatchObject({
      privileged: false,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.securityContext?.capabilities?.add).toBeUndefined();
    expect(pod.spec!.automountServiceAccountToken).toBe(false);
    expect(pod.spec!.serviceAccountName).toBeUndefined();
    expect(pod.spec!.volumes!.map((v) => v.name)).not.toContain("token");
    expect(container.volumeMounts!.map((m) => m.name)).not.toContain("token");
  });

  it("mounts restored snapshots read-only instead of live claims, and no host paths", () => {
    expect(pod.spec!.volumes!.find((v) => v.name === "data")?.persistentVolumeClaim).toEqual({
      claimName: "pm-abc-checkout-data-restored",
      readOnly: true,
    });
    expect(pod.spec!.volumes!.find((v) => v.name === "host")).toEqual({
      name: "host",
      emptyDir: {},
    });
    expect(container.volumeMounts!.every((m) => m.readOnly)).toBe(true);
  });

  it("expires on its own", () => {
    expect(pod.spec!.activeDeadlineSeconds).toBe(600);
    expect(pod.spec!.restartPolicy).toBe("Never");
  });

  it("is isolated by a deny-all policy on its capture label", () => {
    const policy = buildDenyAllPolicy("pm-abc", "shop");
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: { "forensic.io/capture-id": "pm-abc" } },
      policyTypes: ["Ingress", "Egress"],
      ingress: [],
      egress: [],
    });
  });
});
