// Conformance server for connectrpc/conformance v1.0.7 (server mode).
//
// The runner starts this program, writes one length-prefixed
// ServerCompatRequest to stdin and expects one length-prefixed
// ServerCompatResponse (host, port) on stdout; then its reference client sends
// the test RPCs to connectrpc.conformance.v1.ConformanceService. Stdout carries
// nothing else; diagnostics go to stderr.
//
//   --variant=after   startRpcServer from lib/rpc/server.ts, as the services use it
//   --variant=before  the pre-fix server (connectNodeAdapter for everything), see
//                     tools/connect-baseline/baseline-connect-server.ts
//
// Plain Node runs it (type stripping): node conformance/server.ts --variant=after
import { create, createRegistry, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { type Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { startRpcServer as startAfter } from "#lib/rpc/server.ts";
import { startRpcServer as startBefore } from "#tools/connect-baseline/baseline-connect-server.ts";
import {
  ServerCompatRequestSchema,
  ServerCompatResponseSchema,
} from "./gen/connectrpc/conformance/v1/server_compat_pb.js";
import {
  type BidiStreamRequest,
  BidiStreamRequestSchema,
  type ClientStreamRequest,
  ClientStreamRequestSchema,
  ConformancePayload_RequestInfoSchema,
  type ConformancePayloadSchema,
  ConformanceService,
  type Error as ErrorDef,
  file_connectrpc_conformance_v1_service,
  type Header,
  type IdempotentUnaryRequest,
  IdempotentUnaryRequestSchema,
  type ServerStreamRequest,
  ServerStreamRequestSchema,
  type UnaryRequest,
  UnaryRequestSchema,
  type UnaryResponseDefinition,
} from "./gen/connectrpc/conformance/v1/service_pb.js";

type RequestInfoInit = MessageInitShape<typeof ConformancePayload_RequestInfoSchema>;
type AnyMessage = NonNullable<RequestInfoInit["requests"]>[number];

const variant = process.argv.find((arg) => arg.startsWith("--variant="))?.slice("--variant=".length);
if (variant !== "before" && variant !== "after") {
  process.stderr.write("usage: node conformance/server.ts --variant=before|after\n");
  process.exit(2);
}

/** Request headers as the conformance protos list them: one entry per name. */
function headerList(headers: Headers): Header[] {
  const byName = new Map<string, string[]>();
  headers.forEach((value, name) => {
    const values = byName.get(name) ?? [];
    values.push(value);
    byName.set(name, values);
  });
  return [...byName].map(([name, value]) => ({ name, value }) as Header);
}

function setHeaders(target: Headers, headers: Header[] | undefined) {
  for (const header of headers ?? []) for (const value of header.value) target.append(header.name, value);
}

function requestInfo(ctx: HandlerContext, requests: AnyMessage[], connectGet = false): RequestInfoInit {
  const info: RequestInfoInit = { requestHeaders: headerList(ctx.requestHeader), requests };
  const timeout = ctx.timeoutMs();
  if (timeout !== undefined) info.timeoutMs = BigInt(timeout);
  if (connectGet) {
    const params = new URL(ctx.url).searchParams;
    const byName = new Map<string, string[]>();
    for (const [name, value] of params) byName.set(name, [...(byName.get(name) ?? []), value]);
    info.connectGetInfo = { queryParams: [...byName].map(([name, value]) => ({ name, value })) };
  }
  return info;
}

/** The error a response definition asks for, with the request info as its first detail. */
function errorFrom(def: ErrorDef, info: RequestInfoInit | undefined): ConnectError {
  const error = new ConnectError(
    def.message ?? "",
    def.code as number as Code,
    undefined,
    info === undefined ? [] : [{ desc: ConformancePayload_RequestInfoSchema, value: info }],
  );
  // The definition's own details are Any already: passed on as they are.
  for (const detail of def.details) {
    error.details.push({
      type: detail.typeUrl.slice(detail.typeUrl.lastIndexOf("/") + 1),
      value: detail.value,
    });
  }
  return error;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal.reason ?? new Error("aborted")));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}

async function answerUnary(
  def: UnaryResponseDefinition | undefined,
  ctx: HandlerContext,
  info: RequestInfoInit,
): Promise<{ payload: MessageInitShape<typeof ConformancePayloadSchema> }> {
  setHeaders(ctx.responseHeader, def?.responseHeaders);
  setHeaders(ctx.responseTrailer, def?.responseTrailers);
  await sleep(def?.responseDelayMs ?? 0, ctx.signal);
  if (def?.response.case === "error") throw errorFrom(def.response.value, info);
  const data = def?.response.case === "responseData" ? def.response.value : new Uint8Array(0);
  return { payload: { data, requestInfo: info } };
}

