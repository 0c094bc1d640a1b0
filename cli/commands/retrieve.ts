import { parseArgs } from "node:util";

import { loadRetrieverConfig } from "../../src/retriever/retriever-config.ts";
import { createRetrieverStore } from "../../src/retriever/retriever-store.ts";
import { retrieveArchive, writeTerminationMessage } from "../../src/retriever/retrieve.ts";
import { EXIT } from "../exit-codes.ts";
import type { Command } from "../main.ts";

export const retrieveCommand: Command = {
  summary:
    "Stream a checkpoint archive from this node into the evidence store (run by podmortem in a short-lived pod on the node).",
  usage:
    "podmortem retrieve --file PATH --key KEY [--max-bytes N] [--delete] [--delete-on-failure]\n" +
    "  --delete removes the archive once stored or refused; --delete-on-failure also when the upload fails;\n" +
    "  the evidence store comes from PODMORTEM_S3_* / PODMORTEM_EVIDENCE_DIR, credentials from the AWS default chain,\n" +
    "  PODMORTEM_S3_CA_PEM (or _CA_FILE) a CA to trust for a privately signed S3 endpoint;\n" +
    "  the result (size, sha256, key) is written as JSON to the termination message file",
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        file: { type: "string" },
        key: { type: "string" },
        "max-bytes": { type: "string", default: String(4 * 1024 ** 3) },
        delete: { type: "boolean", default: false },
        "delete-on-failure": { type: "boolean", default: false },
      },
    });
    if (!values.file || !values.key) {
      process.stderr.write("podmortem retrieve: --file and --key are required\n");
      return EXIT.usage;
    }
    const maxBytes = Number(values["max-bytes"]);
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      process.stderr.write("podmortem retrieve: --max-bytes must be a positive whole number\n");
      return EXIT.usage;
    }
    const config = loadRetrieverConfig(process.env);
    const store = createRetrieverStore(config.evidence, { ca: config.s3Ca });
    const result = await retrieveArchive(store, {
      file: values.file,
      key: values.key,
      maxBytes,
      deleteAfter: values.delete,
      deleteOnFailure: values["delete-on-failure"],
    }).finally(() => store.close());
    await writeTerminationMessage(config.terminationLog, result);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return result.outcome === "stored" ? EXIT.ok : EXIT.invalidInput;
  },
};
