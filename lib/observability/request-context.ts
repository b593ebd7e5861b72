import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

/**
 * What every log line of one unit of work carries: a correlation id that
 * follows a request across services (header x-correlation-id), and the order
 * it concerns once known. Stored in AsyncLocalStorage so handlers need not
 * pass it around; lib/logger.ts adds it to every line.
 */
export interface RequestContext {
  correlationId: string;
  orderId?: string;
}

export const CORRELATION_HEADER = "x-correlation-id";

const storage = new AsyncLocalStorage<RequestContext>();

export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

export function runWithContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** Records the order a unit of work is about, for the log lines that follow. */
export function setContextOrderId(orderId: string): void {
  const context = storage.getStore();
  if (context && orderId) context.orderId = orderId;
}

/**
 * The correlation id for incoming work: the caller's when it sent a sane one,
 * else the trace id of its traceparent, else the fallback (an event id, say),
 * else a new one.
 */
export function correlationIdFrom(
  header: string | null | undefined,
  traceparent?: string | null,
  fallback?: string,
): string {
  if (header && /^[A-Za-z0-9._:/-]{1,128}$/.test(header)) return header;
  const traceId = traceparent?.split("-")[1];
  if (traceId && /^[0-9a-f]{32}$/.test(traceId) && !/^0+$/.test(traceId)) return traceId;
  return fallback ?? randomUUID();
}
