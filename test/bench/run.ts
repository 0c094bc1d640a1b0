import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";

/** Runs every benchmark (or those whose file name contains the first argument), JSON per line. */
const filter = process.argv[2] ?? "";
const dir = import.meta.dirname;
const benches = readdirSync(dir)
  .filter((file) => file.endsWith(".bench.ts") && file.includes(filter))
  .sort();
let failed = 0;
for (const file of benches) {
  const result = spawnSync(process.execPath, ["--expose-gc", path.join(dir, file)], {
    env: { RESTATE_LOGGING: "ERROR", ...process.env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (result.status !== 0) failed += 1;
}
process.exitCode = failed === 0 ? 0 : 1;
