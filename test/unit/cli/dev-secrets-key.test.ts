import { mkdtemp, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { devSecretsKey } from "../../../cli/dev/secrets-key.ts";
import { parseSecretsKey } from "../../../src/notifications/sealed-secret.ts";

describe("podmortem dev's secrets key", () => {
  it("is made once, readable only by its owner, and the same on the next start", async () => {
    const dir = path.join(await mkdtemp(path.join(os.tmpdir(), "podmortem-devkey-")), "data");
    const first = await devSecretsKey(dir);
    expect(parseSecretsKey(first)).toHaveLength(32);
    expect((await stat(path.join(dir, "secrets.key"))).mode & 0o777).toBe(0o600);
    expect(await devSecretsKey(dir)).toBe(first);
  });
});
