import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger } from "pino";

/** Paths that may hold secrets anywhere a logged object carries them. */
export const REDACTED_PATHS = [
  "*.token",
  "*.authorization",
  "*.Authorization",
  "*.url",
  "*.webhookUrl",
  "*.hmacSecret",
  "*.secretAccessKey",
  "*.accessKeyId",
  "*.sessionToken",
  "headers.authorization",
  "config.notifications.sinks[*].url",
  "config.notifications.sinks[*].hmacSecret",
];

export type LoggingSettings = { level: string; name: string };

export function createLogger(
  settings: LoggingSettings,
  destination?: pino.DestinationStream,
): Logger {
  const options: LoggerOptions = {
    name: settings.name,
    level: settings.level,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    base: { name: settings.name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
