export * from "../../sim/processes.ts";
