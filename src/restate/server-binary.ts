import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { PodmortemError } from "../errors.ts";

/** The restate-server binary that the npm package `@restatedev/restate-server` ships for this platform. */
export function resolveRestateServerBinary(): string {
  const pkg = `@restatedev/restate-server-${process.platform}-${process.arch}`;
  try {
    const manifest = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
    const binary = path.join(path.dirname(manifest), "bin", "restate-server");
    if (existsSync(binary)) return binary;
  } catch {
    // reported below
  }
  throw new PodmortemError(
    "PREREQUISITE_MISSING",
    `restate-server is not installed (${pkg}): run "npm ci" in the podmortem folder`,
  );
}
