import { type Logger, pino } from "pino";

export type { Logger };

/**
 * Structured JSON logs, one line per event. Fields that may hold secrets are
 * redacted here once, for every service.
 */
export function createLogger(service: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    name: service,
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        "password",
        "*.password",
        "secret",
        "*.secret",
        "signingSecret",
        "*.signingSecret",
        "authorization",
        "*.authorization",
        "headers.authorization",
        "connectionString",
        "*.connectionString",
      ],
      censor: "[redacted]",
    },
  });
}
