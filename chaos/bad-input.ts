import { randomBytes, randomUUID } from "node:crypto";
import http2 from "node:http2";
import { type DescField, type DescMessage, type DescService, ScalarType } from "@bufbuild/protobuf";
import amqp from "amqplib";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import type { Caller, MethodRule } from "#lib/auth/authorization.ts";
import { createKafka, kafkaAuthFrom, parseBrokers } from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { inventoryAuthorization } from "#services/inventory/src/authorization.ts";
import { notificationAuthorization } from "#services/notifications/src/authorization.ts";
import { orderAuthorization } from "#services/orders/src/authorization.ts";
import { paymentAuthorization } from "#services/payments/src/authorization.ts";
import { shippingAuthorization } from "#services/shipping/src/authorization.ts";
import { bearerFor, type TestCaller } from "#test/support/identity.ts";
import type { Platform, ServiceName } from "#test/support/platform.ts";
import { startIsolatedPlatform } from "./chaos.ts";
import { servicePids } from "./processes.ts";

/**
 * Bad input at volume against the real services: malformed Connect requests
 * (wrong JSON types, huge strings, unknown enum names, missing fields, invalid
 * UTF-8, bodies beyond readMaxBytes, garbage content types, binary garbage as
 * application/proto), truncated gRPC frames over HTTP/2, poison Kafka events
 * and malformed RabbitMQ tasks. A client error must get a 4xx with a Connect
 * code other than internal/unknown; nothing may crash; every poison message
 * must end in its dead-letter queue.
 */

export const RPC_TARGETS: {
  service: DescService;
  process: ServiceName;
  authorization: Readonly<Record<string, MethodRule>>;
}[] = [
  { service: OrderService, process: "orders", authorization: orderAuthorization },
  { service: InventoryService, process: "inventory", authorization: inventoryAuthorization },
  { service: PaymentService, process: "payments", authorization: paymentAuthorization },
  { service: ShippingService, process: "shipping", authorization: shippingAuthorization },
  { service: NotificationService, process: "notifications", authorization: notificationAuthorization },
];

/** A demo identity of the development realm for each kind of caller a rule names. */
const CALLER_AS: Record<Exclude<Caller, "anyone">, TestCaller> = {
  customer: "alice",
  partner: "acme",
  ops: "olivia",
  release: "accord-ci",
  "service:orders": "orders",
  "service:inventory": "inventory",
  "service:payments": "payments",
  "service:shipping": "shipping",
  "service:notifications": "notifications",
  "service:orchestrator": "orchestrator",
  "service:catalog": "catalog",
  "service:carrier": "carrier",
};

/**
 * The Authorization header of a caller the method's rule lets in (a real
 * token from the realm), so malformed input reaches validation instead of
 * stopping at the door; undefined for a method open to anyone.
 */
async function allowedAuthorization(
  rule: MethodRule | undefined,
  audience: string,
): Promise<Record<string, string>> {
  const caller = rule?.allow.find((c): c is Exclude<Caller, "anyone"> => c !== "anyone");
  if (rule === undefined || rule.allow.includes("anyone") || caller === undefined) return {};
  return { authorization: await bearerFor(CALLER_AS[caller], audience) };
}

/** Connect codes (and gRPC status numbers) that say "the server failed", not "you sent nonsense". */
const SERVER_FAULT_CODES = new Set(["internal", "unknown", "data_loss", "unavailable"]);
const SERVER_FAULT_GRPC = new Set(["2", "13", "14", "15"]);

export interface Probe {
  endpoint: string;
  case: string;
  status: number;
  code: string;
  message: string;
}

export interface RpcReport {
  requests: number;
  /** Responses that are a server fault for a client error. */
  failures: Probe[];
  /** How many responses of each status/code. */
  histogram: Map<string, number>;
}

// ---------------------------------------------------------------- sample bodies

/** A plausible valid JSON body for a message, so one bad field reaches the handler's own code. */
export function sampleJson(desc: DescMessage, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (depth > 3) return out;
  for (const field of desc.fields) {
    const value = sampleField(field, depth);
    if (value !== undefined) out[field.jsonName] = value;
  }
  return out;
}

