import type { Rule } from "../finding.ts";
import { hostPorts } from "../host-port.ts";
import { phraseFinding } from "./log-phrases.ts";

const IN_USE = /address already in use|EADDRINUSE|Address in use|port is already allocated/i;
const PORT_WORD = /\bport (\d{2,5})\b/i;

export const addressInUseRule: Rule = {
  name: "address-in-use",
  apply: (input) =>
    phraseFinding(input, IN_USE, (_match, line) => {
      const port = hostPorts(line).at(-1)?.port ?? PORT_WORD.exec(line)?.[1];
      return {
        code: "log.address-in-use",
        summary: `It could not listen${port ? ` on port ${port}` : ""}: the address is already in use.`,
        nextStep:
          "Another process in the pod (a sidecar, a second server in the same program) or hostNetwork already holds the port; change one of them.",
      };
    }),
};
