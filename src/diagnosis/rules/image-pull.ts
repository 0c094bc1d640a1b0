import { containerEvents, quote, waitingState } from "../evidence-view.ts";
import { RANK, type Evidence, type Finding, type Rule } from "../finding.ts";

const PULL_REASONS = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
]);

/** Order matters: Docker Hub's "pull access denied … does not exist or may require login" is both. */
const CLASSES: ReadonlyArray<{ code: string; test: RegExp; summary: string; nextStep: string }> = [
  {
    code: "image.access-denied",
    test: /pull access denied|repository does not exist or may require/i,
    summary:
      "the registry refused it, which it does both for a repository that does not exist and for one that needs credentials",
    nextStep: "Check the image name first, then the pod's imagePullSecrets.",
  },
  {
    code: "image.rate-limited",
    test: /toomanyrequests|too many requests|rate limit|\b429\b/i,
    summary: "the registry rate-limited the pulls",
    nextStep:
      "Authenticate pulls (imagePullSecrets), mirror the image, or use a pull-through cache.",
  },
  {
    code: "image.unauthorized",
    test: /unauthorized|authentication required|no basic auth credentials|\b401\b|\b403\b|forbidden|denied:/i,
    summary: "the registry requires credentials the pod does not have",
    nextStep: "Add or fix the pod's imagePullSecrets (or the node's registry credentials).",
  },
  {
    code: "image.not-found",
    test: /not found|manifest unknown|name unknown|notfound|does not exist/i,
    summary: "the image or its tag does not exist in the registry",
    nextStep: "Check the image name and tag; was it pushed, or was the tag deleted?",
  },
  {
    code: "image.registry-unreachable",
    test: /no such host|i\/o timeout|connection refused|dial tcp|TLS handshake|x509/i,
    summary: "the node could not reach the registry",
    nextStep: "Check DNS, egress and certificates from the node to the registry.",
  },
  {
    code: "image.invalid-name",
    test: /InvalidImageName|invalid reference format/i,
    summary: "the image reference is not a valid name",
    nextStep: "Fix the image field of the container.",
  },
];

/** ErrImagePull / ImagePullBackOff: why the image cannot be pulled, from the registry's answer. */
export const imagePullRule: Rule = {
  name: "image-pull",
  apply(input) {
    const waiting = waitingState(input);
    const reason = [input.crash.reason, waiting.reason].find((r) => r && PULL_REASONS.has(r));
    if (!reason) return [];
    const image = input.crash.image;
    const sources: Array<{ text: string; evidence: Evidence }> = [
      ...containerEvents(input)
        .filter((event) => event.reason === "Failed" && /pull|image/i.test(event.message ?? ""))
        .reverse()
        .map((event) => ({
          text: event.message ?? "",
          evidence: { artifact: "events.json", field: "reason=Failed" },
        })),
      { text: input.crash.message, evidence: { artifact: "event", field: "message" } },
      {
        text: waiting.message ?? "",
        evidence: { artifact: "pod.json", field: "state.waiting.message" },
      },
      { text: reason, evidence: { artifact: "event", field: "reason" } },
    ].filter((source) => source.text !== "");
    for (const { text, evidence } of sources) {
      const match = CLASSES.find((entry) => entry.test.test(text));
      if (!match) continue;
      const finding: Finding = {
        code: match.code,
        kind: "cause",
        severity: "error",
        summary: `The image ${image} cannot be pulled: ${match.summary}.`,
        nextStep: match.nextStep,
        evidence: [{ ...evidence, quote: quote(text) }],
        rank: RANK.waitingReason,
      };
      return [finding];
    }
    const first = sources[0];
    return [
      {
        code: "image.pull-failed",
        kind: "cause",
        severity: "error",
        summary: `The image ${image} cannot be pulled (${reason}); the captured evidence does not say why.`,
        nextStep: `Run kubectl describe pod ${input.crash.pod} -n ${input.crash.namespace} for the registry's answer in the Failed event.`,
        evidence: first ? [{ ...first.evidence, quote: quote(first.text) }] : [],
        rank: RANK.waitingReason,
      },
    ];
  },
};
