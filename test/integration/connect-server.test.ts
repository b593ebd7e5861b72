import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { gunzipSync, gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  type HandlerContext,
} from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type GetOrderRequest,
  GetOrderRequestSchema,
  GetOrderResponseSchema,
  OrderService,
  OrderStatus,
} from "#gen/accord/orders/v1/orders_pb.js";
import { rpcClient } from "#lib/rpc/clients.ts";
import { type RpcServer, startRpcServer } from "#lib/rpc/server.ts";

// startRpcServer serves Connect unary over HTTP/1.1 on its own lean path (ADR
// 0009). Every answer it gives must be the one connectNodeAdapter gives for the
// same request, so each case below is sent to both and compared; the handler
// reports which path called it, so a case cannot silently test the other one.
const READ_MAX = 4096;
const orderId = "0190b7f4-6c1e-7a3b-9d2e-5f4a3b2c1d0e";
let servedBy: "fast" | "connect" | undefined;
let lastSignal: AbortSignal | undefined;

function order(id: string, lines = 1) {
  return create(GetOrderResponseSchema, {
    order: {
      orderId: id,
      customerId: "customer-1",
      lines: Array.from({ length: lines }, (_, i) => ({
        sku: `SKU-${i}`,
        quantity: 1,
        unitPrice: { currencyCode: "EUR", amountMinor: 1000n },
      })),
      status: OrderStatus.PENDING,
    },
  });
}

const routes = (router: ConnectRouter) =>
  router.service(OrderService, {
    // Only getOrder is implemented: the others answer Unimplemented.
    getOrder: async (req: GetOrderRequest, ctx: HandlerContext) => {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 100;
      servedBy = /answer(Grpc)?Fast/.test(new Error().stack ?? "") ? "fast" : "connect";
      Error.stackTraceLimit = limit;
      lastSignal = ctx.signal;
      ctx.responseHeader.set("x-handler", "getOrder");
      ctx.responseTrailer.set("x-trailer", "t1");
      switch (req.orderId) {
        case "missing":
          throw new ConnectError("order missing not found", Code.NotFound, { "x-reason": "no such order" });
        case "boom":
          throw new Error("database exploded");
        case "large":
          return order("large", 40);
        case "traceparent":
          return order(ctx.requestHeader.get("traceparent") ?? "none");
        case "slow":
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          return order("slow");
        default:
          return order(req.orderId);
      }
    },
  });

let server: RpcServer;
let reference: http.Server;
let referencePort: number;
let grpcReference: http2.Http2Server;
let grpcReferencePort: number;

