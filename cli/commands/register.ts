import { parseArgs } from "node:util";

import { registerDeployment } from "../../src/restate/admin.ts";
import { EXIT } from "../exit-codes.ts";
import type { Command } from "../main.ts";

export const registerCommand: Command = {
  summary:
    "Register a release's workflows endpoint with Restate (its own URL per release; a known URL is left as it is).",
  usage:
    "podmortem register --endpoint http://podmortem-workflows-0-2-0:9080 [--admin-url http://restate:9070] [--json]\n" +
    "  the admin token, if any, is read from RESTATE_ADMIN_TOKEN; see docs/deploy.md, Upgrades",
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
      process.stdout.write(
        deployment.created
          ? `registered ${values.endpoint} as ${deployment.id}: ${names}\n`
          : `${values.endpoint} is already registered as ${deployment.id} (${names}); Restate keeps ` +
              `a registered URL as it is, so a new release needs its own URL\n`,
      );
    }
    return EXIT.ok;
  },
};
