export const SEVERITIES = ["critical", "error", "warning", "info"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** What a finding rests on: an artifact of the capture and where in it. */
export type Evidence = {
  /** `crash.log`, `pod.json`, `events.json`, `node.json`, `changes.json`, or `event` (the PodEvent). */
  artifact: string;
  /** A JSON path into the artifact, e.g. `status.containerStatuses[app].lastState.terminated`. */
  field?: string;
  /** 1-based line numbers of the crash log, first and last. */
  lines?: [number, number];
  /** The words the finding quotes, masked and at most 240 characters. */
  quote?: string;
};

/**
 * `cause` findings name why the container failed; `context` findings are true facts that help
 * (what an exit code means, how long it ran) but never make the headline on their own.
 */
export type FindingKind = "cause" | "context";

export type Finding = {
  /** Stable identifier, e.g. `oom.limit`, `log.go-panic`; part of report.json's contract. */
  code: string;
  kind: FindingKind;
  severity: Severity;
  /** One sentence. */
  summary: string;
  evidence: Evidence[];
  nextStep: string;
  /** Higher wins the headline; ties go to the finding anchored later in the log. */
  rank: number;
  /** The crash-log line a log finding rests on, to prefer what the process said last. */
  anchorLine?: number;
};

export type EventRecord = {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  involvedObject?: { kind?: string; name?: string; fieldPath?: string };
};

/** The crash log as the diagnosis sees it: its last lines, numbered from the file's start. */
export type LogTail = {
  lines: string[];
  /** Line number (1-based) of `lines[0]` in the stored crash.log. */
  firstLine: number;
  truncated: boolean;
};

export type CrashFacts = {
  namespace: string;
  pod: string;
  container: string;
  containerType: "init" | "regular" | "ephemeral";
  image: string;
  reason: string;
  exitCode: number | null;
  signal: number | null;
  message: string;
  restartCount: number;
  startedAt: string | null;
  finishedAt: string | null;
};

/** Everything a rule may read: the captured evidence, parsed, each part possibly missing. */
export type DiagnosisInput = {
  crash: CrashFacts;
  /** pod.json as stored (JSON of a V1Pod). */
  pod?: unknown;
  events?: EventRecord[];
  /** node.json as stored. */
  node?: unknown;
  log?: LogTail;
};

export type Rule = {
  /** The rule's name; also a file name in rules/. */
  name: string;
  apply(input: DiagnosisInput): Finding[];
};

export const RANK = {
  waitingReason: 100,
  eviction: 95,
  volume: 92,
  oom: 90,
  probeKill: 88,
  logSpecific: 80,
  logStackTrace: 79,
  terminationMessage: 72,
  exitCodeCause: 65,
  initContainer: 60,
  completedRestarted: 55,
  externalSignal: 50,
  context: 10,
} as const;
