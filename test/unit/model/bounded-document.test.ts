import { describe, expect, it } from "vitest";

import { parseDocument, patchFromAssignments } from "../../../cli/commands/config.ts";
import { PodmortemError } from "../../../src/errors.ts";
import {
  DocumentRefusedError,
  MAX_DOCUMENT_BYTES,
  parseBoundedYaml,
} from "../../../src/model/bounded-document.ts";

/** The classic: nine levels of nine aliases, 9^9 = 387,420,489 "lol"s once expanded. */
function billionLaughs(): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let level = 1; level <= 9; level++) {
    const refs = Array.from({ length: 9 }, () => `*a${level - 1}`).join(",");
    lines.push(`a${level}: &a${level} [${refs}]`);
  }
  return `${lines.join("\n")}\n`;
}

/** Few aliases, deep: two per level, 2^30 leaves; under the alias cap, over the size cap. */
function narrowBomb(): string {
  const lines = ["b0: &b0 [x]"];
  for (let level = 1; level <= 30; level++)
    lines.push(`b${level}: &b${level} [*b${level - 1}, *b${level - 1}]`);
  return `${lines.join("\n")}\n`;
}

describe("bounded config documents", () => {
  it("refuses a billion-laughs document in milliseconds, as bad input in one sentence", () => {
    const started = performance.now();
    const error = (() => {
      try {
        parseDocument("bomb.yaml", billionLaughs());
      } catch (e) {
        return e;
      }
    })();
    const elapsedMs = performance.now() - started;
    expect(error).toBeInstanceOf(PodmortemError);
    expect((error as PodmortemError).code).toBe("INPUT_INVALID");
    expect((error as PodmortemError).message).toBe(
      "bomb.yaml uses more than 64 aliases (*name); a config document needs few or none",
    );
    expect(elapsedMs).toBeLessThan(100);
  });

  it("refuses a deep bomb with few aliases by its expanded size", () => {
    expect(() => parseBoundedYaml(narrowBomb())).toThrow(
      new DocumentRefusedError("expands to more than 200000 nodes once its aliases are resolved"),
    );
  });

  it("refuses a document over the size cap before parsing it", () => {
    const big = `detection:\n  reasons:\n${"    - OOMKilled\n".repeat(MAX_DOCUMENT_BYTES / 16 + 1)}`;
    expect(() => parseDocument("-", big)).toThrow(
      "stdin is 1.0 MiB, more than the 1 MiB a config document may have",
    );
  });

  it("reads ordinary documents with a few anchors as before", () => {
    const text = [
      "events: &events [captured, failed]",
      "notifications:",
      "  sinks:",
      "    - { name: a, type: webhook, url: 'https://a.example/x', events: *events }",
      "    - { name: b, type: webhook, url: 'https://b.example/x', events: *events }",
    ].join("\n");
    expect(parseBoundedYaml(text)).toMatchObject({
      notifications: {
        sinks: [{ events: ["captured", "failed"] }, { events: ["captured", "failed"] }],
      },
    });
    expect(parseBoundedYaml('{"dedup": {"cooldownS": 600}}')).toEqual({
      dedup: { cooldownS: 600 },
    });
  });

  it("bounds --set values the same way and refuses prototype paths", () => {
    expect(() =>
      patchFromAssignments([`detection.reasons=${billionLaughs().replaceAll("\n", " ")}`]),
    ).toThrow(PodmortemError);
    expect(() => patchFromAssignments(["__proto__.polluted=1"])).toThrow(
      "--set __proto__.polluted: not a config path",
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
