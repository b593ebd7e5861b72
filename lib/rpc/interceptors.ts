import type { Interceptor } from "@connectrpc/connect";
import { metricsInterceptor, processMetrics } from "../observability/metrics.ts";
import { CORRELATION_HEADER, correlationIdFrom, runWithContext } from "../observability/request-context.ts";
import { serverTracingInterceptor } from "../observability/rpc-tracing.ts";
import { traceparentOfSpan } from "../observability/tracing.ts";
import { rejectNulStrings } from "./input-guard.ts";

export interface ServerInterceptorOptions {
  /**
   * Authentication and authorization (lib/auth/authorization.ts). Every
   * service runs it; only tests of the transport itself and the bench's
   * side-by-side measurement leave it out.
   */
  authorization?: Interceptor;
}

/**
 * The interceptor chain every RPC server runs, outermost first, on the unary
 * fast path and connect-node's adapter alike. A cross-cutting concern
 * (authentication, tracing) is added here, once, for every service. The
 * server span opens right inside the metrics so that denied calls are
 * traced too and the correlation id can be its trace id; the authorization
 * check runs before anything reads the request's content.
 */
export function serverInterceptors(options: ServerInterceptorOptions = {}): Interceptor[] {
  return [
    metricsInterceptor(processMetrics().rpcDuration),
    serverTracingInterceptor,
    correlationInterceptor,
    ...(options.authorization ? [options.authorization] : []),
    rejectNulStrings,
  ];
}

/**
 * Runs every call with a correlation id (the caller's x-correlation-id, else
 * its traceparent's trace id, else the server span's trace id, else a new
 * one) in the request context, and echoes it in the response headers.
 */
export const correlationInterceptor: Interceptor = (next) => async (req) => {
  const correlationId = correlationIdFrom(
    req.header.get(CORRELATION_HEADER),
    req.header.get("traceparent") ?? traceparentOfSpan(),
  );
  const res = await runWithContext({ correlationId }, () => next(req));
  res.header.set(CORRELATION_HEADER, correlationId);
  return res;
};