function sampleField(field: DescField, depth: number): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return sampleScalar(field.scalar, field.name);
    case "enum":
      return (field.enum.values[1] ?? field.enum.values[0])?.name;
    case "message":
      return sampleMessage(field.message, depth);
    case "list":
      if (field.listKind === "scalar") return [sampleScalar(field.scalar, field.name)];
      if (field.listKind === "enum") return [(field.enum.values[1] ?? field.enum.values[0])?.name];
      return [sampleMessage(field.message, depth)];
    case "map":
      return {};
  }
}

function sampleMessage(desc: DescMessage, depth: number): unknown {
  if (desc.typeName === "google.protobuf.Timestamp") return "2026-01-01T00:00:00Z";
  if (desc.typeName === "google.protobuf.Struct") return {};
  return sampleJson(desc, depth + 1);
}

function sampleScalar(type: ScalarType, name: string): unknown {
  switch (type) {
    case ScalarType.STRING:
      if (name.endsWith("email")) return "bad-input@example.com";
      if (name.includes("currency")) return "EUR";
      if (name.includes("country")) return "DE";
      if (name === "url") return "http://127.0.0.1:9/hook";
      if (name === "event_types") return "accord.orders.v1.OrderConfirmed";
      if (name.includes("idempotency_key")) return `bad-input-${randomUUID()}`;
      if (name.endsWith("_id")) return randomUUID();
      if (name === "sku") return "BAD-INPUT-SKU";
      return "bad input";
    case ScalarType.BOOL:
      return false;
    case ScalarType.BYTES:
      return "AAEC";
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return 1;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return "100";
    default:
      return 1;
  }
}

// ---------------------------------------------------------------- mutations

const HUGE = "x".repeat(200_000);

/** Values that are wrong for a field's JSON type, or valid JSON but hostile to what comes after. */
function badValues(field: DescField, volume: "short" | "full"): { name: string; value: unknown }[] {
  const common = [
    { name: "object", value: { nested: true } },
    { name: "array", value: [1, 2] },
  ];
  const kind = field.fieldKind === "list" ? "list" : field.fieldKind;
  let values: { name: string; value: unknown }[];
  if (kind === "scalar" && field.scalar === ScalarType.STRING) {
    values = [
      { name: "number", value: 123 },
      { name: "bool", value: true },
      { name: "NUL char", value: "a\u0000b" },
      { name: "huge string", value: HUGE },
      { name: "lone surrogate", value: "\ud800x" },
      { name: "emoji x 5000", value: "💥".repeat(5000) },
      { name: "sql", value: "'; DROP TABLE orders; --" },
      { name: "empty", value: "" },
      ...common,
    ];
  } else if (kind === "scalar" && field.scalar === ScalarType.BOOL) {
    values = [{ name: "string", value: "yes" }, { name: "number 2", value: 2 }, ...common];
  } else if (kind === "scalar") {
    values = [
      { name: "not a number", value: "abc" },
      { name: "fraction", value: 1.5 },
      { name: "negative", value: -1 },
      { name: "zero", value: 0 },
      { name: "int32 overflow", value: 2147483648 },
      { name: "int64 max", value: "9223372036854775807" },
      { name: "int64 min", value: "-9223372036854775808" },
      { name: "int64 overflow", value: "99999999999999999999" },
      { name: "1e300", value: 1e300 },
      ...common,
    ];
  } else if (kind === "enum") {
    values = [
      { name: "unknown enum name", value: "NOT_A_REAL_VALUE" },
      { name: "unknown enum number", value: 9999 },
      { name: "negative enum number", value: -1 },
      { name: "bool", value: true },
      ...common,
    ];
  } else if (kind === "message") {
    values = [
      { name: "string", value: "x" },
      { name: "number", value: 123 },
      { name: "array", value: [1] },
    ];
  } else if (kind === "list") {
    values = [
      { name: "string instead of list", value: "x" },
      { name: "object instead of list", value: { a: 1 } },
      { name: "list of null", value: [null] },
      { name: "list of numbers", value: [1, 2, 3] },
      {
        name: "5000 elements",
        value: Array.from({ length: 5000 }, () =>
          field.fieldKind === "list" && field.listKind === "message" ? sampleMessage(field.message, 1) : "x",
        ),
      },
    ];
  } else {
    values = [{ name: "string instead of map", value: "x" }];
  }
  return volume === "full" ? values : values.filter((_, i) => i % 2 === 0);
}

