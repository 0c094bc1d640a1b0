import { afterEach, describe, expect, it, vi } from "vitest";

import { EXIT } from "../../../cli/exit-codes.ts";
import { runCli } from "../../../cli/main.ts";

function capture() {
  let stdout = "";
  let stderr = "";
  vi.spyOn(process.stdout, "write").mockImplementation(
    (chunk) => ((stdout += String(chunk)), true),
  );
  vi.spyOn(process.stderr, "write").mockImplementation(
    (chunk) => ((stderr += String(chunk)), true),
  );
  return { out: () => stdout, err: () => stderr };
}

afterEach(() => {
  vi.restoreAllMocks();
});

const COMMANDS = [
  "config",
  "audit",
  "export",
  "forensic",
  "register",
  "dev",
  "watcher",
  "workflows",
  "incidents",
  "show",
];

describe("podmortem --help", () => {
  it("lists every command", async () => {
    const io = capture();
    expect(await runCli(["--help"])).toBe(EXIT.ok);
    for (const name of COMMANDS) expect(io.out()).toContain(`  ${name}`);
  });

  it.each([
    ["config"],
    ["config", "set"],
    ["audit"],
    ["audit", "verify"],
    ["export"],
    ["forensic", "export"],
    ["forensic", "show"],
    ["incidents"],
    ["show"],
    ["register"],
  ])("answers %s … --help with a summary and usage", async (...argv) => {
    const io = capture();
    expect(await runCli([...argv, "--help"])).toBe(EXIT.ok);
    expect(io.out()).toMatch(/\n\nusage: /);
  });

  it("exits 2 on an unknown command or subcommand", async () => {
    const io = capture();
    expect(await runCli(["frobnicate"])).toBe(EXIT.usage);
    expect(io.err()).toContain('unknown command "frobnicate"');
    expect(await runCli(["config", "frobnicate"])).toBe(EXIT.usage);
    expect(await runCli(["audit", "extra"])).toBe(EXIT.usage);
  });

  it("exits 3 on a bad flag value, before any network call", async () => {
    const io = capture();
    expect(await runCli(["audit", "--limit", "0"])).toBe(EXIT.invalidInput);
    expect(await runCli(["audit", "verify", "--anchor", "nope"])).toBe(EXIT.invalidInput);
    expect(io.err()).toContain("--anchor");
  });
});
