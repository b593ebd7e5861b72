import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import {
  type Attributes,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import { ORDER_ID_ATTRIBUTE, tracer } from "./tracing.ts";

/**
 * Connect interceptors for RPC spans, per OpenTelemetry's RPC semantic
 * conventions (there is no official Connect-ES instrumentation). One span
 * per call on each side, named "<package.Service>/<Method>"; the server
 * continues the caller's traceparent and the client sends its own. They run
 * in the interceptor chain, so the unary fast path is covered too.
 */

const headerGetter: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};
const headerSetter: TextMapSetter<Headers> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

type RpcSystem = "grpc" | "connect_rpc";

/** gRPC and gRPC-Web are gRPC on the wire; everything else a Connect server takes is the Connect protocol. */
function systemOf(contentType: string | null): RpcSystem {
  return contentType?.startsWith("application/grpc") ? "grpc" : "connect_rpc";
}

function rpcAttributes(system: RpcSystem, service: string, method: string): Attributes {
  return { "rpc.system": system, "rpc.service": service, "rpc.method": method };
}

function recordOutcome(span: Span, system: RpcSystem, error: unknown, server: boolean): void {
  const code = error === undefined ? Code[0] : ConnectError.from(error).code;
  if (system === "grpc") span.setAttribute("rpc.grpc.status_code", error === undefined ? 0 : code);
  else if (error !== undefined)
    span.setAttribute("rpc.connect_rpc.error_code", connectCodeName(code as Code));
  if (error === undefined) return;
  // A server's span is an error only for codes that mean the server failed (the semantic conventions' rule).
  const serverFault = [
    Code.Unknown,
    Code.DeadlineExceeded,
    Code.Unimplemented,
    Code.Internal,
    Code.Unavailable,
    Code.DataLoss,
  ].includes(ConnectError.from(error).code);
  if (!server || serverFault) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: ConnectError.from(error).rawMessage });
  }
}

function connectCodeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/** The order a request or response message is about: an order_id field, or order.order_id. */
function orderIdOf(message: unknown): string | undefined {
  const m = message as { orderId?: unknown; order?: { orderId?: unknown } } | undefined;
  if (typeof m?.orderId === "string" && m.orderId) return m.orderId;
  if (typeof m?.order?.orderId === "string" && m.order.orderId) return m.order.orderId;
  return undefined;
}

/** The server span: child of the caller's traceparent, active while the handler runs. */
export const serverTracingInterceptor: Interceptor = (next) => async (req) => {
  const system = systemOf(req.header.get("content-type"));
  const parent = propagation.extract(ROOT_CONTEXT, req.header, headerGetter);
  const span = tracer().startSpan(
    `${req.service.typeName}/${req.method.name}`,
    { kind: SpanKind.SERVER, attributes: rpcAttributes(system, req.service.typeName, req.method.name) },
    parent,
  );
  try {
    const res = await context.with(trace.setSpan(parent, span), () => next(req));
    // Read once the handler ran, so only what the caller was allowed to send is looked at.
    const orderId =
      (req.stream ? undefined : orderIdOf(req.message)) ?? (res.stream ? undefined : orderIdOf(res.message));
    if (orderId) span.setAttribute(ORDER_ID_ATTRIBUTE, orderId);
    recordOutcome(span, system, undefined, true);
    return res;
  } catch (error) {
    recordOutcome(span, system, error, true);
    throw error;
  } finally {
    span.end();
  }
};

/** The client span: child of the active context; its traceparent goes out with the request. */
export function clientTracingInterceptor(system: RpcSystem): Interceptor {
  return (next) => async (req) => {
    const span = tracer().startSpan(
      `${req.service.typeName}/${req.method.name}`,
      { kind: SpanKind.CLIENT, attributes: rpcAttributes(system, req.service.typeName, req.method.name) },
      context.active(),
    );
    const orderId = req.stream ? undefined : orderIdOf(req.message);
    if (orderId) span.setAttribute(ORDER_ID_ATTRIBUTE, orderId);
    const ctx = trace.setSpan(context.active(), span);
    propagation.inject(ctx, req.header, headerSetter);
    try {
      const res = await context.with(ctx, () => next(req));
      recordOutcome(span, system, undefined, false);
      return res;
    } catch (error) {
      recordOutcome(span, system, error, false);
      throw error;
    } finally {
      span.end();
    }
  };
}
