import { parseArgs } from "node:util";

import { registerDeployment } from "../../src/restate/admin.ts";
import { EXIT } from "../exit-codes.ts";
import type { Command } from "../main.ts";

export const registerCommand: Command = {
  summary:
    "Register the workflows endpoint with Restate (idempotent: a re-registration updates it).",
  usage:
    "podmortem register --endpoint http://podmortem-workflows:9080 [--admin-url http://restate:9070] [--json]\n" +
    "  the admin token, if any, is read from RESTATE_ADMIN_TOKEN",
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        endpoint: { type: "string" },
        "admin-url": {
          type: "string",
          default: process.env.RESTATE_ADMIN_URL ?? "http://localhost:9070",
        },
        json: { type: "boolean", default: false },
      },
    });
    if (!values.endpoint) {
      process.stderr.write("podmortem register: --endpoint is required\n");
      return EXIT.usage;
    }
    const deployment = await registerDeployment(
      { adminUrl: values["admin-url"], authToken: process.env.RESTATE_ADMIN_TOKEN },
      values.endpoint,
    );
    if (values.json) process.stdout.write(`${JSON.stringify(deployment)}\n`);
    else {
      const names = deployment.services.map((s) => `${s.name}@${s.revision}`).join(", ");
      process.stdout.write(`registered ${values.endpoint} as ${deployment.id}: ${names}\n`);
    }
    return EXIT.ok;
  },
};
