export * from "../../sim/fake-kubelet.ts";
