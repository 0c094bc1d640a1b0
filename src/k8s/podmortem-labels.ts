/**
 * The labels contract (DESIGN "Trust boundaries"): every object podmortem creates says so, and
 * podmortem never captures an object that says so. Otherwise a forensic copy that crashes like
 * its source (an image that does not pull) is captured and copied again, without end.
 */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY_PODMORTEM = "podmortem";
export const ROLE_LABEL = "forensic.io/role";
export const CAPTURE_ID_LABEL = "forensic.io/capture-id";

export const PODMORTEM_ROLES = ["forensic-copy", "retriever", "register"] as const;
export type PodmortemRole = (typeof PODMORTEM_ROLES)[number];

const ROLES = new Set<string>(PODMORTEM_ROLES);

/** The labels of an object podmortem creates for a capture. */
export function podmortemLabels(role: PodmortemRole, captureId: string): Record<string, string> {
  return {
    [CAPTURE_ID_LABEL]: captureId,
    [ROLE_LABEL]: role,
    [MANAGED_BY_LABEL]: MANAGED_BY_PODMORTEM,
  };
}

/** True for anything podmortem made: it is never detected, never captured. */
export function isPodmortemObject(labels: Readonly<Record<string, string>> | undefined): boolean {
  if (!labels) return false;
  if (labels[MANAGED_BY_LABEL] === MANAGED_BY_PODMORTEM) return true;
  const role = labels[ROLE_LABEL];
  return role !== undefined && ROLES.has(role);
}
