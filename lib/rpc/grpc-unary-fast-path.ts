import type http2 from "node:http2";
import { Code, ConnectError, createHandlerContext, type Interceptor } from "@connectrpc/connect";
import { compressionNegotiate, invokeUnaryImplementation } from "@connectrpc/connect/protocol";
import {
  contentTypeJson,
  contentTypeProto,
  grpcStatusOk,
  headerAcceptEncoding,
  headerEncoding,
  headerGrpcStatus,
  parseContentType,
  parseTimeout,
  setTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import {
  asConnectError,
  completedReason,
  nodeHeaders,
  parseRequest,
  type UnaryRoute,
  webHeaders,
} from "./unary-fast-path.ts";

// Same order as connectNodeAdapter's default, so negotiation picks the same one.
const responseCompressions = [compressionGzip, compressionBrotli];
const compressMinBytes = 1024;
const ENVELOPE_HEADER_BYTES = 5;
const COMPRESSED_FLAG = 0b01;

/**
 * The gRPC unary fast path (ADR 0029): unary gRPC calls over HTTP/2 (binary
 * or JSON, identity-encoded request, any deadline) served with connect's own
 * pieces — content type and deadline parsing, serialization with its limits,
 * handler context, invocation through the same interceptors, trailer status,
 * compression negotiation — but without the stream-first pipeline of
 * connect-node's gRPC handler (async iterables over the request and the
 * response, Headers and URL rebuilt per layer). Returns false for any request
 * it does not serve, before reading it; connectNodeAdapter answers those.
 */
export function grpcUnaryFastPath(
  routes: Map<string, UnaryRoute>,
  readMaxBytes: number,
  interceptors: Interceptor[],
) {
  return (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): boolean => {
    if (req.method !== "POST") return false;
    const route = routes.get(req.url);
    if (route === undefined) return false;
    const headers = req.headers;
    const type = parseContentType(headers["content-type"] ?? null);
    if (type === undefined) return false;
    const encoding = headers["grpc-encoding"];
    // Compressed requests go to connect, whose decompression stops at readMaxBytes of output.
    if (encoding !== undefined && encoding !== "identity") return false;
    const timeout = parseTimeout(asHeader(headers["grpc-timeout"]), Number.MAX_SAFE_INTEGER);
    // A malformed deadline is answered by connect, as a trailer status.
    if (timeout.error) return false;

    const { binary } = type;
    // Named again: a function declared below does not see the narrowing above.
    const served: UnaryRoute = route;
    const { spec, serialization } = served;
    const context = createHandlerContext({
      service: spec.method.parent,
      method: spec.method,
      protocolName: "grpc",
      requestMethod: "POST",
      requestHeader: webHeaders(headers),
      url: `http://${headers[":authority"] ?? "localhost"}${req.url}`,
      ...(timeout.timeoutMs === undefined ? {} : { timeoutMs: timeout.timeoutMs }),
      responseHeader: { "content-type": binary ? contentTypeProto : contentTypeJson },
      responseTrailer: { [headerGrpcStatus]: grpcStatusOk },
    });
    // Named in the headers once negotiated, as connect does; only messages
    // of compressMinBytes and more are compressed (their flag says so).
    const compression = compressionNegotiate(
      responseCompressions,
      null,
      asHeader(headers["grpc-accept-encoding"]),
      headerAcceptEncoding,
    ).response;
    if (compression !== null) context.responseHeader.set(headerEncoding, compression.name);
    let answered = false;
    // The client went away (or reset the stream) before the answer: cancel what the handler does.
    res.once("close", () => {
      if (!answered) context.abort();
    });

    const chunks: Buffer[] = [];
    let size = 0;
    const limit = readMaxBytes + ENVELOPE_HEADER_BYTES;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      // Past the limit the rest is read and dropped; the envelope's own length says why.
      if (size <= limit) chunks.push(chunk);
    });
    req.once("error", () => context.abort());
    req.once("end", () => {
      void answerGrpcFast(Buffer.concat(chunks)).then(
        () => {},
        () => res.destroy(),
      );
    });

    async function answerGrpcFast(body: Buffer) {
      let message: Uint8Array | undefined;
      let compressed = false;
      try {
        const input = parseRequest(served, binary, unaryMessage(body, readMaxBytes));
        const output = await invokeUnaryImplementation(spec, context, input, interceptors);
        message = serialization.getO(binary).serialize(output);
        if (compression !== null && message.byteLength >= compressMinBytes) {
          message = await compression.compress(message);
          compressed = true;
        }
      } catch (e) {
        context.abort(e);
        message = undefined;
        setTrailerStatus(context.responseTrailer, asConnectError(e));
      } finally {
        answered = true;
        context.abort(completedReason());
      }
      if (res.destroyed || res.stream.destroyed) return;
      res.writeHead(200, nodeHeaders(context.responseHeader));
      res.addTrailers(nodeHeaders(context.responseTrailer));
      if (message === undefined) {
        res.end();
        return;
      }
      const envelope = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + message.byteLength);
      envelope[0] = compressed ? COMPRESSED_FLAG : 0;
      envelope.writeUInt32BE(message.byteLength, 1);
      envelope.set(message, ENVELOPE_HEADER_BYTES);
      res.end(envelope);
    }
    return true;
  };
}

/**
 * The one message of a unary request body: exactly one envelope, not
 * compressed (an identity request), with connect's errors for the same bodies.
 */
function unaryMessage(body: Buffer, readMaxBytes: number): Uint8Array {
  if (body.length === 0) {
    throw new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented);
  }
  if (body.length < ENVELOPE_HEADER_BYTES) {
    throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  }
  const flags = body[0] ?? 0;
  const length = body.readUInt32BE(1);
  if (length > readMaxBytes) {
    throw new ConnectError(
      `message size ${length} is larger than configured readMaxBytes ${readMaxBytes}`,
      Code.ResourceExhausted,
    );
  }
  if (body.length < ENVELOPE_HEADER_BYTES + length) {
    throw new ConnectError(
      `protocol error: promised ${length} bytes, received ${body.length - ENVELOPE_HEADER_BYTES}`,
      Code.InvalidArgument,
    );
  }
  if (body.length > ENVELOPE_HEADER_BYTES + length) {
    throw new ConnectError(
      "protocol error: received extra input message for unary method",
      Code.Unimplemented,
    );
  }
  if ((flags & COMPRESSED_FLAG) !== 0) {
    throw new ConnectError("received compressed envelope, but do not know how to decompress", Code.Internal);
  }
  return body.subarray(ENVELOPE_HEADER_BYTES);
}

function asHeader(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : value;
}
