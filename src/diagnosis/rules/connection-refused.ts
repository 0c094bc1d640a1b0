import type { Rule } from "../finding.ts";
import { hostPorts } from "../host-port.ts";
import { phraseFinding } from "./log-phrases.ts";

const REFUSED = /connection refused|ECONNREFUSED|Connection refused/i;

export const connectionRefusedRule: Rule = {
  name: "connection-refused",
  apply: (input) =>
    phraseFinding(input, REFUSED, (_match, line) => {
      // The last host:port on the line is the peer in every format seen (Go, Node, Python, JDBC).
      const target = hostPorts(line).at(-1);
      const where = target ? `${target.host || "localhost"}:${target.port}` : undefined;
      return {
        code: "log.connection-refused",
        summary: where
          ? `It stopped because ${where} refused its connection: nothing was listening there.`
          : "It stopped because a connection was refused; the log line names no address.",
        nextStep: where
          ? `Check that the service behind ${where} runs and has ready endpoints, and that the port is right.`
          : "Find which dependency it connects to at start and whether it is up.",
      };
    }),
};
