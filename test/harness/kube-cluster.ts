export * from "../../sim/kube-cluster.ts";
