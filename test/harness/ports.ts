export * from "../../sim/ports.ts";
