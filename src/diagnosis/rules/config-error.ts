import {
  asArray,
  asObject,
  asString,
  containerEvents,
  crashedContainer,
  quote,
  waitingState,
} from "../evidence-view.ts";
import { RANK, type DiagnosisInput, type Evidence, type Rule } from "../finding.ts";

const MISSING_OBJECT = /\b(secret|configmap)s? "([^"]+)" not found/i;
const MISSING_KEY = /couldn't find key (\S+) in (Secret|ConfigMap) ([^/\s]+)\/(\S+)/i;
const NON_ROOT =
  /runAsNonRoot and image will run as root|runAsNonRoot and image has non-numeric user/i;

/** The env variables of the container that read the object (and key), to name what breaks. */
function referencingEnv(input: DiagnosisInput, kind: string, name: string, key?: string): string[] {
  const spec = crashedContainer(input).spec;
  const refField = kind.toLowerCase() === "secret" ? "secretKeyRef" : "configMapKeyRef";
  return asArray(spec?.["env"])
    .map(asObject)
    .filter((env) => {
      const ref = asObject(asObject(env?.["valueFrom"])?.[refField]);
      return ref?.["name"] === name && (key === undefined || ref?.["key"] === key);
    })
    .map((env) => asString(env?.["name"]) ?? "?");
}

/** CreateContainerConfigError: a Secret, ConfigMap or key the container needs does not exist. */
export const configErrorRule: Rule = {
  name: "config-error",
  apply(input) {
    const waiting = waitingState(input);
    const isConfigError =
      input.crash.reason === "CreateContainerConfigError" ||
      waiting.reason === "CreateContainerConfigError";
    if (!isConfigError) return [];
    const failed = containerEvents(input).filter((event) => event.reason === "Failed");
    const candidates: Array<{ text: string; evidence: Evidence }> = [
      { text: input.crash.message, evidence: { artifact: "event", field: "message" } },
      {
        text: waiting.message ?? "",
        evidence: {
          artifact: "pod.json",
          field: `${crashedContainer(input).statusField}.state.waiting.message`,
        },
      },
      ...failed.map((event) => ({
        text: event.message ?? "",
        evidence: { artifact: "events.json", field: "reason=Failed" },
      })),
    ].filter((candidate) => candidate.text !== "");
    const base = { kind: "cause" as const, severity: "error" as const, rank: RANK.waitingReason };
    for (const { text, evidence } of candidates) {
      const withQuote = [{ ...evidence, quote: quote(text) }];
      const key = MISSING_KEY.exec(text);
      if (key) {
        const [, keyName = "", kind = "", namespace = "", name = ""] = key;
        const env = referencingEnv(input, kind, name, keyName);
        return [
          {
            ...base,
            code: "config.missing-key",
            summary: `The container cannot start: key "${keyName}" is missing from ${kind} ${namespace}/${name}${env.length ? ` (read by env ${env.join(", ")})` : ""}.`,
            nextStep: `Add the key to the ${kind} (kubectl get ${kind.toLowerCase()} ${name} -n ${namespace} -o jsonpath='{.data}' lists the keys it has), or fix the reference's key.`,
            evidence: withQuote,
          },
        ];
      }
      const object = MISSING_OBJECT.exec(text);
      if (object) {
        const kind = object[1]!.toLowerCase() === "secret" ? "Secret" : "ConfigMap";
        const name = object[2]!;
        const env = referencingEnv(input, kind, name);
        return [
          {
            ...base,
            code: kind === "Secret" ? "config.missing-secret" : "config.missing-configmap",
            summary: `The container cannot start: ${kind} "${name}" does not exist in namespace ${input.crash.namespace}${env.length ? ` (read by env ${env.join(", ")})` : ""}.`,
            nextStep: `Create the ${kind} in ${input.crash.namespace} or fix the name the pod refers to; check the release that should have created it.`,
            evidence: withQuote,
          },
        ];
      }
      if (NON_ROOT.test(text))
        return [
          {
            ...base,
            code: "config.run-as-non-root",
            summary:
              "The container cannot start: the pod demands runAsNonRoot but the image runs as root.",
            nextStep:
              "Set securityContext.runAsUser to a numeric non-root user or build the image with one.",
            evidence: withQuote,
          },
        ];
    }
    const first = candidates[0];
    return [
      {
        ...base,
        code: "config.error",
        summary: `The container cannot start because its configuration is invalid${first ? `: ${quote(first.text)}` : ""}.`,
        nextStep: "Read the message and the container's env, envFrom and volume references.",
        evidence: first
          ? [{ ...first.evidence, quote: quote(first.text) }]
          : [{ artifact: "event", field: "reason" }],
      },
    ];
  },
};
