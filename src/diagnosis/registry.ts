import type { Rule } from "./finding.ts";
import { addressInUseRule } from "./rules/address-in-use.ts";
import { configErrorRule } from "./rules/config-error.ts";
import { connectionRefusedRule } from "./rules/connection-refused.ts";
import { createContainerErrorRule } from "./rules/create-container-error.ts";
import { evictionRule } from "./rules/eviction.ts";
import { exitCodeRule } from "./rules/exit-code.ts";
import { goPanicRule } from "./rules/go-panic.ts";
import { imagePullRule } from "./rules/image-pull.ts";
import { initContainerRule } from "./rules/init-container.ts";
import { javaExceptionRule } from "./rules/java-exception.ts";
import { nodeErrorRule } from "./rules/node-error.ts";
import { noSuchFileRule } from "./rules/no-such-file.ts";
import { oomKilledRule } from "./rules/oom-killed.ts";
import { permissionDeniedRule } from "./rules/permission-denied.ts";
import { probeKillRule } from "./rules/probe-kill.ts";
import { pythonTracebackRule } from "./rules/python-traceback.ts";
import { readinessFailingRule } from "./rules/readiness-failing.ts";
import { terminationMessageRule } from "./rules/termination-message.ts";
import { timingRule } from "./rules/timing.ts";
import { volumeMountRule } from "./rules/volume-mount.ts";

/** Every rule, listed statically: a new rule is a new file and a line here. */
export const RULES: readonly Rule[] = [
  configErrorRule,
  createContainerErrorRule,
  imagePullRule,
  evictionRule,
  volumeMountRule,
  oomKilledRule,
  probeKillRule,
  readinessFailingRule,
  initContainerRule,
  terminationMessageRule,
  goPanicRule,
  javaExceptionRule,
  pythonTracebackRule,
  nodeErrorRule,
  addressInUseRule,
  connectionRefusedRule,
  permissionDeniedRule,
  noSuchFileRule,
  exitCodeRule,
  timingRule,
];
