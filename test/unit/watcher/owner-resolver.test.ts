import type { V1OwnerReference } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";

import {
  createOwnerResolver,
  DEFAULT_OWNER_CACHE_TTL_MS,
} from "../../../watcher/pipeline/owner-resolver.ts";
import { makePod } from "../../fixtures/pods.ts";

const owners: Record<string, unknown> = {
  "rs-1": {
    metadata: {
      name: "checkout-7d9f8b6c5",
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          name: "checkout",
          uid: "dep-1",
          controller: true,
        },
      ],
    },
  },
  "dep-1": { metadata: { name: "checkout", annotations: { "forensic.io/capture": "false" } } },
  "job-1": {
    metadata: {
      name: "report-27800000",
      ownerReferences: [
        {
          apiVersion: "batch/v1beta1",
          kind: "CronJob",
          name: "report",
          uid: "cj-1",
          controller: true,
        },
      ],
    },
  },
  "cj-1": { metadata: { name: "report" } },
};

function podOwnedBy(kind: string, name: string, uid: string) {
  const pod = makePod({ owner: { kind, name } });
  pod.metadata!.ownerReferences![0]!.uid = uid;
  return pod;
}

describe("owner resolution", () => {
  it("sees an opt-out added to a Deployment once its cached entry is older than the TTL", async () => {
    let annotations: Record<string, string> = {};
    const resolver = createOwnerResolver(async (ref: V1OwnerReference) =>
      ref.uid === "dep-1" ? { metadata: { name: "checkout", annotations } } : owners[ref.uid],
    );
    const pod = podOwnedBy("ReplicaSet", "checkout-7d9f8b6c5", "rs-1");
    expect((await resolver.resolve(pod, 0)).optOut).toBe(false);
    annotations = { "forensic.io/capture": "false" };
    expect((await resolver.resolve(pod, DEFAULT_OWNER_CACHE_TTL_MS - 1)).optOut).toBe(false);
    expect((await resolver.resolve(pod, DEFAULT_OWNER_CACHE_TTL_MS)).optOut).toBe(true);
    expect(DEFAULT_OWNER_CACHE_TTL_MS).toBe(60_000);

    const uncached = createOwnerResolver(
      async (ref: V1OwnerReference) =>
        ref.uid === "dep-1" ? { metadata: { name: "checkout", annotations } } : owners[ref.uid],
      { ttlMs: 0 },
    );
    annotations = {};
    expect((await uncached.resolve(pod, 5)).optOut).toBe(false);
    annotations = { "forensic.io/capture": "false" };
    expect((await uncached.resolve(pod, 5)).optOut).toBe(true);
  });

  it("names the Deployment behind a ReplicaSet and honours its opt-out", async () => {
    const fetched: string[] = [];
    const resolver = createOwnerResolver(async (ref: V1OwnerReference) => {
      fetched.push(ref.uid);
      return owners[ref.uid];
    });
    const pod = podOwnedBy("ReplicaSet", "checkout-7d9f8b6c5", "rs-1");
    expect(await resolver.resolve(pod, 0)).toEqual({
      workload: { kind: "Deployment", name: "checkout" },
      optOut: true,
    });
    await resolver.resolve(pod, 1);
    expect(fetched).toEqual(["rs-1", "dep-1"]);
  });

  it("names the CronJob behind a Job", async () => {
    const resolver = createOwnerResolver(async (ref) => owners[ref.uid]);
    const pod = podOwnedBy("Job", "report-27800000", "job-1");
    expect(await resolver.resolve(pod, 0)).toEqual({
      workload: { kind: "CronJob", name: "report" },
      optOut: false,
    });
  });

  it("honours the opt-out on the pod itself", async () => {
    const resolver = createOwnerResolver(async () => undefined);
    const pod = makePod({ name: "bare" });
    pod.metadata!.annotations = { "forensic.io/capture": "false" };
    expect(await resolver.resolve(pod, 0)).toEqual({
      workload: { kind: "Pod", name: "bare" },
      optOut: true,
    });
  });

  it("falls back to the pod's own references when owners cannot be read", async () => {
    const resolver = createOwnerResolver(async () => {
      throw new Error("403 forbidden");
    });
    const pod = podOwnedBy("ReplicaSet", "checkout-7d9f8b6c5", "rs-1");
    expect((await resolver.resolve(pod, 0)).workload).toEqual({
      kind: "Deployment",
      name: "checkout",
    });
  });
});
