import type { Rule } from "../finding.ts";
import { phraseFinding } from "./log-phrases.ts";

const DENIED = /permission denied|EACCES|Operation not permitted|EPERM/i;
const PATH =
  /(?:open|mkdir|stat|access|unlink|chmod|rename|write|read|lstat)?\s*'?"?(\/[^\s'":,]+)/;

export const permissionDeniedRule: Rule = {
  name: "permission-denied",
  apply: (input) =>
    phraseFinding(input, DENIED, (_match, line) => {
      const path = PATH.exec(line)?.[1];
      return {
        code: "log.permission-denied",
        summary: `It was denied permission${path ? ` on ${path}` : ""}.`,
        nextStep:
          "Compare the user it runs as (securityContext.runAsUser, fsGroup) with the owner and mode of the path, or the capability it needs.",
      };
    }),
};
