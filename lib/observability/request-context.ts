import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import type { HandlerContext } from "@connectrpc/connect";

/**
 * What every log line of one unit of work carries: a correlation id that
 * follows a request across services (header x-correlation-id), and the order
 * it concerns once known. Stored in AsyncLocalStorage so handlers need not
 * pass it around; lib/observability/logger.ts adds it to every line.
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
  const valid = validTraceparent(traceparent);
  if (valid) return valid.slice(3, 35);
  return fallback ?? randomUUID();
}

// version-traceid-parentid-flags, lowercase hex; a later version may append fields after a "-".
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?$/;

/**
 * The traceparent when it has the W3C shape: version ff is invalid, an
 * all-zero trace id or parent id is invalid, and version 00 has nothing
 * after the flags. Else undefined: W3C asks to ignore a malformed header,
 * so it is dropped, never stored or passed on.
 */
export function validTraceparent(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const match = TRACEPARENT.exec(value);
  if (!match) return undefined;
  const [, version, traceId, parentId, rest] = match;
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId ?? "") || /^0+$/.test(parentId ?? "")) return undefined;
  return value;
}

/** The incoming request's traceparent header, if well-formed (see validTraceparent). */
export function traceparentOf(ctx: Pick<HandlerContext, "requestHeader">): string | undefined {
  return validTraceparent(ctx.requestHeader.get("traceparent"));
}
