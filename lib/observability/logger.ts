import { trace } from "@opentelemetry/api";
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
    // Correlation id and order id of the request or event being handled, and
    // the active span's trace_id and span_id (to open the line's trace in Zipkin), if any.
    mixin: () => {
      const context = currentContext();
      const ids = activeTraceIds();
      if (!context) return ids ?? {};
      const fields: Record<string, string> = { correlationId: context.correlationId };
      if (context.orderId) fields.orderId = context.orderId;
      return ids ? Object.assign(fields, ids) : fields;
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

/** Trace and span id of the active span (none while tracing is off or outside a span). */
function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const ids = trace.getActiveSpan()?.spanContext();
  if (!ids || !trace.isSpanContextValid(ids)) return undefined;
  return { trace_id: ids.traceId, span_id: ids.spanId };
}
