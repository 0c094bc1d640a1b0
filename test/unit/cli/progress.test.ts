import { describe, expect, it } from "vitest";

import { createProgress } from "../../../cli/progress.ts";

const MiB = 1024 * 1024;

function fakeClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("download progress", () => {
  it("in a log: a line per file and per step, then the total and the time", () => {
    const clock = fakeClock();
    let text = "";
    const progress = createProgress({
      tty: false,
      write: (s) => (text += s),
      now: clock.now,
      stepBytes: 10 * MiB,
    });
    progress.onBytes("custody.json", 3000);
    for (let i = 0; i < 25; i++) {
      clock.advance(100);
      progress.onBytes("checkpoint-app.tar", MiB);
    }
    progress.done();
    expect(text.split("\n")).toEqual([
      "downloading custody.json",
      "downloading checkpoint-app.tar",
      "  checkpoint-app.tar: 10.0 MiB (10.0 MiB in all, 10.0 MiB/s)",
      "  checkpoint-app.tar: 20.0 MiB (20.0 MiB in all, 10.0 MiB/s)",
      "downloaded 25.0 MiB in 2.5 s",
      "",
    ]);
  });

  it("on a terminal: one line rewritten in place at most five times a second, cleared at the end", () => {
    const clock = fakeClock();
    const writes: string[] = [];
    const progress = createProgress({ tty: true, write: (s) => writes.push(s), now: clock.now });
    clock.advance(1000);
    progress.onBytes("crash.log", MiB);
    progress.onBytes("crash.log", MiB);
    clock.advance(250);
    progress.onBytes("crash.log", MiB);
    progress.done();
    expect(writes).toHaveLength(4);
    expect(writes[0]).toBe("\r\x1b[2K  crash.log: 1.0 MiB (1.0 MiB in all, 1.0 MiB/s)");
    expect(writes[1]).toContain("crash.log: 3.0 MiB");
    expect(writes[2]).toBe("\r\x1b[2K");
    expect(writes[3]).toBe("downloaded 3.0 MiB in 1.3 s\n");
  });
});
