import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { SECRETS_KEY_BYTES } from "../../src/notifications/sealed-secret.ts";

/**
 * `podmortem dev` seals inline sink secrets like a deployment does, with a key of its own kept
 * beside its Restate data (0600): a restart with the same --data-dir opens what it sealed before.
 */
export async function devSecretsKey(dataDir: string): Promise<string> {
  const file = path.join(dataDir, "secrets.key");
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = randomBytes(SECRETS_KEY_BYTES).toString("base64");
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${key}\n`, { mode: 0o600, flag: "wx" });
  return key;
}