interface Case {
  name: string;
  headers: Record<string, string>;
  body: Uint8Array | string | (() => ReadableStream<Uint8Array>);
  method?: string;
}

const JSON_HEADERS = { "content-type": "application/json" };

/** Every malformed request for one method. */
export function casesFor(input: DescMessage, volume: "short" | "full", readMaxBytes: number): Case[] {
  const base = sampleJson(input);
  const cases: Case[] = [];
  const json = (name: string, body: unknown) =>
    cases.push({ name, headers: JSON_HEADERS, body: JSON.stringify(body) });

  // One bad field at a time in an otherwise plausible body, one level of nesting deep.
  const mutate = (desc: DescMessage, path: string[], set: (value: unknown, at: string[]) => unknown) => {
    for (const field of desc.fields) {
      for (const bad of badValues(field, volume)) {
        json(`${[...path, field.jsonName].join(".")} = ${bad.name}`, set(bad.value, [field.jsonName]));
      }
      json(`${[...path, field.jsonName].join(".")} missing`, set(undefined, [field.jsonName]));
      if (
        path.length === 0 &&
        field.fieldKind === "message" &&
        !field.message.typeName.startsWith("google.")
      ) {
        mutate(field.message, [field.jsonName], (value, at) => set(value, [field.jsonName, ...at]));
      }
      if (path.length === 0 && field.fieldKind === "list" && field.listKind === "message") {
        mutate(field.message, [`${field.jsonName}[0]`], (value, at) =>
          set(value, [field.jsonName, "0", ...at]),
        );
      }
    }
  };
  mutate(input, [], (value, at) => withPath(base, at, value));

  json("empty object", {});
  json("unknown field", { ...base, notAFieldAtAll: 1 });
  for (const [name, body] of [
    ["empty body", ""],
    ["truncated JSON", JSON.stringify(base).slice(0, 20)],
    ["null", "null"],
    ["array body", "[]"],
    ["string body", '"hello"'],
    ["number body", "42"],
    ["trailing garbage", `${JSON.stringify(base)}}}}`],
  ] as const) {
    cases.push({ name, headers: JSON_HEADERS, body });
  }
  const firstString = input.fields.find((f) => f.fieldKind === "scalar" && f.scalar === ScalarType.STRING);
  const key = firstString?.jsonName ?? "x";
  cases.push({
    name: "invalid UTF-8 in a string",
    headers: JSON_HEADERS,
    body: Buffer.concat([
      Buffer.from(`{"${key}":"ab`),
      Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
      Buffer.from(`"}`),
    ]),
  });
  cases.push({
    name: "invalid UTF-8 outside strings",
    headers: JSON_HEADERS,
    body: Buffer.concat([Buffer.from("{"), Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80]), Buffer.from("}")]),
  });
  const oversized = JSON.stringify({ [key]: "y".repeat(readMaxBytes + 1024) });
  cases.push({ name: "body beyond readMaxBytes", headers: JSON_HEADERS, body: oversized });
  cases.push({
    name: "body beyond readMaxBytes, chunked",
    headers: JSON_HEADERS,
    body: () => chunked(Buffer.from(oversized)),
  });
  for (const type of [
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "application/connect+json",
    "application/grpc",
    "application/grpc-web+proto",
    "image/png",
  ]) {
    cases.push({
      name: `content-type ${type}`,
      headers: { "content-type": type },
      body: JSON.stringify(base),
    });
  }
  cases.push({
    name: "no content-type",
    headers: {},
    body: new Uint8Array(Buffer.from(JSON.stringify(base))),
  });
  const proto = { "content-type": "application/proto" };
  cases.push({ name: "proto: random bytes", headers: proto, body: randomBytes(256) });
  cases.push({ name: "proto: 0xff x 32", headers: proto, body: Buffer.alloc(32, 0xff) });
  cases.push({ name: "proto: truncated varint", headers: proto, body: Buffer.from([0x08, 0xff, 0xff]) });
  cases.push({
    name: "proto: length beyond body",
    headers: proto,
    body: Buffer.from([0x0a, 0x64, 0x41, 0x42]),
  });
  cases.push({
    name: "proto: invalid UTF-8 string",
    headers: proto,
    body: Buffer.from([0x0a, 0x02, 0xff, 0xfe]),
  });
  cases.push({ name: "proto: wire type 7", headers: proto, body: Buffer.from([0x0f, 0x01]) });
  cases.push({ name: "JSON sent as application/proto", headers: proto, body: JSON.stringify(base) });
  cases.push({
    name: "proto sent as application/json",
    headers: JSON_HEADERS,
    body: Buffer.from([0x0a, 0x02, 0x41, 0x42]),
  });
  for (const method of ["PUT", "DELETE", "PATCH"]) {
    cases.push({ name: `HTTP ${method}`, headers: JSON_HEADERS, body: JSON.stringify(base), method });
  }
  cases.push({ name: "HTTP GET without message", headers: {}, body: "", method: "GET" });
  return cases;
}

