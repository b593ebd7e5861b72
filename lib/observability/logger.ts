import { type Logger, pino } from "pino";
import { currentContext } from "./request-context.ts";

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
    // Correlation id and order id of the request or event being handled, if any.
    mixin: () => {
      const context = currentContext();
      if (!context) return {};
      return context.orderId
        ? { correlationId: context.correlationId, orderId: context.orderId }
        : { correlationId: context.correlationId };
    },
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
