import type { V1Container, V1NetworkPolicy, V1Pod, V1Volume } from "@kubernetes/client-node";

import { boundedName } from "./names.ts";
import {
  CAPTURE_ID_LABEL,
  MANAGED_BY_LABEL,
  podmortemLabels,
  ROLE_LABEL,
} from "./podmortem-labels.ts";

export const FORENSIC_ANNOTATIONS = {
  logSha256: "forensic.io/log-sha256",
  bundleSha256: "forensic.io/bundle-sha256",
  evidence: "forensic.io/evidence",
  snapshots: "forensic.io/snapshots",
  checkpoint: "forensic.io/checkpoint",
  signature: "forensic.io/signature",
  sourcePod: "forensic.io/source-pod",
  expiresAt: "forensic.io/expires-at",
} as const;

export const FORENSIC_LABELS = {
  captureId: CAPTURE_ID_LABEL,
  role: ROLE_LABEL,
  managedBy: MANAGED_BY_LABEL,
} as const;

export type ForensicPodInput = {
  source: V1Pod;
  captureId: string;
  namespace: string;
  ttlS: number;
  annotations: Record<string, string>;
  /** Claims to mount instead of the source's, by source claim name (restored from snapshots). */
  restoredClaims: Record<string, string>;
};

const sleepCommand = (ttlS: number) => ["sleep", String(ttlS)];

function inertContainer(container: V1Container, ttlS: number): V1Container {
  return {
    name: container.name,
    image: container.image,
    imagePullPolicy: "IfNotPresent",
    command: sleepCommand(ttlS),
    args: [],
    ...(container.env ? { env: container.env } : {}),
    ...(container.envFrom ? { envFrom: container.envFrom } : {}),
    ...(container.volumeMounts
      ? { volumeMounts: container.volumeMounts.map((m) => ({ ...m, readOnly: true })) }
      : {}),
    ...(container.volumeDevices ? { volumeDevices: container.volumeDevices } : {}),
    ...(container.workingDir ? { workingDir: container.workingDir } : {}),
    resources: container.resources ?? {},
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      ...(container.securityContext?.runAsUser !== undefined
        ? { runAsUser: container.securityContext.runAsUser }
        : {}),
      ...(container.securityContext?.runAsGroup !== undefined
        ? { runAsGroup: container.securityContext.runAsGroup }
        : {}),
    },
  };
}

function forensicVolume(
  volume: V1Volume,
  restoredClaims: Record<string, string>,
): V1Volume | undefined {
  const claim = volume.persistentVolumeClaim?.claimName;
  if (claim !== undefined) {
    const restored = restoredClaims[claim];
    // Never the live claim: the copy must not touch the data the workload still writes.
    return restored
      ? { name: volume.name, persistentVolumeClaim: { claimName: restored, readOnly: true } }
      : { name: volume.name, emptyDir: {} };
  }
  // The service account token of the source is not handed on.
  if (volume.projected?.sources?.some((source) => source.serviceAccountToken)) return undefined;
  if (volume.hostPath) return { name: volume.name, emptyDir: {} };
  return volume;
}

/**
 * A copy of the crashed pod that engineers can exec into: the same images, env and volumes
 * (restored snapshots instead of live claims), but its command a sleep, no probes, no labels a
 * Service could select, no service account token, every capability dropped, and a deadline.
 */
export function buildForensicPod(input: ForensicPodInput): V1Pod {
  const spec = input.source.spec ?? { containers: [] };
  const volumes = (spec.volumes ?? [])
    .map((volume) => forensicVolume(volume, input.restoredClaims))
    .filter((volume): volume is V1Volume => volume !== undefined);
  const kept = new Set(volumes.map((volume) => volume.name));
  // A block device can only come from a claim: one left as an emptyDir is not attached.
  const devices = new Set(
    volumes.filter((volume) => volume.persistentVolumeClaim).map((volume) => volume.name),
  );
  const containers = spec.containers.map((container) => {
    const copy = inertContainer(container, input.ttlS);
    if (copy.volumeMounts) copy.volumeMounts = copy.volumeMounts.filter((m) => kept.has(m.name));
    if (copy.volumeDevices)
      copy.volumeDevices = copy.volumeDevices.filter((d) => devices.has(d.name));
    return copy;
  });
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: forensicPodName(input.captureId),
      namespace: input.namespace,
      labels: podmortemLabels("forensic-copy", input.captureId),
      annotations: input.annotations,
    },
    spec: {
      containers,
      volumes,
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      activeDeadlineSeconds: input.ttlS,
      terminationGracePeriodSeconds: 0,
      ...(spec.imagePullSecrets ? { imagePullSecrets: spec.imagePullSecrets } : {}),
      ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
      ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
      securityContext: {
        runAsNonRoot: spec.securityContext?.runAsNonRoot,
        ...(spec.securityContext?.runAsUser !== undefined
          ? { runAsUser: spec.securityContext.runAsUser }
          : {}),
        ...(spec.securityContext?.fsGroup !== undefined
          ? { fsGroup: spec.securityContext.fsGroup }
          : {}),
        seccompProfile: { type: "RuntimeDefault" },
      },
    },
  };
}

export function forensicPodName(captureId: string): string {
  return boundedName(`forensic-${captureId}`);
}

export function denyAllPolicyName(captureId: string): string {
  return boundedName(`forensic-${captureId}-deny-all`);
}

/** Denies all ingress and egress of the capture's pods; created before the pod starts. */
export function buildDenyAllPolicy(captureId: string, namespace: string): V1NetworkPolicy {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: denyAllPolicyName(captureId),
      namespace,
      labels: podmortemLabels("forensic-copy", captureId),
    },
    spec: {
      podSelector: { matchLabels: { [FORENSIC_LABELS.captureId]: captureId } },
      policyTypes: ["Ingress", "Egress"],
      ingress: [],
      egress: [],
    },
  };
}
