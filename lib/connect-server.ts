import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type {
  DescMessage,
  DescMethod,
  DescService,
  JsonReadOptions,
  JsonWriteOptions,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createHandlerContext,
  createMethodImplSpec,
  createServiceImplSpec,
  type Interceptor,
  type MethodImplSpec,
} from "@connectrpc/connect";
import {
  compressionNegotiate,
  createMethodSerializationLookup,
  invokeUnaryImplementation,
  type MethodSerializationLookup,
  mergeNonProtocolHeaders,
  validateReadWriteMaxBytes,
} from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorToJsonBytes, trailerMux } from "@connectrpc/connect/protocol-connect";
import { compressionBrotli, compressionGzip, connectNodeAdapter } from "@connectrpc/connect-node";
import { rejectNulStrings } from "./input-guard.js";
import { metricsInterceptor, processMetrics } from "./metrics.js";
import { CORRELATION_HEADER, correlationIdFrom, runWithContext } from "./request-context.js";

export interface HealthChecks {
  /** Liveness: the process runs. */
  healthz?: () => Promise<void> | void;
  /** Readiness: every dependency the service needs answers. */
  readyz: () => Promise<void>;
}

export interface RpcServerOptions {
  routes: (router: ConnectRouter) => void;
  health: HealthChecks;
  host: string;
  port: number;
  /** Largest accepted request body, in bytes. */
  readMaxBytes?: number;
  /**
   * JSON codec options for every route, e.g. a registry for google.protobuf.Any
   * (the conformance service needs one). The services use the defaults.
   */
  jsonOptions?: Partial<JsonReadOptions & JsonWriteOptions>;
}

export interface RpcServer {
  port: number;
  close(): Promise<void>;
}

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Serves Connect, gRPC and gRPC-Web on one cleartext port: HTTP/1.1 for
 * Connect JSON from curl and browsers, HTTP/2 (prior knowledge, h2c) for gRPC.
 * Node has no h2c upgrade, so each connection is routed by its first bytes:
 * the HTTP/2 client preface goes to the http2 server, anything else to http.
 *
 * Connect unary POSTs over HTTP/1.1 take a lean path (see unaryFastPath);
 * everything else is served by connectNodeAdapter.
 */
