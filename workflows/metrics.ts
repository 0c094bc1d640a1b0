import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function createWorkflowMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    crashes: new Counter({
      name: "forensics_crashes_total",
      help: "Container terminations counted by the backend from restartCount, each once",
      labelNames: ["namespace", "reason"] as const,
      registers: [registry],
    }),
    eventsRefused: new Counter({
      name: "forensics_events_refused_total",
      help: "Events Ingest refused (cluster not enrolled, namespace excluded, signature or id forged)",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    podsCreated: new Counter({
      name: "forensics_pods_created_total",
      help: "Forensic pods created",
      labelNames: ["source_namespace"] as const,
      registers: [registry],
    }),
    podCreationErrors: new Counter({
      name: "forensics_pod_creation_errors_total",
      help: "Capture steps that failed for good",
      labelNames: ["source_namespace", "step"] as const,
      registers: [registry],
    }),
    stepDuration: new Histogram({
      name: "forensics_capture_step_duration_seconds",
      help: "Duration of one execution of a capture step",
      labelNames: ["step", "outcome"] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    capturesCompleted: new Counter({
      name: "forensics_captures_total",
      help: "Captures finished, by outcome",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    notifications: new Counter({
      name: "forensics_notifications_total",
      help: "Notification deliveries, by outcome (failed: retries ran out or the sink refused)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    bytesStored: new Counter({
      name: "forensics_evidence_bytes_total",
      help: "Bytes written to the evidence store, by artifact kind",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
  };
}

export type WorkflowMetrics = ReturnType<typeof createWorkflowMetrics>;