function withPath(base: Record<string, unknown>, at: string[], value: unknown): unknown {
  const copy = structuredClone(base);
  let node: Record<string, unknown> = copy;
  for (const step of at.slice(0, -1)) {
    const next = node[step];
    if (typeof next !== "object" || next === null) return copy;
    node = next as Record<string, unknown>;
  }
  const last = at[at.length - 1] as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

function chunked(bytes: Buffer): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.subarray(offset, offset + 64 * 1024));
      offset += 64 * 1024;
    },
  });
}

// ---------------------------------------------------------------- sending

async function sendConnect(
  url: string,
  c: Case,
  authorization: Record<string, string>,
): Promise<{ status: number; code: string; message: string }> {
  const method = c.method ?? "POST";
  const body = typeof c.body === "function" ? c.body() : c.body;
  const init: RequestInit & { duplex?: "half" } = {
    method,
    headers: { ...c.headers, ...authorization },
    signal: AbortSignal.timeout(15_000),
  };
  if (method !== "GET") {
    init.body = body as RequestInit["body"];
    if (typeof c.body === "function") init.duplex = "half";
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let code = "";
  let message = "";
  try {
    const parsed = JSON.parse(text) as { code?: string; message?: string };
    code = parsed.code ?? "";
    message = parsed.message ?? "";
  } catch {
    message = text.slice(0, 120);
  }
  return { status: res.status, code: res.status === 200 ? "ok" : code || `http ${res.status}`, message };
}

/** Unary gRPC calls over HTTP/2 whose length-prefixed frames are broken. */
function grpcCases(): { name: string; body: Buffer }[] {
  const frame = (flag: number, length: number, payload: Buffer) => {
    const header = Buffer.alloc(5);
    header.writeUInt8(flag, 0);
    header.writeUInt32BE(length, 1);
    return Buffer.concat([header, payload]);
  };
  return [
    { name: "grpc: frame promises 100 bytes, carries 10", body: frame(0, 100, randomBytes(10)) },
    { name: "grpc: 3-byte frame header", body: Buffer.from([0, 0, 0]) },
    { name: "grpc: no frame at all", body: Buffer.alloc(0) },
    { name: "grpc: garbage payload", body: frame(0, 32, Buffer.alloc(32, 0xff)) },
    { name: "grpc: frame length 4 GB", body: frame(0, 0xffffffff, randomBytes(16)) },
    {
      name: "grpc: two messages for a unary call",
      body: Buffer.concat([frame(0, 0, Buffer.alloc(0)), frame(0, 0, Buffer.alloc(0))]),
    },
    { name: "grpc: unknown flag bits", body: frame(0x40, 0, Buffer.alloc(0)) },
  ];
}

function sendGrpc(
  session: http2.ClientHttp2Session,
  path: string,
  body: Buffer,
  authorization: Record<string, string>,
): Promise<{ status: number; code: string; message: string }> {
  return new Promise((resolve) => {
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...authorization,
    });
    let status = 0;
    let grpcStatus = "";
    let grpcMessage = "";
    const timer = setTimeout(() => {
      req.close();
      resolve({ status, code: "timeout", message: "no answer in 15 s" });
    }, 15_000);
    req.on("response", (headers) => {
      status = Number(headers[":status"] ?? 0);
      if (headers["grpc-status"] !== undefined) {
        grpcStatus = String(headers["grpc-status"]);
        grpcMessage = String(headers["grpc-message"] ?? "");
      }
    });
    req.on("trailers", (trailers) => {
      grpcStatus = String(trailers["grpc-status"] ?? grpcStatus);
      grpcMessage = decodeURIComponent(String(trailers["grpc-message"] ?? grpcMessage));
    });
    req.on("data", () => {});
    req.on("error", (err) => {
      clearTimeout(timer);
      resolve({ status, code: "stream error", message: err.message });
    });
    req.on("close", () => {
      clearTimeout(timer);
      resolve({ status, code: grpcStatus === "" ? "none" : `grpc ${grpcStatus}`, message: grpcMessage });
    });
    req.end(body);
  });
}