export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const readMaxBytes = options.readMaxBytes ?? 1024 * 1024;
  const unary = new Map<string, UnaryRoute>();
  const metrics = processMetrics();
  const interceptors = [metricsInterceptor(metrics.rpcDuration), correlationInterceptor, rejectNulStrings];
  const connect = connectNodeAdapter({
    routes: (router) => options.routes(recordingRouter(router, unary, readMaxBytes, options.jsonOptions)),
    readMaxBytes,
    interceptors,
    jsonOptions: options.jsonOptions,
  });
  const fast = unaryFastPath(unary, readMaxBytes, interceptors, options.jsonOptions);

  // Requests being served; shutdown waits for these, not for idle keep-alive connections.
  let inFlight = 0;
  const handler = (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => {
    inFlight += 1;
    res.once("close", () => {
      inFlight -= 1;
    });
    const url = req.url ?? "";
    if (req.method === "GET" && (url === "/healthz" || url === "/readyz")) {
      const check = url === "/healthz" ? (options.health.healthz ?? (() => {})) : options.health.readyz;
      Promise.resolve()
        .then(check)
        .then(
          () => sendJson(res, 200, { status: "ok" }),
          (error: unknown) =>
            sendJson(res, 503, { status: "unavailable", reason: String((error as Error)?.message ?? error) }),
        );
      return;
    }
    if (req.method === "GET" && url === "/metrics") {
      metrics.registry.metrics().then(
        (text) => {
          (res as http.ServerResponse).writeHead(200, { "content-type": metrics.registry.contentType });
          (res as http.ServerResponse).end(text);
        },
        (error: unknown) => sendJson(res, 500, { status: "error", reason: String(error) }),
      );
      return;
    }
    if (res instanceof http.ServerResponse && fast(req as http.IncomingMessage, res)) return;
    connect(req as http.IncomingMessage, res as http.ServerResponse);
  };

  const h1 = http.createServer(handler);
  h1.keepAliveTimeout = 65_000;
  const h2 = http2.createServer({}, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const front = net.createServer((socket) => {
    // http.createServer disables Nagle on the sockets it accepts itself; these
    // are accepted here and handed over, so it is done here. Otherwise a
    // response written in two pieces waits for the client's delayed ACK.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("error", () => socket.destroy());
    socket.once("data", (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      const isHttp2 = first
        .subarray(0, Math.min(first.length, HTTP2_PREFACE.length))
        .equals(HTTP2_PREFACE.subarray(0, Math.min(first.length, HTTP2_PREFACE.length)));
      if (isHttp2) {
        // The http2 session reads the bytes still buffered in the socket on
        // its next tick; resuming here would hand them to nobody.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });
  front.on("error", () => {});

  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(options.port, options.host, () => resolve());
  });
  const address = front.address() as net.AddressInfo;

  return {
    port: address.port,
    async close() {
      // Stop accepting, let in-flight requests finish (5 s at most), then drop
      // every connection. front.close's callback would wait for idle
      // keep-alive connections too, so it is not awaited.
      front.close();
      for (const session of sessions) session.close();
      const deadline = Date.now() + 5_000;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const socket of sockets) socket.destroy();
      h1.close();
      h2.close();
    },
  };
}

/**
 * Runs every call with a correlation id (the caller's x-correlation-id, else
 * its traceparent's trace id, else a new one) in the request context, and
 * echoes it in the response headers.
 */
const correlationInterceptor: Interceptor = (next) => async (req) => {
  const correlationId = correlationIdFrom(req.header.get(CORRELATION_HEADER), req.header.get("traceparent"));
  const res = await runWithContext({ correlationId }, () => next(req));
  res.header.set(CORRELATION_HEADER, correlationId);
  return res;
};

function sendJson(res: http.ServerResponse | http2.Http2ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  (res as http.ServerResponse).writeHead(status, { "content-type": "application/json" });
  (res as http.ServerResponse).end(text);
}

interface UnaryRoute {
  spec: MethodImplSpec & { kind: "unary" };
  serialization: MethodSerializationLookup<DescMessage, DescMessage>;
}

/**
 * Passes every registration through to connect's router, and remembers the
 * unary methods registered without per-service options, which are the ones
 * the fast path may serve with the same implementation.
 */
function recordingRouter(
  router: ConnectRouter,
  unary: Map<string, UnaryRoute>,
  readMaxBytes: number,
  jsonOptions: RpcServerOptions["jsonOptions"],
): ConnectRouter {
  const limits = validateReadWriteMaxBytes(readMaxBytes, undefined, undefined);
  const remember = (spec: MethodImplSpec) => {
    if (spec.kind !== "unary") return;
    unary.set(`/${spec.method.parent.typeName}/${spec.method.name}`, {
      spec,
      serialization: createMethodSerializationLookup(spec.method, undefined, jsonOptions, limits),
    });
  };
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service: DescService, implementation: object, opts?: object) {
      router.service(service, implementation as never, opts as never);
      const spec = createServiceImplSpec(service, implementation as never);
      for (const method of service.methods) {
        const path = `/${service.typeName}/${method.name}`;
        // A later registration of the same path wins in connect's router too.
        unary.delete(path);
        if (opts === undefined) remember(spec.methods[method.localName] as MethodImplSpec);
      }
      return recording;
    },
    rpc(method: DescMethod, implementation: unknown, opts?: object) {
      router.rpc(method as never, implementation as never, opts as never);
      unary.delete(`/${method.parent.typeName}/${method.name}`);
      if (opts === undefined) remember(createMethodImplSpec(method, implementation as never));
      return recording;
    },
  } as ConnectRouter;
  return recording;
}

const unaryContentTypes = new Map<string | undefined, boolean>([
  ["application/json", false],
  ["application/json; charset=utf-8", false],
  ["application/json;charset=utf-8", false],
  ["application/proto", true],
]);
// Same order as connectNodeAdapter's default, so negotiation picks the same one.
const responseCompressions = [compressionGzip, compressionBrotli];
const compressMinBytes = 1024;

/**
 * Serves a Connect unary call (POST, JSON or binary, uncompressed request, no
 * deadline header) over HTTP/1.1 with connect's own pieces — serialization
 * with its limits, handler context, invocation through the same interceptors,
 * error JSON, header muxing, compression negotiation — but without connect-node's stream-first adapter
 * (URL and Headers rebuilt per request, async iterators over the body read
 * twice, one AbortController per layer). Returns false for any request it does
 * not serve; connectNodeAdapter answers those.
 */
function unaryFastPath(
  routes: Map<string, UnaryRoute>,
  readMaxBytes: number,
  interceptors: Interceptor[],
  jsonOptions: RpcServerOptions["jsonOptions"],
) {
  return (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    if (req.method !== "POST") return false;
    const route = routes.get(req.url ?? "");
    if (route === undefined) return false;
    const headers = req.headers;
    const binary = unaryContentTypes.get(headers["content-type"]?.toLowerCase());
    if (binary === undefined) return false;
    const encoding = headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    if (headers["connect-timeout-ms"] !== undefined) return false;
    const declared = headers["content-length"];
    if (declared !== undefined && Number(declared) > readMaxBytes) return false;

    const { spec, serialization } = route;
    const context = createHandlerContext({
      service: spec.method.parent,
      method: spec.method,
      protocolName: "connect",
      requestMethod: "POST",
      requestHeader: webHeaders(headers),
      url: `http://${headers.host ?? "localhost"}${req.url}`,
      responseHeader: { "content-type": binary ? "application/proto" : "application/json" },
    });
    let answered = false;
    // The client went away before the answer: cancel what the handler does.
    res.once("close", () => {
      if (!answered) context.abort();
    });

    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      // Past the limit the rest is read and dropped, so the connection stays usable.
      if (size <= readMaxBytes) chunks.push(chunk);
    });
    req.once("error", () => context.abort());
    req.once("end", () => {
      void answerFast(size > readMaxBytes ? undefined : Buffer.concat(chunks, size)).then(
        () => {},
        () => res.destroy(),
      );
    });

    async function answerFast(body: Uint8Array | undefined) {
      let status = 200;
      let out: Uint8Array;
      try {
        if (body === undefined) {
          throw new ConnectError(
            `message size is larger than configured readMaxBytes ${readMaxBytes}`,
            Code.ResourceExhausted,
          );
        }
        let input: ReturnType<ReturnType<typeof serialization.getI>["parse"]>;
        try {
          input = serialization.getI(binary as boolean).parse(body);
        } catch (e) {
          // Undecodable binary is the client's fault: invalid_argument, where
          // connect-node itself answers internal (JSON errors already are 400).
          const error = ConnectError.from(e);
          if (error.code !== Code.Internal) throw error;
          throw new ConnectError(
            `request is not a valid ${spec.method.input.typeName}: ${error.rawMessage}`,
            Code.InvalidArgument,
          );
        }
        const output = await invokeUnaryImplementation(spec, context, input, interceptors);
        out = serialization.getO(binary as boolean).serialize(output);
      } catch (e) {
        context.abort(e);
        const error =
          e instanceof ConnectError
            ? e
            : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
        status = codeToHttpStatus(error.code);
        context.responseHeader.set("content-type", "application/json");
        if (!error.isWireError) mergeNonProtocolHeaders(context.responseHeader, error.metadata);
        out = errorToJsonBytes(error, jsonOptions ?? {});
      } finally {
        answered = true;
        context.abort(completedReason());
      }
      const compression = compressionNegotiate(
        responseCompressions,
        null,
        headers["accept-encoding"] ?? null,
        "Accept-Encoding",
      ).response;
      if (compression !== null && out.byteLength >= compressMinBytes) {
        out = await compression.compress(out);
        context.responseHeader.set("content-encoding", compression.name);
      }
      const header = trailerMux(context.responseHeader, context.responseTrailer);
      header.set("content-length", String(out.byteLength));
      if (res.destroyed) return;
      res.writeHead(status, nodeHeaders(header));
      res.end(out);
    }
    return true;
  };
}

/**
 * The reason the handler's signal is aborted with once the call is answered:
 * the AbortError connect uses (context.abort() without a reason), built
 * without a stack trace. The stack would point into this file and capturing
 * it was the largest single cost left per call.
 */
function completedReason(): DOMException {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new DOMException("This operation was aborted", "AbortError");
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function webHeaders(headers: http.IncomingHttpHeaders): Headers {
  const web = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (typeof value === "string") web.append(name, value);
    else for (const one of value) web.append(name, one);
  }
  return web;
}

function nodeHeaders(headers: Headers): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  headers.forEach((value, name) => {
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [String(existing), value];
  });
  return out;
}
