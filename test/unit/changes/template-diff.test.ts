import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";

import { describeChanges } from "../../../src/changes/changes-document.ts";
import { diffTemplates } from "../../../src/changes/template-diff.ts";

const before: V1PodTemplateSpec = {
  spec: {
    containers: [
      {
        name: "app",
        image: "registry.example/checkout:1.2.3",
        env: [
          { name: "DB_PASSWORD", value: "old-secret-value" },
          { name: "LOG_LEVEL", value: "info" },
        ],
        resources: { limits: { memory: "512Mi" } },
        livenessProbe: { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 10 },
      },
    ],
    volumes: [{ name: "config", configMap: { name: "checkout-v1" } }],
  },
};

const after: V1PodTemplateSpec = {
  spec: {
    containers: [
      {
        name: "app",
        image: "registry.example/checkout:1.3.0",
        env: [
          { name: "DB_PASSWORD", value: "new-secret-value" },
          { name: "FEATURE_X", value: "on" },
        ],
        resources: { limits: { memory: "256Mi" } },
        command: ["/app/server", "--fast"],
        livenessProbe: { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 2 },
      },
    ],
    volumes: [{ name: "config", configMap: { name: "checkout-v2" } }],
  },
};

describe("diffTemplates", () => {
  it("names changed images, env names, resources, command, probes and volumes", () => {
    const details = diffTemplates(before, after).map((c) => `${c.kind}: ${c.detail}`);
    expect(details).toEqual([
      "image: image registry.example/checkout:1.2.3 → registry.example/checkout:1.3.0",
      "env: env added: FEATURE_X",
      "env: env removed: LOG_LEVEL",
      "env: env changed (values not shown): DB_PASSWORD",
      "resources: resources requests none, limits memory=512Mi → requests none, limits memory=256Mi",
      "command: command/args image default → /app/server --fast",
      "probe: livenessProbe GET /healthz:8080 (period 10s) → GET /healthz:8080 (period 2s)",
      "volume: volume changed: config",
    ]);
  });

  it("never shows an env value", () => {
    const text = JSON.stringify(diffTemplates(before, after));
    expect(text).not.toContain("secret-value");
    expect(text).not.toContain("info");
  });

  it("finds nothing between equal templates, whatever the key order", () => {
    const reordered = JSON.parse(JSON.stringify(before)) as V1PodTemplateSpec;
    reordered.spec!.containers[0]!.livenessProbe = {
      periodSeconds: 10,
      httpGet: { port: 8080, path: "/healthz" },
    };
    expect(diffTemplates(before, reordered)).toEqual([]);
  });
});

describe("describeChanges", () => {
  const revision = (n: number, template: V1PodTemplateSpec, createdAt: string) => ({
    name: `checkout-${n}`,
    revision: n,
    createdAt,
    template,
  });

  it("says when the crash came after the rollout and what the rollout changed", () => {
    const doc = describeChanges({
      owner: { kind: "Deployment", name: "checkout" },
      current: revision(7, after, "2026-11-22T10:00:00.000Z"),
      previous: revision(6, before, "2026-11-20T09:00:00.000Z"),
      crashedAt: "2026-11-22T10:00:42Z",
    });
    expect(doc.crashAfterRolloutS).toBe(42);
    expect(doc.summary).toMatch(
      /^The crash came 42 s after the rollout to revision 7, which changed since revision 6: app image registry\.example\/checkout:1\.2\.3 → registry\.example\/checkout:1\.3\.0; .* and 5 more\.$/,
    );
    expect(doc.details).toHaveLength(8);
    expect(doc.current).toEqual({
      name: "checkout-7",
      revision: 7,
      createdAt: "2026-11-22T10:00:00.000Z",
    });
  });

  it("says there is nothing to compare for a first revision", () => {
    const doc = describeChanges({
      owner: { kind: "StatefulSet", name: "db" },
      current: revision(1, after, "2026-11-22T10:00:00Z"),
      previous: undefined,
      crashedAt: "2026-11-22T12:00:00Z",
    });
    expect(doc.summary).toBe(
      "The crash came 2 h after the rollout to revision 1; there is no earlier revision to compare.",
    );
  });
});