/** Runs every case against every method of every service; `concurrency` requests at once. */
export async function fuzzRpc(
  platform: Platform,
  options: { volume: "short" | "full"; concurrency?: number; readMaxBytes?: number },
): Promise<RpcReport> {
  const readMaxBytes = options.readMaxBytes ?? 1024 * 1024;
  const jobs: (() => Promise<void>)[] = [];
  const report: RpcReport = { requests: 0, failures: [], histogram: new Map() };
  const record = (endpoint: string, name: string, r: { status: number; code: string; message: string }) => {
    report.requests++;
    const bucket = `${r.status} ${r.code}`;
    report.histogram.set(bucket, (report.histogram.get(bucket) ?? 0) + 1);
    // The one accepted exception: a gRPC frame whose protobuf bytes do not
    // decode answers INTERNAL, as grpc-go and grpc-java do ("error
    // unmarshalling request"); connect-node decodes before any hook of ours
    // runs. Connect's own protocol answers invalid_argument for the same bytes.
    const undecodableGrpc = name === "grpc: garbage payload" && r.code === "grpc 13";
    const grpcFault =
      r.code.startsWith("grpc ") && SERVER_FAULT_GRPC.has(r.code.slice(5)) && !undecodableGrpc;
    if (
      r.status >= 500 ||
      r.status === 0 ||
      SERVER_FAULT_CODES.has(r.code) ||
      grpcFault ||
      r.code === "timeout"
    ) {
      report.failures.push({ endpoint, case: name, ...r, message: r.message.slice(0, 200) });
    }
  };
  const sessions: http2.ClientHttp2Session[] = [];
  for (const target of RPC_TARGETS) {
    const baseUrl = platform.urls[target.process];
    const session = http2.connect(baseUrl);
    session.on("error", () => {});
    sessions.push(session);
    for (const method of target.service.methods) {
      const path = `/${target.service.typeName}/${method.name}`;
      const endpoint = `${target.process} ${method.name}`;
      const authorization = await allowedAuthorization(
        target.authorization[method.localName],
        target.process,
      );
      for (const c of casesFor(method.input, options.volume, readMaxBytes)) {
        jobs.push(async () => {
          try {
            record(endpoint, c.name, await sendConnect(`${baseUrl}${path}`, c, authorization));
          } catch (error) {
            record(endpoint, c.name, {
              status: 0,
              code: "no response",
              message: String((error as Error).message),
            });
          }
        });
      }
      for (const g of grpcCases()) {
        jobs.push(async () => record(endpoint, g.name, await sendGrpc(session, path, g.body, authorization)));
      }
    }
  }
  const concurrency = options.concurrency ?? 16;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        await job?.();
      }
    }),
  );
  for (const s of sessions) s.close();
  return report;
}

// ---------------------------------------------------------------- liveness

