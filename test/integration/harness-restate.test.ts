import * as clients from "@restatedev/restate-sdk-clients";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Cluster, type ClusterObject } from "../../workflows/cluster.object.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";

let restate: RestateHarness;

beforeAll(async () => {
  restate = await startRestate({ services: [Cluster] });
});
afterAll(async () => restate?.[Symbol.asyncDispose]());

describe("the Restate harness", () => {
  it("serves registered services and keeps their state across a server restart", async () => {
    const ingress = clients.connect({ url: restate.ingressUrl });
    const cluster = ingress.objectClient<ClusterObject>({ name: "Cluster" }, "harness");
    await cluster.enroll({ clusterUID: "uid-1" });
    await restate.restartServer();
    const described = await cluster.describe();
    expect(described.enrollment?.clusterUID).toBe("uid-1");
    const rows = await restate.query<{ key: string }>(
      "SELECT key FROM state WHERE service_name = 'Cluster' AND service_key = 'harness'",
    );
    expect(rows.map((row) => row.key)).toContain("enrollment");
  });
});
