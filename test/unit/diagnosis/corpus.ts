import type { CrashFacts, DiagnosisInput, EventRecord } from "../../../src/diagnosis/finding.ts";
import { toLogTail } from "../../../src/diagnosis/log-scan.ts";

/** One crash as a capture would have stored it, and the top finding a reader should get. */
export type CorpusScenario = { name: string; expected: string; input: DiagnosisInput };

type Spec = {
  crash?: Partial<CrashFacts>;
  log?: string;
  events?: EventRecord[];
  limits?: { memory?: string };
  requests?: { memory?: string };
  env?: unknown[];
  command?: string[];
  podStatus?: Record<string, unknown>;
  containerStatus?: Record<string, unknown>;
  initStatuses?: unknown[];
  memoryPressure?: boolean;
  /** What the container wrote to its termination-message file (pod.json lastState). */
  terminationMessage?: string;
};

function scenario(name: string, expected: string, spec: Spec): CorpusScenario {
  const crash: CrashFacts = {
    namespace: "shop",
    pod: "checkout-7d9f-abcde",
    container: "app",
    containerType: "regular",
    image: "registry.example/checkout:1.2.3",
    reason: "Error",
    exitCode: 1,
    signal: null,
    message: "",
    restartCount: 4,
    startedAt: "2026-11-22T10:00:00Z",
    finishedAt: "2026-11-22T10:00:05Z",
    ...spec.crash,
  };
  const container = {
    name: crash.container,
    image: crash.image,
    ...(spec.command ? { command: spec.command } : {}),
    ...(spec.env ? { env: spec.env } : {}),
    resources: {
      ...(spec.limits ? { limits: spec.limits } : {}),
      ...(spec.requests ? { requests: spec.requests } : {}),
    },
  };
  const status = {
    name: crash.container,
    restartCount: crash.restartCount,
    ...(crash.exitCode !== null
      ? {
          state: { waiting: { reason: "CrashLoopBackOff" } },
          lastState: {
            terminated: {
              exitCode: crash.exitCode,
              reason: crash.reason,
              startedAt: crash.startedAt,
              finishedAt: crash.finishedAt,
              ...(spec.terminationMessage ? { message: spec.terminationMessage } : {}),
            },
          },
        }
      : { state: { waiting: { reason: crash.reason, message: crash.message } }, lastState: {} }),
    ...spec.containerStatus,
  };
  const init = crash.containerType === "init";
  return {
    name,
    expected,
    input: {
      crash,
      pod: {
        metadata: { name: crash.pod, namespace: crash.namespace },
        spec: init
          ? { initContainers: [container], containers: [{ name: "main", image: "x" }] }
          : { containers: [container] },
        status: {
          phase: init ? "Pending" : "Running",
          ...(init
            ? { initContainerStatuses: [status], containerStatuses: [] }
            : { containerStatuses: [status] }),
          ...(spec.initStatuses ? { initContainerStatuses: spec.initStatuses } : {}),
          ...spec.podStatus,
        },
      },
      events: spec.events ?? [],
      node: {
        name: "node-a",
        conditions: [
          { type: "Ready", status: "True" },
          { type: "MemoryPressure", status: spec.memoryPressure ? "True" : "False" },
        ],
      },
      ...(spec.log !== undefined ? { log: toLogTail(spec.log) } : {}),
    },
  };
}

const working = Array.from({ length: 30 }, (_, i) => `INFO handled request ${i}`).join("\n");
const appEvent = (reason: string, message: string, count = 1): EventRecord => ({
  type: "Warning",
  reason,
  message,
  count,
  involvedObject: { kind: "Pod", name: "checkout-7d9f-abcde", fieldPath: "spec.containers{app}" },
});

