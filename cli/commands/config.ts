import { open } from "node:fs/promises";
import { parseArgs } from "node:util";
import yaml from "js-yaml";

import { PodmortemError } from "../../src/errors.ts";
import {
  DocumentRefusedError,
  MAX_DOCUMENT_BYTES,
  parseBoundedYaml,
} from "../../src/model/bounded-document.ts";
import type { ClusterObject } from "../../workflows/cluster.object.ts";
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  callRestate,
  connectionFrom,
  table,
  unknownCluster,
} from "../connection.ts";
import { EXIT, type ExitCode } from "../exit-codes.ts";
import type { Command } from "../main.ts";

const FORBIDDEN_PATH_PARTS = new Set(["__proto__", "prototype", "constructor"]);

/** `--set a.b.c=value`: the value is parsed as YAML, so numbers, booleans and lists work. */
export function patchFromAssignments(assignments: string[]): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const at = assignment.indexOf("=");
    if (at <= 0)
      throw new PodmortemError("INPUT_INVALID", `--set ${assignment}: expected path=value`);
    const path = assignment.slice(0, at).split(".");
    if (path.some((part) => part === "" || FORBIDDEN_PATH_PARTS.has(part)))
      throw new PodmortemError("INPUT_INVALID", `--set ${path.join(".")}: not a config path`);
    let node = patch;
    for (const part of path.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[path.at(-1)!] = parseDocument(`--set ${path.join(".")}`, assignment.slice(at + 1));
  }
  return patch;
}

const tooBig = (source: string) =>
  new PodmortemError(
    "INPUT_INVALID",
    `${source}: more than the ${MAX_DOCUMENT_BYTES / 1024 / 1024} MiB a config document may have`,
  );

