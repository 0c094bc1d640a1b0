import packageJson from "../package.json" with { type: "json" };

export const PODMORTEM_VERSION: string = packageJson.version;
