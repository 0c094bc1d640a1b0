export * from "../../sim/local-container.ts";