beforeAll(async () => {
  server = await startRpcServer({
    host: "127.0.0.1",
    port: 0,
    routes,
    health: { readyz: async () => {} },
    readMaxBytes: READ_MAX,
  });
  reference = http.createServer(connectNodeAdapter({ routes, readMaxBytes: READ_MAX }));
  await new Promise<void>((resolve) => reference.listen(0, "127.0.0.1", resolve));
  referencePort = (reference.address() as net.AddressInfo).port;
  grpcReference = http2.createServer(connectNodeAdapter({ routes, readMaxBytes: READ_MAX }));
  await new Promise<void>((resolve) => grpcReference.listen(0, "127.0.0.1", resolve));
  grpcReferencePort = (grpcReference.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await server?.close();
  reference?.closeAllConnections();
  await new Promise((resolve) => reference?.close(resolve));
  await new Promise((resolve) => grpcReference?.close(resolve));
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  servedBy: typeof servedBy;
}

// Headers that carry the protocol's answer; date and keep-alive differ by server, not by answer.
const compared = [
  "content-type",
  "content-encoding",
  "x-handler",
  "trailer-x-trailer",
  "x-reason",
  "connection",
];

function send(
  port: number,
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  method = "POST",
): Promise<Answer> {
  servedBy = undefined;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const picked: Record<string, string> = {};
        for (const name of compared) {
          const value = res.headers[name];
          if (value !== undefined) picked[name] = String(value);
        }
        let raw = Buffer.concat(chunks);
        if (res.headers["content-encoding"] === "gzip") raw = gunzipSync(raw);
        resolve({ status: res.statusCode ?? 0, headers: picked, body: raw, servedBy });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends the same request to startRpcServer and to the plain adapter; returns both answers. */
async function both(
  headers: Record<string, string>,
  body: Buffer | undefined,
  options: { path?: string; method?: string } = {},
) {
  const path = options.path ?? "/accord.orders.v1.OrderService/GetOrder";
  const ours = await send(server.port, path, headers, body, options.method);
  const theirs = await send(referencePort, path, headers, body, options.method);
  expect(theirs.servedBy === undefined || theirs.servedBy === "connect").toBe(true);
  expect({ ...ours, servedBy: undefined, body: ours.body.toString("base64") }).toEqual({
    ...theirs,
    servedBy: undefined,
    body: theirs.body.toString("base64"),
  });
  return ours;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const binary = (id: string) =>
  Buffer.from(toBinary(GetOrderRequestSchema, create(GetOrderRequestSchema, { orderId: id })));

describe("Connect unary over HTTP/1.1: same answers as connectNodeAdapter", () => {
  it("JSON success, with response headers and trailers", async () => {
    const a = await both({ "content-type": "application/json" }, json({ orderId }));
    expect(a.status).toBe(200);
    expect(a.servedBy).toBe("fast");
    expect(JSON.parse(a.body.toString()).order.orderId).toBe(orderId);
    expect(a.headers["trailer-x-trailer"]).toBe("t1");
  });

  it("binary success", async () => {
    const a = await both({ "content-type": "application/proto" }, binary(orderId));
    expect(a.status).toBe(200);
    expect(a.servedBy).toBe("fast");
    expect(a.headers["content-type"]).toBe("application/proto");
  });

  it("chunked request body (what the Connect client sends)", async () => {
    const a = await both(
      { "content-type": "application/json; charset=utf-8", "transfer-encoding": "chunked" },
      json({ orderId }),
    );
    expect(a.status).toBe(200);
    expect(a.servedBy).toBe("fast");
  });

  it("request headers reach the handler", async () => {
    const a = await both(
      { "content-type": "application/json", traceparent: "00-abc-def-01" },
      json({ orderId: "traceparent" }),
    );
    expect(JSON.parse(a.body.toString()).order.orderId).toBe("00-abc-def-01");
  });

  it("ConnectError with metadata", async () => {
    const a = await both({ "content-type": "application/json" }, json({ orderId: "missing" }));
    expect(a.status).toBe(404);
    expect(a.servedBy).toBe("fast");
    expect(a.headers["x-reason"]).toBe("no such order");
    expect(JSON.parse(a.body.toString())).toEqual({ code: "not_found", message: "order missing not found" });
  });

  it("a plain Error is an internal error without its message", async () => {
    const a = await both({ "content-type": "application/proto" }, binary("boom"));
    expect(a.status).toBe(500);
    expect(JSON.parse(a.body.toString()).code).toBe("internal");
  });

  it("malformed JSON, unknown fields, bad binary", async () => {
    const bad = await both({ "content-type": "application/json" }, Buffer.from("{not json"));
    expect(bad.status).toBe(400);
    const unknown = await both({ "content-type": "application/json" }, json({ orderId, nope: 1 }));
    expect(unknown.status).toBe(200);
    // The one intended difference: undecodable binary is the client's fault
    // (invalid_argument, 400) where connect-node answers internal (500).
    const garbage = Buffer.from([0x0a, 0x50, 0x01]);
    const ours = await send(
      server.port,
      "/accord.orders.v1.OrderService/GetOrder",
      { "content-type": "application/proto" },
      garbage,
    );
    expect(ours.status).toBe(400);
    expect(JSON.parse(ours.body.toString()).code).toBe("invalid_argument");
    const theirs = await send(
      referencePort,
      "/accord.orders.v1.OrderService/GetOrder",
      { "content-type": "application/proto" },
      garbage,
    );
    expect(theirs.status).toBe(500);
  });

  it("bodies over readMaxBytes: chunked on the fast path, declared ones by connect", async () => {
    const big = json({ orderId: "x".repeat(READ_MAX) });
    const chunked = await both({ "content-type": "application/json", "transfer-encoding": "chunked" }, big);
    expect(chunked.status).toBe(429);
    expect(JSON.parse(chunked.body.toString()).code).toBe("resource_exhausted");
    const declared = await both({ "content-type": "application/json" }, big);
    expect(declared.status).toBe(429);
  });

  it("gzip response when the client accepts it and the body is large", async () => {
    const a = await both(
      { "content-type": "application/json", "accept-encoding": "gzip" },
      json({ orderId: "large" }),
    );
    expect(a.headers["content-encoding"]).toBe("gzip");
    expect(a.servedBy).toBe("fast");
    expect(JSON.parse(a.body.toString()).order.lines).toHaveLength(40);
  });

  it("what the fast path leaves to connect: compressed requests, deadlines, GET, other media types", async () => {
    const gz = await both(
      { "content-type": "application/json", "content-encoding": "gzip" },
      gzipSync(json({ orderId })),
    );
    expect(gz.status).toBe(200);
    expect(gz.servedBy).toBe("connect");
    const deadline = await both(
      { "content-type": "application/json", "connect-timeout-ms": "5000" },
      json({ orderId }),
    );
    expect(deadline.status).toBe(200);
    expect(deadline.servedBy).toBe("connect");
    const get = await both({}, undefined, {
      method: "GET",
      path: "/accord.orders.v1.OrderService/GetOrder?encoding=json&message=%7B%7D",
    });
    expect(get.status).toBe(405);
    const text = await both({ "content-type": "text/plain" }, Buffer.from("hi"));
    expect(text.status).toBe(415);
  });

  it("unimplemented methods and unknown paths", async () => {
    const a = await both({ "content-type": "application/json" }, json({}), {
      path: "/accord.orders.v1.OrderService/ListOrders",
    });
    expect(a.status).toBe(501);
    const b = await both({ "content-type": "application/json" }, json({}), { path: "/nope.v1.Nope/Nope" });
    expect(b.status).toBe(404);
  });

  it("jsonOptions apply on the fast path as they do in connectNodeAdapter", async () => {
    // The conformance server passes a type registry for google.protobuf.Any
    // this way; proto field names show the same plumbing with the orders protos.
    const jsonOptions = { useProtoFieldName: true };
    const ours = await startRpcServer({
      host: "127.0.0.1",
      port: 0,
      routes,
      health: { readyz: async () => {} },
      jsonOptions,
    });
    const theirs = http.createServer(connectNodeAdapter({ routes, jsonOptions }));
    await new Promise<void>((resolve) => theirs.listen(0, "127.0.0.1", resolve));
    try {
      const path = "/accord.orders.v1.OrderService/GetOrder";
      const headers = { "content-type": "application/json" };
      const a = await send(ours.port, path, headers, json({ order_id: orderId }));
      expect(a.servedBy).toBe("fast");
      const b = await send(
        (theirs.address() as net.AddressInfo).port,
        path,
        headers,
        json({ order_id: orderId }),
      );
      expect(a.body.toString()).toEqual(b.body.toString());
      expect(JSON.parse(a.body.toString()).order.order_id).toBe(orderId);
    } finally {
      await ours.close();
      theirs.closeAllConnections();
      await new Promise((resolve) => theirs.close(resolve));
    }
  });
});

interface GrpcAnswer {
  status: number;
  headers: Record<string, string>;
  trailers: Record<string, string>;
  body: string;
  servedBy: typeof servedBy;
}

const grpcCompared = ["content-type", "grpc-encoding", "x-handler", "grpc-status", "grpc-message"];
const grpcTrailersCompared = [
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "x-trailer",
  "x-reason",
];

/** One gRPC call over h2c, raw: the headers, trailers and body bytes as the server sent them. */
function sendGrpc(
  port: number,
  headers: Record<string, string>,
  body: Buffer,
  path = "/accord.orders.v1.OrderService/GetOrder",
): Promise<GrpcAnswer> {
  servedBy = undefined;
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.once("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, te: "trailers", ...headers });
    const pick = (from: http2.IncomingHttpHeaders, names: string[]) =>
      Object.fromEntries(names.filter((n) => from[n] !== undefined).map((n) => [n, String(from[n])]));
    let status = 0;
    let picked: Record<string, string> = {};
    let trailers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      status = Number(h[":status"]);
      picked = pick(h, grpcCompared);
    });
    req.on("trailers", (t) => {
      trailers = pick(t, grpcTrailersCompared);
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      session.close();
      resolve({
        status,
        headers: picked,
        trailers,
        body: Buffer.concat(chunks).toString("base64"),
        servedBy,
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The same gRPC call to startRpcServer and to connectNodeAdapter on its own h2c server. */
async function bothGrpc(headers: Record<string, string>, body: Buffer, path?: string) {
  const ours = await sendGrpc(server.port, headers, body, path);
  const theirs = await sendGrpc(grpcReferencePort, headers, body, path);
  expect(theirs.servedBy === undefined || theirs.servedBy === "connect").toBe(true);
  expect({ ...ours, servedBy: undefined }).toEqual({ ...theirs, servedBy: undefined });
  return ours;
}

/** A gRPC length-prefixed message: flags, 4-byte length, the bytes. */
function envelope(message: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(5 + message.byteLength);
  out[0] = flags;
  out.writeUInt32BE(message.byteLength, 1);
  out.set(message, 5);
  return out;
}

describe("gRPC unary over HTTP/2: same answers as connectNodeAdapter (ADR 0029)", () => {
  const proto = { "content-type": "application/grpc+proto" };

  it("binary and JSON success, with response headers and trailers", async () => {
    const a = await bothGrpc(proto, envelope(binary(orderId)));
    expect(a.servedBy).toBe("fast");
    expect(a.status).toBe(200);
    expect(a.trailers).toMatchObject({ "grpc-status": "0", "x-trailer": "t1" });
    expect(a.headers["x-handler"]).toBe("getOrder");
    const j = await bothGrpc({ "content-type": "application/grpc+json" }, envelope(json({ orderId })));
    expect(j.servedBy).toBe("fast");
    expect(JSON.parse(Buffer.from(j.body, "base64").subarray(5).toString()).order.orderId).toBe(orderId);
    // Plain application/grpc is proto too.
    expect((await bothGrpc({ "content-type": "application/grpc" }, envelope(binary(orderId)))).servedBy).toBe(
      "fast",
    );
  });

  it("errors as trailer status: a ConnectError with its metadata, a plain Error as internal", async () => {
    const missing = await bothGrpc(proto, envelope(binary("missing")));
    expect(missing.servedBy).toBe("fast");
    expect(missing.trailers).toMatchObject({
      "grpc-status": String(Code.NotFound),
      "grpc-message": encodeURIComponent("order missing not found"),
      "x-reason": "no such order",
    });
    const boom = await bothGrpc(proto, envelope(binary("boom")));
    expect(boom.trailers).toMatchObject({
      "grpc-status": String(Code.Internal),
      "grpc-message": "internal%20error",
    });
  });

  it("malformed envelopes: missing, incomplete, too large, two messages, compressed without an encoding", async () => {
    const cases = {
      missing: Buffer.alloc(0),
      incomplete: Buffer.from([0, 0, 0]),
      short: envelope(binary(orderId)).subarray(0, 8),
      tooLarge: Buffer.concat([Buffer.from([0, 0, 0, 0x20, 0]), Buffer.alloc(16)]),
      twoMessages: Buffer.concat([envelope(binary(orderId)), envelope(binary(orderId))]),
      compressedFlag: envelope(binary(orderId), 1),
    };
    const codes: Record<string, string | undefined> = {};
    for (const [name, body] of Object.entries(cases)) {
      const ours = await sendGrpc(server.port, proto, body);
      expect(ours.servedBy, name).toBeUndefined();
      codes[name] = ours.trailers["grpc-status"] ?? ours.headers["grpc-status"];
      const theirs = await sendGrpc(grpcReferencePort, proto, body);
      expect(codes[name], name).toBe(theirs.trailers["grpc-status"] ?? theirs.headers["grpc-status"]);
    }
    expect(codes).toEqual({
      missing: String(Code.Unimplemented),
      incomplete: String(Code.InvalidArgument),
      short: String(Code.InvalidArgument),
      tooLarge: String(Code.ResourceExhausted),
      twoMessages: String(Code.Unimplemented),
      compressedFlag: String(Code.Internal),
    });
  });

  it("undecodable bytes are the client's fault: invalid_argument, where connect-node answers internal", async () => {
    const garbage = envelope(Buffer.from([0x0a, 0x50, 0x01]));
    const ours = await sendGrpc(server.port, proto, garbage);
    expect(ours.trailers["grpc-status"]).toBe(String(Code.InvalidArgument));
    const theirs = await sendGrpc(grpcReferencePort, proto, garbage);
    expect(theirs.trailers["grpc-status"]).toBe(String(Code.Internal));
  });

  it("a deadline reaches the handler's signal", async () => {
    const started = Date.now();
    const a = await bothGrpc({ ...proto, "grpc-timeout": "300m" }, envelope(binary("slow")));
    expect(a.servedBy).toBe("fast");
    expect(lastSignal?.aborted).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("gzip response when the client accepts it and the message is large", async () => {
    const accepts = { "content-type": "application/grpc+json", "grpc-accept-encoding": "gzip" };
    const a = await bothGrpc(accepts, envelope(json({ orderId: "large" })));
    expect(a.servedBy).toBe("fast");
    expect(a.headers["grpc-encoding"]).toBe("gzip");
    expect(Buffer.from(a.body, "base64")[0]).toBe(1);
    // A small message is not compressed, though the encoding is named.
    const small = await bothGrpc(accepts, envelope(json({ orderId })));
    expect(Buffer.from(small.body, "base64")[0]).toBe(0);
  });

  it("what the fast path leaves to connect: compressed requests, malformed deadlines, gRPC-Web, unimplemented", async () => {
    const gz = await bothGrpc({ ...proto, "grpc-encoding": "gzip" }, envelope(gzipSync(binary(orderId)), 1));
    expect(gz.trailers["grpc-status"]).toBe("0");
    expect(gz.servedBy).toBe("connect");
    const badDeadline = await bothGrpc({ ...proto, "grpc-timeout": "soon" }, envelope(binary(orderId)));
    expect(badDeadline.trailers["grpc-status"] ?? badDeadline.headers["grpc-status"]).toBe(
      String(Code.InvalidArgument),
    );
    const web = await bothGrpc({ "content-type": "application/grpc-web+proto" }, envelope(binary(orderId)));
    expect(web.servedBy).toBe("connect");
    const unimplemented = await bothGrpc(
      proto,
      envelope(new Uint8Array()),
      "/accord.orders.v1.OrderService/ListOrders",
    );
    expect(unimplemented.trailers["grpc-status"] ?? unimplemented.headers["grpc-status"]).toBe(
      String(Code.Unimplemented),
    );
  });
});

describe("every protocol still answers through startRpcServer", () => {
  const url = () => `http://127.0.0.1:${server.port}`;

  it.each(["connect-json", "connect-binary", "grpc"] as const)("%s", async (protocol) => {
    const client = rpcClient(OrderService, url(), protocol);
    const { order: got } = await client.getOrder({ orderId });
    expect(got?.orderId).toBe(orderId);
    const error = await client.getOrder({ orderId: "missing" }).catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.NotFound);
    expect((error as ConnectError).metadata.get("x-reason")).toBe("no such order");
  });

  it("gRPC-Web over HTTP/1.1", async () => {
    const client = createClient(OrderService, createGrpcWebTransport({ baseUrl: url(), httpVersion: "1.1" }));
    const { order: got } = await client.getOrder({ orderId });
    expect(got?.orderId).toBe(orderId);
    expect(servedBy).toBe("connect");
  });

  it("the handler's signal is aborted when the call completes, and when the client goes away", async () => {
    await send(
      server.port,
      "/accord.orders.v1.OrderService/GetOrder",
      { "content-type": "application/json" },
      json({ orderId }),
    );
    expect(lastSignal?.aborted).toBe(true);
    expect((lastSignal?.reason as DOMException | undefined)?.name).toBe("AbortError");

    lastSignal = undefined;
    const socket = net.connect(server.port, "127.0.0.1");
    const body = JSON.stringify({ orderId: "slow" });
    socket.write(
      `POST /accord.orders.v1.OrderService/GetOrder HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    // A function, so the compiler does not narrow the handler-set variable to undefined.
    const signal = (): AbortSignal | undefined => lastSignal;
    await expect.poll(signal).toBeDefined();
    expect(signal()?.aborted).toBe(false);
    expect(servedBy).toBe("fast");
    socket.destroy();
    await expect.poll(() => signal()?.aborted).toBe(true);
  });

  it("disables Nagle on the HTTP/1.1 sockets it hands over", async () => {
    // Without it a response written in two pieces waits for the client's delayed ACK.
    const calls: { remotePort: number | undefined; enabled: boolean | undefined }[] = [];
    const original = net.Socket.prototype.setNoDelay;
    net.Socket.prototype.setNoDelay = function (this: net.Socket, enabled?: boolean) {
      calls.push({ remotePort: this.remotePort, enabled });
      return original.call(this, enabled);
    };
    try {
      const socket = net.connect(server.port, "127.0.0.1");
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.write("GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
      await new Promise((resolve) => socket.once("data", resolve));
      expect(calls).toContainEqual({ remotePort: socket.localPort, enabled: true });
      socket.destroy();
    } finally {
      net.Socket.prototype.setNoDelay = original;
    }
  });
});

describe("GET /metrics", () => {
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    return res.text();
  };
  const count = (text: string, code: string) => {
    const line = text
      .split("\n")
      .find((l) =>
        l.startsWith(
          `rpc_server_duration_seconds_count{method="/accord.orders.v1.OrderService/GetOrder",code="${code}"}`,
        ),
      );
    return line === undefined ? 0 : Number(line.split(" ").at(-1));
  };

  it("counts RPCs by method and code, on the fast path and through connect, and has Node's event-loop delay", async () => {
    const before = await scrape();
    await send(
      server.port,
      "/accord.orders.v1.OrderService/GetOrder",
      { "content-type": "application/json" },
      json({ orderId }),
    );
    expect(servedBy).toBe("fast");
    await send(
      server.port,
      "/accord.orders.v1.OrderService/GetOrder",
      { "content-type": "application/json", "connect-timeout-ms": "5000" },
      json({ orderId: "missing" }),
    );
    expect(servedBy).toBe("connect");
    const after = await scrape();
    expect(count(after, "ok") - count(before, "ok")).toBe(1);
    expect(count(after, "not_found") - count(before, "not_found")).toBe(1);
    expect(after).toMatch(/^nodejs_eventloop_lag_p99_seconds \S+$/m);
  });
});
