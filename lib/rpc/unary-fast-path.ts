import type http from "node:http";
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
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";

type JsonOptions = Partial<JsonReadOptions & JsonWriteOptions> | undefined;

/**
 * The unary fast path (ADR 0009): Connect unary POSTs over HTTP/1.1 served
 * with connect's own pieces but without connect-node's stream-first adapter.
 * `recordingRouter` learns which methods it may serve while the routes are
 * registered with connect's router; `unaryFastPath` serves them.
 */
export type UnaryRoutes = Map<string, UnaryRoute>;

export interface UnaryRoute {
  spec: MethodImplSpec & { kind: "unary" };
  serialization: MethodSerializationLookup<DescMessage, DescMessage>;
}

/**
 * Passes every registration through to connect's router, and remembers the
 * unary methods registered without per-service options, which are the ones
 * the fast path may serve with the same implementation.
 */
export function recordingRouter(
  router: ConnectRouter,
  unary: Map<string, UnaryRoute>,
  readMaxBytes: number,
  jsonOptions: JsonOptions,
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
export function unaryFastPath(
  routes: Map<string, UnaryRoute>,
  readMaxBytes: number,
  interceptors: Interceptor[],
  jsonOptions: JsonOptions,
) {
  return (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    if (req.method !== "POST") return false;
    const route = routes.get(req.url ?? "");
    if (route === undefined) return false;
    const headers = req.headers;
    const binary = unaryContentTypes.get(headers["content-type"]?.toLowerCase());
    if (binary === undefined) return false;
    const encoding = headers["content-encoding"];
    // Compressed bodies go to connect, whose gzip/br decompression stops at
    // readMaxBytes of output (resource_exhausted; front-door-limits test).
    if (encoding !== undefined && encoding !== "identity") return false;
    if (headers["connect-timeout-ms"] !== undefined) return false;
    const declared = headers["content-length"];
    if (declared !== undefined && Number(declared) > readMaxBytes) return false;

    // Named again: a function declared below does not see the narrowing above.
    const served: UnaryRoute = route;
    const { spec, serialization } = served;
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
        const input = parseRequest(served, binary as boolean, body);
        const output = await invokeUnaryImplementation(spec, context, input, interceptors);
        out = serialization.getO(binary as boolean).serialize(output);
      } catch (e) {
        context.abort(e);
        const error = asConnectError(e);
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
 * The request message of a fast-path call. Undecodable binary is the
 * client's fault: invalid_argument, where connect-node itself answers
 * internal (JSON errors already are invalid_argument).
 */
export function parseRequest(route: UnaryRoute, binary: boolean, bytes: Uint8Array) {
  try {
    return route.serialization.getI(binary).parse(bytes);
  } catch (e) {
    const error = ConnectError.from(e);
    if (error.code !== Code.Internal) throw error;
    throw new ConnectError(
      `request is not a valid ${route.spec.method.input.typeName}: ${error.rawMessage}`,
      Code.InvalidArgument,
    );
  }
}

/** What a handler threw, as the error the caller gets: anything but a ConnectError is internal, its message kept back. */
export function asConnectError(e: unknown): ConnectError {
  return e instanceof ConnectError
    ? e
    : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
}

/**
 * The reason the handler's signal is aborted with once the call is answered:
 * the AbortError connect uses (context.abort() without a reason), built
 * without a stack trace. The stack would point into this file and capturing
 * it was the largest single cost left per call.
 */
export function completedReason(): DOMException {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new DOMException("This operation was aborted", "AbortError");
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** A request's headers as web Headers, without HTTP/2's pseudo-headers (as connect-node does). */
export function webHeaders(headers: http.IncomingHttpHeaders): Headers {
  const web = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":")) continue;
    if (typeof value === "string") web.append(name, value);
    else for (const one of value) web.append(name, one);
  }
  return web;
}

export function nodeHeaders(headers: Headers): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  headers.forEach((value, name) => {
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [String(existing), value];
  });
  return out;
}