/** The document's text, read no further than the size cap (a file or `-` for stdin). */
export async function readDocument(source: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const name = source === "-" ? "stdin" : source;
  const file = source === "-" ? undefined : await open(source).catch(unreadable(source));
  const input = file ? file.createReadStream() : process.stdin;
  try {
    for await (const chunk of input) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      size += bytes.length;
      if (size > MAX_DOCUMENT_BYTES) throw tooBig(name);
      chunks.push(bytes);
    }
  } finally {
    await file?.close().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function unreadable(source: string) {
  return (error: NodeJS.ErrnoException): never => {
    throw new PodmortemError(
      "INPUT_INVALID",
      `${source}: cannot read it (${error.code ?? error.message})`,
    );
  };
}

/**
 * YAML (and so JSON) within the document limits; a syntax error, a size over the cap or an alias
 * bomb is bad input, named in one sentence.
 */
export function parseDocument(source: string, text: string): unknown {
  const name = source === "-" ? "stdin" : source;
  try {
    return parseBoundedYaml(text);
  } catch (error) {
    if (error instanceof DocumentRefusedError)
      throw new PodmortemError("INPUT_INVALID", `${name} ${error.message}`);
    const reason =
      error instanceof yaml.YAMLException ? error.message.split("\n")[0] : String(error);
    throw new PodmortemError("INPUT_INVALID", `${name}: ${reason}`);
  }
}

/** The changed paths of a version, short enough for a table cell. */
export function changedSummary(
  changes: ReadonlyArray<{ path: string }> | undefined,
  more = 0,
  width = 60,
): string {
  if (!changes) return "-";
  const paths = changes.map((c) => c.path);
  const extra = more > 0 ? ` +${more} more` : "";
  const text = paths.join(", ") || "(no change)";
  return text.length + extra.length <= width
    ? `${text}${extra}`
    : `${text.slice(0, width - extra.length - 1)}…${extra}`;
}

const SUBCOMMANDS = ["get", "set", "history", "rollback"];

export const configCommand: Command = {
  summary:
    "Read and change the runtime config held in Restate (validated, versioned, with history).",
  usage: [
    "podmortem config get [--version N] [--json]",
    "podmortem config set (--file config.yaml|config.json|- | --set path=value ...) [--comment TEXT]",
    "podmortem config history [--json]   (who changed what and when; secrets redacted)",
    "podmortem config rollback --to VERSION",
    "  --create             let set configure a cluster no watcher has enrolled yet (else refused, exit 3)",
    CONNECTION_USAGE,
    "  a refused document names every bad field and leaves the current config in force (exit 3);",
    '  a secret shown as "[redacted]" by get keeps its value when the document is set again',
  ].join("\n"),
  async run(args): Promise<ExitCode> {
    const [sub, ...rest] = args;
    const { values } = parseArgs({
      args: rest,
      options: {
        ...CONNECTION_OPTIONS,
        file: { type: "string", short: "f" },
        set: { type: "string", multiple: true },
        comment: { type: "string" },
        to: { type: "string" },
        version: { type: "string" },
        create: { type: "boolean", default: false },
      },
    });
    const { ingress, cluster, ingressUrl } = connectionFrom(values);
    const call = <T>(request: PromiseLike<T>) => callRestate(request, ingressUrl);
    const object = ingress.objectClient<ClusterObject>({ name: "Cluster" }, cluster);
    // A mistyped --cluster would otherwise read defaults, or create a cluster nobody runs.
    const described = SUBCOMMANDS.includes(sub ?? "") ? await call(object.describe()) : undefined;
    if (
      described &&
      !described.enrollment &&
      described.configVersion === 0 &&
      !(sub === "set" && values.create)
    )
      throw unknownCluster(cluster);
    const author = process.env.USER ? `${process.env.USER} (cli)` : "cli";
    const out = (text: string) => process.stdout.write(text);
    switch (sub) {
      case "get": {
        const wanted = values.version === undefined ? undefined : Number(values.version);
        if (wanted !== undefined && !Number.isInteger(wanted))
          throw new PodmortemError("INPUT_INVALID", "--version must be a whole number");
        const record =
          wanted === undefined
            ? await call(object.showConfig())
            : (await call(object.history())).find((h) => h.version === wanted);
        if (!record)
          throw new PodmortemError(
            "INPUT_INVALID",
            `version ${wanted} is not in the kept history (podmortem config history lists it)`,
          );
        if (values.json) out(`${JSON.stringify(record, null, 2)}\n`);
        else
          out(
            `# version ${record.version}, ${record.updatedAt} by ${record.updatedBy}\n${yaml.dump(record.config)}`,
          );
        return EXIT.ok;
      }
      case "set": {
        if (!values.file && !values.set?.length) {
          process.stderr.write("podmortem config set: give --file or --set\n");
          return EXIT.usage;
        }
        const answer = values.file
          ? await call(
              object.setConfig({
                config: parseDocument(values.file, await readDocument(values.file)),
                author,
                comment: values.comment ?? `from ${values.file}`,
              }),
            )
          : await call(
              object.patchConfig({
                patch: patchFromAssignments(values.set ?? []),
                author,
                comment: values.comment ?? "",
              }),
            );
        out(
          values.json
            ? `${JSON.stringify(answer)}\n`
            : `config version ${answer.version} is in force for ${cluster}\n`,
        );
        return EXIT.ok;
      }
      case "history": {
        const history = await call(object.history());
        if (values.json) out(`${JSON.stringify(history, null, 2)}\n`);
        else
          out(
            table(
              ["VERSION", "UPDATED", "BY", "COMMENT", "CHANGED"],
              history.map((h) => [
                String(h.version),
                h.updatedAt,
                h.updatedBy,
                h.comment,
                changedSummary(h.changes, h.moreChanges),
              ]),
            ),
          );
        return EXIT.ok;
      }
      case "rollback": {
        const version = Number(values.to);
        if (!Number.isInteger(version)) {
          process.stderr.write("podmortem config rollback: --to VERSION is required\n");
          return EXIT.usage;
        }
        const answer = await call(object.rollback({ version, author }));
        out(
          values.json
            ? `${JSON.stringify(answer)}\n`
            : `rolled back to version ${version}: now version ${answer.version}\n`,
        );
        return EXIT.ok;
      }
      default:
        process.stderr.write(
          `podmortem config: unknown subcommand ${sub ?? "(none)"}; try --help\n`,
        );
        return EXIT.usage;
    }
  },
};
