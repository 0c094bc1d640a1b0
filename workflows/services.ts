import { createCaptureWorkflow, type CaptureDeps } from "./capture.workflow.ts";
import { AuditLog } from "./audit-log.object.ts";
import { Cluster } from "./cluster.object.ts";
import { Incident } from "./incident.object.ts";
import { createIngestService } from "./ingest.service.ts";
import { Notifications } from "./notifications.service.ts";
import { createNotifierObject } from "./notifier.object.ts";

export type ServiceDeps = CaptureDeps;

/** Every Restate service podmortem serves, wired to its dependencies. */
export function createServices(deps: ServiceDeps) {
  return [
    Cluster,
    createIngestService(deps.metrics),
    Incident,
    createCaptureWorkflow(deps),
    AuditLog,
    Notifications,
    createNotifierObject({
      kube: deps.kube,
      secretsNamespace: deps.settings?.retriever.namespace ?? "podmortem",
      metrics: deps.metrics,
    }),
  ];
}
