import { eventEvidence, lastTermination, quote } from "../evidence-view.ts";
import { RANK, type Rule } from "../finding.ts";

/**
 * FailedMount / FailedAttachVolume: the pod's volumes are not ready. A cause only when the
 * container never ran; once it did, an old mount warning is context.
 */
export const volumeMountRule: Rule = {
  name: "volume-mount",
  apply(input) {
    const events = (input.events ?? []).filter(
      (event) => event.reason === "FailedMount" || event.reason === "FailedAttachVolume",
    );
    const last = events.at(-1);
    if (!last) return [];
    const ran = input.crash.exitCode !== null || lastTermination(input) !== undefined;
    const attach = last.reason === "FailedAttachVolume";
    return [
      {
        code: attach ? "volume.attach-failed" : "volume.mount-failed",
        kind: ran ? "context" : "cause",
        severity: ran ? "warning" : "error",
        summary: `A volume of the pod could not be ${attach ? "attached to its node" : "mounted"}: ${quote(last.message ?? "")}.`,
        nextStep: attach
          ? "Check the volume's attachment to another node (VolumeAttachment) and the CSI driver's logs."
          : "Check that the referenced PVC, Secret or ConfigMap exists and the CSI driver is healthy on the node.",
        evidence: [eventEvidence(last)],
        rank: ran ? RANK.context : RANK.volume,
      },
    ];
  },
};