export async function livenessProblems(platform: Platform, prefix: string): Promise<string[]> {
  const problems: string[] = [];
  for (const name of platform.processes.keys()) {
    if (servicePids(name, prefix).length === 0) problems.push(`${name}: process gone`);
    const ok = await fetch(`${platform.urls[name]}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (!ok) problems.push(`${name}: /readyz not 200`);
  }
  return problems;
}

// ---------------------------------------------------------------- poison events

export interface PoisonReport {
  sent: number;
  /** topic -> poison ids still missing from <topic>.dlq, per consumer group seen. */
  missing: string[];
  /** Topics no consumer reads: a poison event there cannot be dead-lettered. */
  unconsumed: string[];
  dlqCounts: Record<string, number>;
}

/**
 * Publishes poison events on every <domain>.events topic of the platform and
 * waits until each consumer group reading the topic has put each of them in
 * <topic>.dlq (told apart by the dlq_consumer_group header).
 */
export async function poisonKafka(
  groupsByTopic: Record<string, number>,
  allTopics: string[],
  timeoutMs: number,
): Promise<PoisonReport> {
  const kafka = createKafka({
    clientId: "bad-input",
    brokers: parseBrokers(process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"),
    auth: kafkaAuthFrom(),
    logger: createLogger("bad-input", "error"),
    logLevel: "error",
  });
  const producer = kafka.producer();
  await producer.connect();
  const run = randomUUID().slice(0, 8);
  const expected = new Map<string, Set<string>>();
  const now = new Date().toISOString();
  const good = (type: string) => ({
    ce_id: randomUUID(),
    ce_type: type,
    ce_source: "/accord/bad-input",
    ce_time: now,
    ce_specversion: "1.0",
    "content-type": "application/protobuf",
  });
  const poisons: { name: string; value: Buffer | null; headers: Record<string, string> }[] = [
    { name: "garbage bytes", value: Buffer.alloc(48, 0xff), headers: good(OrderPlacedSchema.typeName) },
    {
      name: "wrong ce_type",
      value: Buffer.from([0x0a, 0x01, 0x41]),
      headers: good("accord.nothing.v1.Nope"),
    },
    { name: "no headers", value: randomBytes(32), headers: {} },
    {
      name: "JSON content-type",
      value: Buffer.from('{"orderId":"x"}'),
      headers: { ...good(OrderPlacedSchema.typeName), "content-type": "application/json" },
    },
    { name: "tombstone", value: null, headers: good(OrderPlacedSchema.typeName) },
    {
      name: "spec version 0.3",
      value: Buffer.alloc(0),
      headers: { ...good(OrderPlacedSchema.typeName), ce_specversion: "0.3" },
    },
    {
      name: "bad ce_time",
      value: Buffer.alloc(0),
      headers: { ...good(OrderPlacedSchema.typeName), ce_time: "yesterday" },
    },
  ];
  let sent = 0;
  for (const topic of allTopics) {
    const ids = new Set<string>();
    const messages = poisons.map((p, i) => {
      const id = `poison-${run}-${i}`;
      ids.add(id);
      return { key: `poison-${run}`, value: p.value, headers: { ...p.headers, bad_input_id: id } };
    });
    await producer.send({ topic, messages });
    sent += messages.length;
    expected.set(topic, ids);
  }
  await producer.disconnect();

  const dlqTopics = allTopics.map((t) => `${t}.dlq`);
  const seen = new Map<string, Map<string, Set<string>>>();
  const consumer = kafka.consumer({ groupId: `bad-input-reader-${run}` });
  await consumer.connect();
  await consumer.subscribe({ topics: dlqTopics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const id = message.headers?.bad_input_id?.toString();
      const group = message.headers?.dlq_consumer_group?.toString() ?? "?";
      if (!id?.startsWith(`poison-${run}`)) return;
      const original = topic.slice(0, -".dlq".length);
      const byGroup = seen.get(original) ?? new Map<string, Set<string>>();
      const ids = byGroup.get(group) ?? new Set<string>();
      ids.add(id);
      byGroup.set(group, ids);
      seen.set(original, byGroup);
    },
  });
  const missing = () => {
    const out: string[] = [];
    for (const [topic, ids] of expected) {
      const groups = groupsByTopic[topic] ?? 0;
      if (groups === 0) continue;
      const byGroup = seen.get(topic) ?? new Map<string, Set<string>>();
      if (byGroup.size < groups)
        out.push(`${topic}: dead-lettered by ${byGroup.size} of ${groups} consumer groups`);
      for (const [group, got] of byGroup) {
        const lacking = [...ids].filter((id) => !got.has(id));
        if (lacking.length > 0)
          out.push(`${topic} (${group}): ${lacking.length} poison events not in the dlq`);
      }
    }
    return out;
  };
  const deadline = Date.now() + timeoutMs;
  while (missing().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  await consumer.disconnect();
  const dlqCounts: Record<string, number> = {};
  for (const [topic, byGroup] of seen) {
    for (const [group, ids] of byGroup) dlqCounts[`${topic}.dlq (${group})`] = ids.size;
  }
  return {
    sent,
    missing: missing(),
    unconsumed: allTopics.filter((t) => !groupsByTopic[t]),
    dlqCounts,
  };
}

// ---------------------------------------------------------------- malformed tasks

export interface TaskPoisonReport {
  sent: number;
  missing: string[];
  dlqCounts: Record<string, number>;
}

/**
 * Publishes malformed messages straight onto the work queues (as a buggy
 * publisher would) and waits until every one of them is in <queue>.dlq.
 */
export async function poisonRabbit(rabbitPrefix: string, timeoutMs: number): Promise<TaskPoisonReport> {
  const connection = await amqp.connect(process.env.AMQP_URL ?? "amqp://accord:accord@127.0.0.1:5672");
  try {
    const channel = await connection.createConfirmChannel();
    const run = randomUUID().slice(0, 8);
    const bodies: { name: string; body: Buffer; props: amqp.Options.Publish }[] = [
      { name: "garbage", body: Buffer.alloc(40, 0xff), props: {} },
      { name: "empty", body: Buffer.alloc(0), props: {} },
      {
        name: "JSON",
        body: Buffer.from('{"to":"a@example.com"}'),
        props: { contentType: "application/json" },
      },
      { name: "truncated protobuf", body: Buffer.from([0x0a, 0x40, 0x41]), props: {} },
      { name: "random", body: randomBytes(64), props: { contentType: "text/plain" } },
    ];
    const expected = new Map<string, Set<string>>();
    let sent = 0;
    for (const queue of ["email", "webhook", "analytics"]) {
      const ids = new Set<string>();
      for (const [i, b] of bodies.entries()) {
        const id = `poison-${run}-${queue}-${i}`;
        ids.add(id);
        channel.sendToQueue(`${rabbitPrefix}${queue}`, b.body, {
          persistent: true,
          messageId: i === 1 ? undefined : id,
          headers: { "bad-input-id": id },
          ...b.props,
        });
        sent++;
      }
      expected.set(queue, ids);
    }
    await channel.waitForConfirms();
    const seen = new Map<string, Set<string>>();
    const dlqCounts: Record<string, number> = {};
    const deadline = Date.now() + timeoutMs;
    const missing = () =>
      [...expected].flatMap(([queue, ids]) => {
        const got = seen.get(queue) ?? new Set<string>();
        const lacking = [...ids].filter((id) => !got.has(id));
        return lacking.length > 0 ? [`${queue}: ${lacking.length} malformed tasks not in ${queue}.dlq`] : [];
      });
    while (missing().length > 0 && Date.now() < deadline) {
      for (const queue of expected.keys()) {
        // Read the DLQ without consuming it for good: messages go back once we close.
        for (;;) {
          const message = await channel.get(`${rabbitPrefix}${queue}.dlq`, { noAck: false });
          if (message === false) break;
          const id = String(message.properties.headers?.["bad-input-id"] ?? "");
          if (id.startsWith(`poison-${run}`)) {
            const got = seen.get(queue) ?? new Set<string>();
            got.add(id);
            seen.set(queue, got);
            dlqCounts[`${queue}.dlq`] = got.size;
          }
        }
      }
      await channel.recover();
      if (missing().length > 0) await new Promise((r) => setTimeout(r, 500));
    }
    await channel.close();
    return { sent, missing: missing(), dlqCounts };
  } finally {
    await connection.close();
  }
}

// ---------------------------------------------------------------- the whole run

export interface BadInputReport {
  rpc: RpcReport;
  kafka: PoisonReport;
  rabbit: TaskPoisonReport;
  liveness: string[];
  ok: boolean;
}

export async function runBadInput(
  volume: "short" | "full",
  log: (line: string) => void = (line) => console.log(line),
): Promise<BadInputReport> {
  const tag = randomUUID().slice(0, 6).toLowerCase();
  const prefix = `bad-${tag}.`;
  log(`[bad-input] starting the platform (topics ${prefix}*)`);
  const { platform, cleanup } = await startIsolatedPlatform(prefix);
  try {
    log("[bad-input] malformed RPCs");
    const rpc = await fuzzRpc(platform, { volume });
    log(`[bad-input] ${rpc.requests} requests, ${rpc.failures.length} server faults; poison events`);
    const groups: Record<string, number> = {
      // orders.events and shipping.events: the orchestrator bridge and the notifications dispatcher.
      [`${prefix}orders.events`]: 2,
      [`${prefix}shipping.events`]: 2,
      [`${prefix}payments.events`]: 1,
      [`${prefix}inventory.events`]: 0,
    };
    const kafka = await poisonKafka(groups, Object.keys(groups), 30_000);
    log("[bad-input] malformed tasks");
    const rabbit = await poisonRabbit(platform.rabbitPrefix, 20_000);
    const liveness = await livenessProblems(platform, prefix);
    return {
      rpc,
      kafka,
      rabbit,
      liveness,
      ok:
        rpc.failures.length === 0 &&
        kafka.missing.length === 0 &&
        rabbit.missing.length === 0 &&
        liveness.length === 0,
    };
  } finally {
    await cleanup();
  }
}

export function formatBadInput(report: BadInputReport): string {
  const lines: string[] = [];
  lines.push(`RPC: ${report.rpc.requests} malformed requests`);
  for (const [bucket, n] of [...report.rpc.histogram].sort((a, b) => b[1] - a[1])) {
    lines.push(`  ${String(n).padStart(6)}  ${bucket}`);
  }
  if (report.rpc.failures.length > 0) {
    lines.push(`RPC server faults for client errors (${report.rpc.failures.length}), by endpoint and case:`);
    const grouped = new Map<string, Probe[]>();
    for (const f of report.rpc.failures) {
      const key = `${f.endpoint} | ${f.status} ${f.code}`;
      grouped.set(key, [...(grouped.get(key) ?? []), f]);
    }
    for (const [key, probes] of grouped) {
      lines.push(`  ${key}: ${probes.length}x, e.g. [${probes[0]?.case}] ${probes[0]?.message}`);
      const cases = [...new Set(probes.map((p) => p.case))];
      lines.push(`    cases: ${cases.slice(0, 12).join("; ")}${cases.length > 12 ? "; ..." : ""}`);
    }
  } else {
    lines.push("RPC: no 5xx, no internal/unknown code for any client error");
  }
  lines.push(`Kafka: ${report.kafka.sent} poison events sent`);
  for (const [k, n] of Object.entries(report.kafka.dlqCounts)) lines.push(`  ${k}: ${n}`);
  for (const m of report.kafka.missing) lines.push(`  MISSING ${m}`);
  for (const t of report.kafka.unconsumed)
    lines.push(`  ${t}: no consumer reads it, so nothing dead-letters its poison`);
  lines.push(`RabbitMQ: ${report.rabbit.sent} malformed tasks sent`);
  for (const [k, n] of Object.entries(report.rabbit.dlqCounts)) lines.push(`  ${k}: ${n}`);
  for (const m of report.rabbit.missing) lines.push(`  MISSING ${m}`);
  lines.push(
    report.liveness.length === 0
      ? "every process alive, every /readyz 200"
      : `LIVENESS: ${report.liveness.join("; ")}`,
  );
  lines.push(report.ok ? "BAD INPUT: OK" : "BAD INPUT: FAILURES");
  return lines.join("\n");
}
