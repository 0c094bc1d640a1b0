import type { Rule } from "../finding.ts";
import { phraseFinding } from "./log-phrases.ts";

const MISSING = /no such file or directory|ENOENT|FileNotFoundError|NoSuchFileException/i;
const PATH = /(\/[^\s'":,)]+)/;

export const noSuchFileRule: Rule = {
  name: "no-such-file",
  apply: (input) =>
    phraseFinding(input, MISSING, (_match, line) => {
      const path = PATH.exec(line)?.[1];
      return {
        code: "log.no-such-file",
        summary: `A file it needs does not exist${path ? `: ${path}` : ""}.`,
        nextStep:
          "Check the volume or ConfigMap that should provide it (mountPath, subPath, items) and the path the program is configured with.",
      };
    }),
};
