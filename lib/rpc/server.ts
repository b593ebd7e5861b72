import http from "node:http";
import type http2 from "node:http2";
import type { JsonReadOptions, JsonWriteOptions } from "@bufbuild/protobuf";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";

type NodeHandlerFn = ReturnType<typeof connectNodeAdapter>;

import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createReadiness, healthRoute, type Readiness, sendJson } from "../host/health.ts";
import { processMetrics } from "../observability/metrics.ts";
import { type FrontDoorHandler, type Route, startFrontDoor } from "./front-door.ts";
import { grpcUnaryFastPath } from "./grpc-unary-fast-path.ts";
import { serverInterceptors } from "./interceptors.ts";
import { recordingRouter, type UnaryRoutes, unaryFastPath } from "./unary-fast-path.ts";

export interface RpcHandlerOptions {
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  /** Largest accepted request body, in bytes. */
  readMaxBytes?: number;
  /**
   * JSON codec options for every route, e.g. a registry for google.protobuf.Any
   * (the conformance service needs one). The services use the defaults.
   */
  jsonOptions?: Partial<JsonReadOptions & JsonWriteOptions>;
  /** Requests that match no RPC: a simulator's or the broker's plain HTTP routes. */
  fallback?: FrontDoorHandler;
}

export const DEFAULT_READ_MAX_BYTES = 1024 * 1024;

/**
 * Connect, gRPC and gRPC-Web for the given routes: Connect unary POSTs over
 * HTTP/1.1 (ADR 0009) and gRPC unary calls over HTTP/2 (ADR 0029) take fast
 * paths, everything else connect-node's adapter.
 */
export function createRpcHandler(options: RpcHandlerOptions): FrontDoorHandler {
  const readMaxBytes = options.readMaxBytes ?? DEFAULT_READ_MAX_BYTES;
  const unary: UnaryRoutes = new Map();
  const connect = connectNodeAdapter({
    routes: (router) => options.routes(recordingRouter(router, unary, readMaxBytes, options.jsonOptions)),
    readMaxBytes,
    interceptors: options.interceptors,
    jsonOptions: options.jsonOptions,
    ...(options.fallback ? { fallback: options.fallback as NodeHandlerFn } : {}),
  });
  const fast = unaryFastPath(unary, readMaxBytes, options.interceptors, options.jsonOptions);
  const grpcFast = grpcUnaryFastPath(unary, readMaxBytes, options.interceptors);
  return (req, res) => {
    // Connect unary over HTTP/1.1 and gRPC unary over HTTP/2 have fast paths; the rest takes the adapter.
    if (res instanceof http.ServerResponse) {
      if (fast(req as http.IncomingMessage, res)) return;
    } else if (grpcFast(req as http2.Http2ServerRequest, res)) return;
    connect(req as http.IncomingMessage, res as http.ServerResponse);
  };
}

/** GET /metrics: the process's Prometheus registry. */
export function metricsRoute(): Route {
  const { registry } = processMetrics();
  return (req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") return false;
    registry.metrics().then(
      (text) => {
        (res as http.ServerResponse).writeHead(200, { "content-type": registry.contentType });
        (res as http.ServerResponse).end(text);
      },
      (error: unknown) => sendJson(res, 500, { status: "error", reason: String(error) }),
    );
    return true;
  };
}

/**
 * Every process's own routes first (GET /healthz, /readyz, /metrics), then
 * the handler `current()` returns for everything else (asked per request, so
 * the service host can swap its "starting" answer for the real one).
 */
export function processHandler(readiness: Readiness, current: () => FrontDoorHandler): FrontDoorHandler {
  const health = healthRoute(readiness);
  const metrics = metricsRoute();
  return (req, res) => {
    if (health(req, res) || metrics(req, res)) return;
    current()(req, res);
  };
}

export interface RpcServerOptions extends Omit<RpcHandlerOptions, "interceptors"> {
  host: string;
  port: number;
  health: { readyz: () => Promise<void> };
  interceptors?: Interceptor[];
}

export interface RpcServer {
  port: number;
  close(): Promise<void>;
}

/**
 * A standalone RPC server with the platform's interceptor chain, health and
 * metrics on one port: what the service host runs, for tests, benchmarks and
 * the conformance server that need one without a whole service.
 */
export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const readiness = createReadiness({ timeoutMs: 2_000 });
  readiness.add("readyz", options.health.readyz);
  const rpc = createRpcHandler({ ...options, interceptors: options.interceptors ?? serverInterceptors() });
  const door = await startFrontDoor({
    host: options.host,
    port: options.port,
    handler: processHandler(readiness, () => rpc),
  });
  return { port: door.port, close: () => door.close() };
}
