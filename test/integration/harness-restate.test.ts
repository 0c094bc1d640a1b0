import * as restate from "@restatedev/restate-sdk";
import * as clients from "@restatedev/restate-sdk-clients";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { eventually } from "../harness/eventually.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";

let stepRuns = 0;

const Counter = restate.object({
  name: "Counter",
  handlers: {
    add: async (ctx: restate.ObjectContext, by: number): Promise<number> => {
      const next = ((await ctx.get<number>("count")) ?? 0) + by;
      await ctx.run("count step", () => void (stepRuns += 1));
      ctx.set("count", next);
      return next;
    },
    get: restate.handlers.object.shared(
      async (ctx: restate.ObjectSharedContext): Promise<number> =>
        (await ctx.get<number>("count")) ?? 0,
    ),
  },
});

let harness: RestateHarness;

beforeAll(async () => {
  harness = await startRestate({ services: [Counter] });
  console.log(JSON.stringify({ restateStartupMs: harness.startupMs }));
});
afterAll(async () => harness?.[Symbol.asyncDispose]());

function counter(key: string) {
  return clients.connect({ url: harness.ingressUrl }).objectClient<typeof Counter>(Counter, key);
}

describe("the Restate harness", () => {
  it("serves the given services, registered, on loopback", async () => {
    expect(harness.ingressUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(harness.endpointUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const services = await harness.query<{ name: string }>("SELECT name FROM sys_service");
    expect(services.map((service) => service.name)).toContain("Counter");
  });

  it("runs handlers with durable steps and shows their state and journal through SQL", async () => {
    const before = stepRuns;
    expect(await counter("a").add(2)).toBe(2);
    expect(await counter("a").add(3)).toBe(5);
    expect(stepRuns - before).toBe(2);

    const state = await harness.query<{ key: string; value_utf8: string }>(
      "SELECT key, value_utf8 FROM state WHERE service_name = 'Counter' AND service_key = 'a'",
    );
    expect(state).toEqual([{ key: "count", value_utf8: "5" }]);
    const steps = await harness.query<{ name: string }>(
      "SELECT j.name FROM sys_journal j JOIN sys_invocation i ON j.id = i.id " +
        "WHERE i.target_service_name = 'Counter' AND j.entry_type = 'Command: Run'",
    );
    expect(steps.map((step) => step.name)).toContain("count step");
  });

  it("keeps state across a restate-server restart on the same ports", async () => {
    await counter("b").add(7);
    await harness.restartServer();
    expect(await counter("b").get()).toBe(7);
    expect(await counter("b").add(1)).toBe(8);
  });

  it("delivers an invocation sent while the endpoint is down once it is back", async () => {
    await harness.stopEndpoint();
    const send = clients
      .connect({ url: harness.ingressUrl })
      .objectSendClient<typeof Counter>(Counter, "c");
    await send.add(4);
    await eventually(async () => {
      const [row] = await harness.query<{ retry_count: number }>(
        "SELECT retry_count FROM sys_invocation WHERE target_service_key = 'c'",
      );
      expect(row?.retry_count).toBeGreaterThan(0);
    });
    await harness.startEndpoint();
    await eventually(async () => expect(await counter("c").get()).toBe(4), 30_000);
  });

  it("answers nothing while the server is stopped, and everything once it is started", async () => {
    await harness.stopServer();
    await expect(fetch(`${harness.adminUrl}/health`)).rejects.toThrow();
    await harness.startServer();
    expect(await counter("b").get()).toBe(8);
  });
});
