import type { CONSOLE_URL_PLACEHOLDERS } from "../model/remote-config.ts";
import type { NotificationPayload } from "./payload.ts";

type Placeholder = (typeof CONSOLE_URL_PLACEHOLDERS)[number];

/** `notifications.link.consoleUrlTemplate` with its placeholders filled in, each URL-encoded. */
export function renderConsoleUrl(
  template: string,
  payload: Pick<NotificationPayload, "cluster" | "namespace" | "pod" | "captureId" | "signature">,
): string {
  const values: Record<Placeholder, string> = {
    cluster: payload.cluster,
    namespace: payload.namespace,
    pod: payload.pod,
    captureId: payload.captureId ?? "",
    signature: payload.signature,
  };
  return template.replace(/\{([^{}]*)\}/g, (whole, name: string) =>
    name in values ? encodeURIComponent(values[name as Placeholder]) : whole,
  );
}
