import { describe, expect, it } from "vitest";

import { parseTimeout } from "../../../cli/commands/forensic-capture.ts";
import { describeFailure } from "../../../cli/failures.ts";

describe("kubectl forensic capture --timeout", () => {
  it("reads seconds, minutes and hours", () => {
    expect([
      parseTimeout("90s"),
      parseTimeout("5m"),
      parseTimeout("1h"),
      parseTimeout("30"),
    ]).toEqual([90_000, 300_000, 3_600_000, 30_000]);
  });

  it("refuses anything else in one sentence, exit 3", () => {
    let thrown: unknown;
    try {
      parseTimeout("soon");
    } catch (error) {
      thrown = error;
    }
    expect(describeFailure(thrown)).toEqual({
      message: '--timeout: "soon" is not a duration like 90s, 5m or 1h',
      exit: 3,
    });
  });
});
