export * from "../../sim/kubelet-server.ts";