const implementation = {
  async unary(req: UnaryRequest, ctx: HandlerContext) {
    const info = requestInfo(ctx, [anyPack(UnaryRequestSchema, req)]);
    return answerUnary(req.responseDefinition, ctx, info);
  },

  async idempotentUnary(req: IdempotentUnaryRequest, ctx: HandlerContext) {
    const info = requestInfo(ctx, [anyPack(IdempotentUnaryRequestSchema, req)], ctx.requestMethod === "GET");
    return answerUnary(req.responseDefinition, ctx, info);
  },

  async clientStream(requests: AsyncIterable<ClientStreamRequest>, ctx: HandlerContext) {
    const received: AnyMessage[] = [];
    let def: UnaryResponseDefinition | undefined;
    for await (const req of requests) {
      if (received.length === 0) def = req.responseDefinition;
      received.push(anyPack(ClientStreamRequestSchema, req));
    }
    return answerUnary(def, ctx, requestInfo(ctx, received));
  },

  async *serverStream(req: ServerStreamRequest, ctx: HandlerContext) {
    const def = req.responseDefinition;
    let info: RequestInfoInit | undefined = requestInfo(ctx, [anyPack(ServerStreamRequestSchema, req)]);
    if (def === undefined) return;
    setHeaders(ctx.responseHeader, def.responseHeaders);
    setHeaders(ctx.responseTrailer, def.responseTrailers);
    for (const data of def.responseData) {
      await sleep(def.responseDelayMs, ctx.signal);
      yield { payload: { data, requestInfo: info } };
      info = undefined;
    }
    if (def.error !== undefined) throw errorFrom(def.error, info);
  },

  async *bidiStream(requests: AsyncIterable<BidiStreamRequest>, ctx: HandlerContext) {
    let def: BidiStreamRequest["responseDefinition"];
    let fullDuplex = false;
    let first = true;
    let sent = 0;
    let received: AnyMessage[] = [];
    let info: RequestInfoInit | undefined;
    for await (const req of requests) {
      received.push(anyPack(BidiStreamRequestSchema, req));
      if (first) {
        first = false;
        def = req.responseDefinition;
        fullDuplex = req.fullDuplex;
        setHeaders(ctx.responseHeader, def?.responseHeaders);
        setHeaders(ctx.responseTrailer, def?.responseTrailers);
      }
      if (!fullDuplex) continue;
      // Full duplex: one response per request, while response data lasts.
      if (def === undefined || sent >= def.responseData.length) {
        if (def?.error !== undefined) {
          throw errorFrom(def.error, sent === 0 ? requestInfo(ctx, received) : undefined);
        }
        continue;
      }
      await sleep(def.responseDelayMs, ctx.signal);
      const payload: MessageInitShape<typeof ConformancePayloadSchema> = { data: def.responseData[sent] };
      payload.requestInfo = sent === 0 ? requestInfo(ctx, received) : { requests: received };
      yield { payload };
      sent += 1;
      received = [];
    }
    if (def === undefined) return;
    if (!fullDuplex) {
      info = requestInfo(ctx, received);
      for (const data of def.responseData) {
        await sleep(def.responseDelayMs, ctx.signal);
        yield { payload: { data, requestInfo: info } };
        info = undefined;
        sent += 1;
      }
    }
    if (def.error !== undefined)
      throw errorFrom(def.error, sent === 0 ? requestInfo(ctx, received) : undefined);
  },
  // Unimplemented is left out on purpose: the router answers unimplemented.
};

// Request info holds the requests as google.protobuf.Any, so the JSON codec
// needs to know their types.
const jsonOptions = { registry: createRegistry(file_connectrpc_conformance_v1_service) };

// "after" takes the JSON options server-wide, so the fast path serves these
// routes; the pre-fix server has no such option, so they go with the route
// (connectNodeAdapter treats both alike).
const routes =
  variant === "after"
    ? (router: ConnectRouter) => router.service(ConformanceService, implementation)
    : (router: ConnectRouter) => router.service(ConformanceService, implementation, { jsonOptions });

async function readCompatRequest(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    const all = Buffer.concat(chunks, size);
    if (all.length >= 4 && all.length >= 4 + all.readUInt32BE(0)) {
      return all.subarray(4, 4 + all.readUInt32BE(0));
    }
  }
  throw new Error("stdin ended before a complete ServerCompatRequest");
}

async function main() {
  const request = fromBinary(ServerCompatRequestSchema, await readCompatRequest());
  if (request.useTls) throw new Error("TLS is not supported by this server (config.yaml says so)");
  // Both variants serve HTTP/1.1 and h2c on one port, whatever http_version asks for.
  const options = {
    host: "127.0.0.1",
    port: 0,
    routes,
    health: { readyz: async () => {} },
    readMaxBytes: request.messageReceiveLimit > 0 ? request.messageReceiveLimit : undefined,
  };
  const server =
    variant === "after" ? await startAfter({ ...options, jsonOptions }) : await startBefore(options);
  const response = toBinary(
    ServerCompatResponseSchema,
    create(ServerCompatResponseSchema, { host: "127.0.0.1", port: server.port }),
  );
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(response.length, 0);
  process.stdout.write(Buffer.concat([prefix, response]));

  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `conformance server (${variant}) failed: ${String((error as Error)?.stack ?? error)}\n`,
  );
  process.exit(1);
});
