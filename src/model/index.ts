export * from "./pod-event.ts";
export * from "./remote-config.ts";
export * from "./signature.ts";
export * from "./validation.ts";
