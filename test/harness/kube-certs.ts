export * from "../../sim/kube-certs.ts";