export const CORPUS: CorpusScenario[] = [
  scenario("OOMKilled at a 256Mi limit", "oom.limit", {
    crash: { reason: "OOMKilled", exitCode: 137, signal: 9 },
    limits: { memory: "256Mi" },
    requests: { memory: "128Mi" },
    log: working,
  }),
  scenario("OOMKilled with no limit on a node under memory pressure", "oom.node-pressure", {
    crash: { reason: "OOMKilled", exitCode: 137 },
    memoryPressure: true,
    log: working,
  }),
  scenario("SIGKILL after a failed liveness probe", "probe.liveness-kill", {
    crash: { reason: "Error", exitCode: 137 },
    events: [
      appEvent("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500", 3),
      appEvent("Killing", "Container app failed liveness probe, will be restarted"),
    ],
    log: working,
  }),
  scenario("startup probe kills a slow starter", "probe.startup-kill", {
    crash: { reason: "Error", exitCode: 143 },
    events: [
      appEvent(
        "Unhealthy",
        'Startup probe failed: Get "http://10.1.0.7:8080/healthz": dial tcp 10.1.0.7:8080: connect: connection refused',
        30,
      ),
      appEvent("Killing", "Container app failed startup probe, will be restarted"),
    ],
    log: `${working}\nINFO warming caches`,
  }),
  scenario("missing Secret", "config.missing-secret", {
    crash: {
      reason: "CreateContainerConfigError",
      exitCode: null,
      message: 'secret "db-credentials" not found',
      startedAt: null,
      finishedAt: null,
    },
    env: [
      {
        name: "DB_PASSWORD",
        valueFrom: { secretKeyRef: { name: "db-credentials", key: "password" } },
      },
    ],
  }),
  scenario("missing key in a ConfigMap", "config.missing-key", {
    crash: {
      reason: "CreateContainerConfigError",
      exitCode: null,
      message: "couldn't find key LOG_LEVEL in ConfigMap shop/checkout-config",
      startedAt: null,
      finishedAt: null,
    },
    env: [
      {
        name: "LOG_LEVEL",
        valueFrom: { configMapKeyRef: { name: "checkout-config", key: "LOG_LEVEL" } },
      },
    ],
  }),
  scenario("missing ConfigMap", "config.missing-configmap", {
    crash: {
      reason: "CreateContainerConfigError",
      exitCode: null,
      message: 'configmap "feature-flags" not found',
      startedAt: null,
      finishedAt: null,
    },
  }),
  scenario("CreateContainerError on a command missing from the image", "create.command-not-found", {
    crash: {
      reason: "CreateContainerError",
      exitCode: null,
      message:
        'failed to create containerd task: exec: "/app/server": stat /app/server: no such file or directory: unknown',
      startedAt: null,
      finishedAt: null,
    },
  }),
  scenario("image tag that does not exist", "image.not-found", {
    crash: {
      reason: "ErrImagePull",
      exitCode: null,
      message:
        'rpc error: code = NotFound desc = failed to pull and unpack image "registry.example/checkout:1.2.4": failed to resolve reference "registry.example/checkout:1.2.4": registry.example/checkout:1.2.4: not found',
      startedAt: null,
      finishedAt: null,
    },
  }),
  scenario("private image without pull secret", "image.unauthorized", {
    crash: {
      reason: "ImagePullBackOff",
      exitCode: null,
      message: 'Back-off pulling image "registry.example/checkout:1.2.3"',
      startedAt: null,
      finishedAt: null,
    },
    events: [
      appEvent(
        "Failed",
        'Failed to pull image "registry.example/checkout:1.2.3": rpc error: code = Unknown desc = failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized',
      ),
    ],
  }),
  scenario("Docker Hub rate limit", "image.rate-limited", {
    crash: {
      reason: "ErrImagePull",
      exitCode: null,
      message:
        "toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading",
      startedAt: null,
      finishedAt: null,
    },
  }),
  scenario("init container fails waiting for its database", "init.failed", {
    crash: { container: "wait-for-db", containerType: "init", reason: "Error", exitCode: 1 },
    log: "waiting for db\nwaiting for db\ngave up",
  }),
  scenario("evicted under node memory pressure", "evicted.node-pressure", {
    crash: { reason: "Evicted", exitCode: 137 },
    podStatus: {
      phase: "Failed",
      reason: "Evicted",
      message:
        "The node was low on resource: memory. Container app was using 1Gi, which exceeds its request of 0.",
    },
    log: working,
  }),
  scenario("evicted for ephemeral storage", "evicted.ephemeral-storage", {
    crash: { reason: "Evicted", exitCode: 137 },
    podStatus: {
      phase: "Failed",
      reason: "Evicted",
      message: "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi.",
    },
  }),
  scenario("volume that cannot be attached keeps it from starting", "volume.attach-failed", {
    crash: { reason: "ContainerCreating", exitCode: null, startedAt: null, finishedAt: null },
    events: [
      {
        type: "Warning",
        reason: "FailedAttachVolume",
        message:
          'Multi-Attach error for volume "pvc-1f2e" Volume is already exclusively attached to one node and can\'t be attached to another',
        involvedObject: { kind: "Pod" },
      },
    ],
  }),
  scenario("Go panic: nil map", "log.go-panic", {
    log: `${working}\npanic: assignment to entry in nil map\n\ngoroutine 1 [running]:\nmain.(*Cache).Put(...)\n\t/src/cache.go:42 +0x1d\nmain.main()\n\t/src/main.go:17 +0x85\nexit status 2`,
    crash: { exitCode: 2 },
  }),
  scenario("Java exception with a root cause", "log.java-exception", {
    log: `${working}\nException in thread "main" java.lang.IllegalStateException: Failed to load ApplicationContext\n\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:315)\n\tat com.shop.Checkout.main(Checkout.java:12)\nCaused by: java.lang.NumberFormatException: For input string: "abc"\n\tat java.lang.Integer.parseInt(Integer.java:652)\n\t... 2 more`,
  }),
  scenario("Python traceback", "log.python-traceback", {
    log: `${working}\nTraceback (most recent call last):\n  File "/app/main.py", line 10, in <module>\n    main()\n  File "/app/main.py", line 7, in main\n    cfg = settings["region"]\nKeyError: 'region'`,
  }),
  scenario("Node.js error", "log.node-error", {
    log: `${working}\n/app/server.js:14\n    throw new TypeError("PORT must be a number");\n    ^\n\nTypeError: PORT must be a number\n    at Object.<anonymous> (/app/server.js:14:11)\n    at Module._compile (node:internal/modules/cjs/loader:1554:14)\n    at node:internal/main/run_main_module:36:49\n\nNode.js v22.14.0`,
  }),
  scenario("Go server: address already in use", "log.address-in-use", {
    log: `${working}\n2026/11/22 10:00:05 listen tcp :8080: bind: address already in use`,
  }),
  scenario("connection refused to Postgres", "log.connection-refused", {
    log: `${working}\nFATAL could not connect to database: dial tcp 10.96.12.4:5432: connect: connection refused`,
  }),
  scenario(
    "Python traceback ending in connection refused names the peer",
    "log.connection-refused",
    {
      log: `connecting to redis-master.cache.svc:6379\nTraceback (most recent call last):\n  File "/app/worker.py", line 3, in <module>\n    r.ping()\nredis.exceptions.ConnectionError: Error 111 connecting to redis-master.cache.svc:6379. Connection refused.`,
    },
  ),
  scenario("permission denied on a data directory", "log.permission-denied", {
    log: `${working}\nerror: open /data/wal/000001.log: permission denied`,
  }),
  scenario("config file missing", "log.no-such-file", {
    log: `${working}\nfailed to load config: open /etc/checkout/config.yaml: no such file or directory`,
  }),
  scenario("exit 127: command not found", "exit.command-not-found", {
    crash: { exitCode: 127 },
    command: ["/bin/sh", "-c", "start-server"],
    log: "/bin/sh: 1: start-server: not found",
  }),
  scenario("segfault in native code", "signal.sigsegv", {
    crash: { exitCode: 139 },
    log: working,
  }),
  scenario("termination message written by the app", "termination-message", {
    crash: { exitCode: 3, message: "license expired on 2026-11-01" },
    terminationMessage: "license expired on 2026-11-01",
    log: working,
  }),
  scenario("the kubelet's back-off notice in the event is not a termination message", "unknown", {
    crash: { exitCode: 1, message: "back-off 4s restarting failed container=app pod=checkout" },
    log: `${working}\napp[0] fatal: Error (exit 1)`,
  }),
  scenario("SIGTERM and exit 143 with no probe in the events", "signal.sigterm", {
    crash: { exitCode: 143 },
    log: `${working}\nINFO shutting down`,
  }),
  scenario("exit 1 with a bland log stays unknown", "unknown", {
    log: `${working}\nERROR something went wrong`,
  }),
  scenario("exit 255 with no log stays unknown", "unknown", {
    crash: { exitCode: 255 },
  }),
  scenario("an old connection refused the app survived does not count", "unknown", {
    log: `WARN dial tcp 10.96.0.9:6379: connect: connection refused; retrying\n${working}\n${working}\n${working}\nERROR shutting down: job failed`,
  }),
  scenario("a process that returns instead of serving", "exit.completed-restarted", {
    crash: { reason: "Completed", exitCode: 0 },
    log: "migrations applied",
  }),
];
