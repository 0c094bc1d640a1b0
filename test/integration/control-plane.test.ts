import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { AuditEntry } from "../../src/audit/chain.ts";
import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { makePodEvent } from "../fixtures/pod-events.ts";
import { eventually } from "../harness/eventually.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { enroll } from "./watcher-helpers.ts";
import { runBinScript, type CliRun } from "../harness/cli.ts";

const CLUSTER = "ctl";
const WEBHOOK = "https://hooks.example.com/services/T000/B000/very-secret-token";
let cluster: KubeCluster;
let restate: RestateHarness;
let dir: string;

/** The real CLI as a user runs it; asynchronous, since this process serves the endpoint. */
function cli(...args: string[]): Promise<CliRun> {
  return cliWithInput(undefined, ...args);
}

function cliWithInput(input: string | undefined, ...args: string[]): Promise<CliRun> {
  const connection = ["--cluster", CLUSTER, "--restate-url", restate.ingressUrl];
  return runBinScript("podmortem.js", [...args, ...connection, "--admin-url", restate.adminUrl], {
    env: { PATH: process.env.PATH, USER: "alice" },
    ...(input === undefined ? {} : { input }),
  });
}

beforeAll(async () => {
  cluster = await startKubeCluster();
  dir = await mkdtemp(path.join(os.tmpdir(), "podmortem-ctl-"));
  restate = await startRestate({
    services: createServices({
      kube: createKubeAccess(cluster.kubeConfig()),
      store: createDirStore(dir),
      metrics: createWorkflowMetrics(),
      evidencePrefix: undefined,
      identity: "test",
      version: "test",
      secretsKey: randomBytes(32),
    }),
  });
  await enroll(restate, CLUSTER);
}, 120_000);

afterAll(async () => {
  await restate?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
});

describe("runtime config through the CLI", () => {
  it("sets, shows with secrets redacted, refuses a bad document whole, keeps history and rolls back", async () => {
    // No watcher has enrolled this cluster: configuring it ahead takes --create.
    const set = await cli(
      "config",
      "set",
      "--create",
      "--set",
      "dedup.cooldownS=600",
      "--set",
      "capture.steps.forensicPod=false",
    );
    expect(set.stderr).toBe("");
    expect(set).toMatchObject({ code: 0, stdout: expect.stringContaining("version 1") });

    const file = path.join(dir, "with-sink.yaml");
    await writeFile(
      file,
      [
        "dedup:",
        "  cooldownS: 120",
        "notifications:",
        "  sinks:",
        "    - name: ops",
        "      type: slack",
        `      url: ${WEBHOOK}`,
        "",
      ].join("\n"),
    );
    expect((await cli("config", "set", "--file", file)).code).toBe(0);

    const shown = await cli("config", "get", "--json");
    expect(shown.code).toBe(0);
    expect(shown.stdout).not.toContain("very-secret-token");
    const record = JSON.parse(shown.stdout) as {
      version: number;
      updatedBy: string;
      config: { dedup: { cooldownS: number }; notifications: { sinks: Array<{ url: string }> } };
    };
    expect(record).toMatchObject({ version: 2, updatedBy: "alice (cli)" });
    expect(record.config.notifications.sinks[0]?.url).toBe("[redacted]");

    const watcherView = await createRestateLink({
      ingressUrl: restate.ingressUrl,
      authToken: undefined,
      requestTimeoutMs: 5000,
    }).getConfig(CLUSTER, undefined);
    expect(JSON.stringify(watcherView)).not.toContain("very-secret-token");
    expect(
      await createRestateLink({
        ingressUrl: restate.ingressUrl,
        authToken: undefined,
        requestTimeoutMs: 5000,
      }).getConfig(CLUSTER, 2),
    ).toEqual({ version: 2, changed: false });

    const bad = path.join(dir, "bad.json");
    await writeFile(
      bad,
      JSON.stringify({ batch: { maxEvents: 0 }, namespaces: { mode: "label" }, surprise: true }),
    );
    const refused = await cli("config", "set", "--file", bad);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("batch.maxEvents");
    expect(refused.stderr).toContain("namespaces.selector");
    expect(refused.stderr).toContain("surprise");
    expect(JSON.parse((await cli("config", "get", "--json")).stdout)).toMatchObject({ version: 2 });

    const history = await cli("config", "history");
    expect(history.stdout).toMatch(/^VERSION\s+UPDATED\s+BY\s+COMMENT\s+CHANGED/);
    expect(history.stdout.trim().split("\n")).toHaveLength(3);
    expect(history.stdout).toMatch(
      /^1 .*alice \(cli\)\s+dedup.cooldownS, capture.steps.forensicPod$/m,
    );
    const changes = (
      JSON.parse((await cli("config", "history", "--json")).stdout) as Array<{
        version: number;
        changes: Array<{ path: string; from: unknown; to: unknown }>;
      }>
    )[1]!.changes;
    expect(changes).toEqual([
      { path: "dedup.cooldownS", from: 600, to: 120 },
      { path: "capture.steps.forensicPod", from: false, to: true },
      {
        path: "notifications.sinks[0]",
        from: null,
        to: expect.objectContaining({ url: "[redacted]" }),
      },
    ]);
    expect(history.stdout).not.toContain("very-secret-token");
    const v1 = await cli("config", "get", "--version", "1", "--json");
    expect(JSON.parse(v1.stdout)).toMatchObject({
      version: 1,
      config: { dedup: { cooldownS: 600 } },
    });
    expect((await cli("config", "rollback", "--to", "1")).stdout).toContain("now version 3");
    expect(JSON.parse((await cli("config", "get", "--json")).stdout)).toMatchObject({
      version: 3,
      config: { dedup: { cooldownS: 600 } },
    });

    // Back to the version with the sink (its secret comes back from the history), then the
    // get → edit → set round trip: the "[redacted]" URL keeps the secret it stands for.
    expect((await cli("config", "rollback", "--to", "2")).stdout).toContain("now version 4");
    const shown4 = (await cli("config", "get")).stdout;
    expect(shown4).toContain("url: '[redacted]'");
    expect(shown4).not.toContain("very-secret-token");
    const edited = await cliWithInput(
      shown4.replace("cooldownS: 120", "cooldownS: 90"),
      "config",
      "set",
      "--file",
      "-",
      "--comment",
      "edited",
    );
    expect(edited).toMatchObject({ code: 0, stdout: expect.stringContaining("version 5") });
    const v5 = (
      JSON.parse((await cli("config", "history", "--json")).stdout) as Array<{
        version: number;
        changes: unknown[];
      }>
    ).find((h) => h.version === 5);
    expect(v5?.changes).toEqual([{ path: "dedup.cooldownS", from: 120, to: 90 }]);
    const broken = await cliWithInput("dedup: [", "config", "set", "--file", "-");
    expect(broken.code).toBe(3);
    expect(broken.stderr).toContain("stdin:");
  });
});

