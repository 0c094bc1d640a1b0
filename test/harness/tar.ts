export * from "../../sim/tar.ts";
