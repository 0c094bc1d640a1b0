import { createSealer } from "../src/notifications/sealed-secret.ts";
import { createCaptureWorkflow, type CaptureDeps } from "./capture.workflow.ts";
import { AuditInbox } from "./audit-inbox.object.ts";
import { AuditLog } from "./audit-log.object.ts";
import { CaptureLimits } from "./capture-limits.object.ts";
import { CaptureRequest } from "./capture-request.service.ts";
import { CaptureSlot } from "./capture-slot.object.ts";
import { createClusterObject } from "./cluster.object.ts";
import { createIncidentObject } from "./incident.object.ts";
import { createIngestService } from "./ingest.service.ts";
import { Notifications } from "./notifications.service.ts";
import { createNotifierObject } from "./notifier.object.ts";

export type ServiceDeps = CaptureDeps & {
  /** PODMORTEM_SECRETS_KEY: seals inline sink secrets; without it they are refused. */
  secretsKey?: Buffer | undefined;
};

/** Every Restate service podmortem serves, wired to its dependencies. */
export function createServices(deps: ServiceDeps) {
  const sealer = deps.secretsKey ? createSealer(deps.secretsKey) : undefined;
  return [
    createClusterObject({ sealer }),
    createIngestService(deps.metrics),
    createIncidentObject(deps.metrics),
    createCaptureWorkflow(deps),
    CaptureRequest,
    CaptureSlot,
    CaptureLimits,
    AuditLog,
    AuditInbox,
    Notifications,
    createNotifierObject({
      kube: deps.kube,
      secretsNamespace: deps.settings?.retriever.namespace ?? "podmortem",
      metrics: deps.metrics,
      sealer,
      store: deps.store,
    }),
  ];
}