describe("the audit log", () => {
  it("records the backend's decisions, answers every filter, and detects a modified entry", async () => {
    const link = createRestateLink({
      ingressUrl: restate.ingressUrl,
      authToken: undefined,
      requestTimeoutMs: 5000,
    });
    const a = makePodEvent({ cluster: CLUSTER, namespace: "alpha", pod: "a-1", podUID: "ua" });
    const b = makePodEvent({
      cluster: CLUSTER,
      namespace: "beta",
      pod: "b-1",
      podUID: "ub",
      exitCode: 2,
    });
    await link.sendBatch([a, b]);
    const all = await eventually(async () => {
      const entries = JSON.parse((await cli("audit", "--json")).stdout) as AuditEntry[];
      expect(entries.filter((e) => e.kind === "capture.finished")).toHaveLength(2);
      return entries;
    }, 60_000);
    expect(new Set(all.map((e) => e.kind))).toEqual(
      new Set(["config.changed", "incident.seen", "capture.started", "capture.finished"]),
    );
    const configChanges = all
      .filter((e) => e.kind === "config.changed")
      .map((e) => e.detail as { version: number; changes: unknown[] });
    expect(configChanges.find((d) => d.version === 2)?.changes).toContainEqual({
      path: "notifications.sinks[0]",
      from: null,
      to: expect.objectContaining({ name: "ops", url: "[redacted]" }),
    });
    expect(JSON.stringify(all)).not.toContain("very-secret-token");
    const finished = all.find((e) => e.kind === "capture.finished" && e.namespace === "alpha")!;
    expect(finished.detail).toMatchObject({
      custody: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });

    const only = async (...filter: string[]) =>
      JSON.parse((await cli("audit", "--json", ...filter)).stdout) as AuditEntry[];
    expect((await only("--namespace", "alpha")).every((e) => e.namespace === "alpha")).toBe(true);
    expect(await only("--namespace", "alpha")).toHaveLength(3);
    expect((await only("--pod", "b-1")).map((e) => e.kind).sort()).toEqual([
      "capture.finished",
      "capture.started",
      "incident.seen",
    ]);
    expect((await only("--signature", a.signature)).every((e) => e.signature === a.signature)).toBe(
      true,
    );
    expect(await only("--kind", "config.changed")).toHaveLength(5);
    expect(await only("--since", "1h")).toHaveLength(all.length);
    expect(await only("--until", "2000-01-01T00:00:00Z")).toHaveLength(0);
    expect((await only("--limit", "2")).map((e) => e.seq)).toEqual(all.slice(-2).map((e) => e.seq));
    expect((await cli("audit")).stdout).toMatch(/^SEQ\s+AT\s+KIND/);

    const verified = await cli("audit", "verify");
    expect(verified).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`holds: ${all.length} entries`),
    });

    // An operator with admin access rewrites entry 2 through Restate's state API.
    const rows = await restate.query<{ key: string; value_utf8: string }>(
      `SELECT key, value_utf8 FROM state WHERE service_name = 'AuditLog' AND service_key = '${CLUSTER}'`,
    );
    const newState = Object.fromEntries(
      rows.map((row) => {
        let value = row.value_utf8;
        if (row.key === "entry:000000000002")
          value = value.replace('"detail":{', '"detail":{"forged":true,');
        return [row.key, Array.from(Buffer.from(value))];
      }),
    );
    const response = await fetch(`${restate.adminUrl}/services/AuditLog/state`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ object_key: CLUSTER, new_state: newState }),
    });
    expect(response.status).toBeLessThan(300);
    await eventually(async () => {
      const broken = await cli("audit", "verify");
      expect(broken.code).toBe(5);
      expect(broken.stdout).toContain("BROKEN at entry 2");
    }, 10_000);
  });
});
