import { randomUUID } from "node:crypto";
import http2 from "node:http2";
import net from "node:net";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetOrderRequestSchema } from "#gen/accord/orders/v1/orders_pb.js";
import {
  FLOOD_ADDRESS,
  GET_ORDER_PATH,
  HELD_OPEN_MS,
  SHORT_FRONT_DOOR_LIMITS,
  shortFrontDoorEnv,
} from "#test/support/front-door.ts";
import { bearerFor } from "#test/support/identity.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";
import type { Answer } from "./attack-wire.ts";

/**
 * The front door's attack cases (issue 11, items 5 and 7): slowloris on
 * HTTP/1.1 and h2, idle and half-sent connections, a flood of connections
 * from one address and a gzip bomb, each sent with raw sockets to a real
 * orders process whose FRONT_DOOR_* limits are short enough for a run (the
 * defaults are the same code with longer times). After each case a customer
 * (alice, a real token) must still be served.
 */

/** The part of the attack suite's Suite this group uses. */
export interface Prober {
  probe(spec: {
    group: string;
    name: string;
    sent: string;
    expect: { codes: readonly string[]; statuses?: readonly number[]; text: string };
    send: () => Promise<Answer>;
    after?: (answer: Answer) => Promise<{ ok: boolean; text: string }>;
  }): Promise<Answer | undefined>;
}

const GROUP = "front door";
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const CLOSED = { codes: ["closed"], statuses: [0], text: "closed by the server, nothing answered" };

export async function frontDoorAttacks(s: Prober, volume: "short" | "full"): Promise<void> {
  const orders = await startServiceUnderTest("orders", {
    tag: "attackfd",
    topicPrefix: `chaos-attack-fd-${randomUUID().slice(0, 8)}.`,
    env: shortFrontDoorEnv(),
  });
  try {
    await cases(s, orders, volume);
  } finally {
    await orders.stop();
  }
}

async function cases(s: Prober, orders: ServiceUnderTest<"orders">, volume: "short" | "full"): Promise<void> {
  const limits = `limits: first byte ${SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_FIRST_BYTE_TIMEOUT_MS} ms, headers ${SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_HEADERS_TIMEOUT_MS} ms, request ${SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_REQUEST_TIMEOUT_MS} ms, h2 idle ${SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_H2_IDLE_TIMEOUT_MS} ms`;
  const stillServed = async () => {
    const { orders: list } = await orders.client.listOrders({});
    return { ok: Array.isArray(list), text: "alice's ListOrders still answered ok" };
  };
  const alice = await bearerFor("alice", "orders");

  await s.probe({
    group: GROUP,
    name: "HTTP/1.1 slowloris: headers one byte per second",
    sent: `GET /healthz with a 200-byte header, one byte per second (${limits})`,
    expect: {
      codes: ["closed"],
      statuses: [408],
      text: "408 Request Timeout, then closed, at the headers timeout",
    },
    send: () =>
      raw(orders.port, (socket) =>
        trickle(
          socket,
          Buffer.from(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${"a".repeat(200)}\r\n\r\n`),
        ),
      ),
    after: stillServed,
  });
  await s.probe({
    group: GROUP,
    name: "HTTP/1.1 slow body: headers complete, body one byte per second",
    sent: `POST GetOrder as alice, Content-Length 400, the body one byte per second (${limits})`,
    expect: { codes: ["closed"], text: "closed at the request timeout, never answered 200" },
    send: async () => {
      const answer = await raw(orders.port, (socket) => {
        socket.write(
          `POST ${GET_ORDER_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${alice}\r\n` +
            "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n",
        );
        trickle(socket, Buffer.from(" ".repeat(400)));
      });
      return answer.status === 200 ? { ...answer, code: "answered 200" } : answer;
    },
    after: stillServed,
  });
  await s.probe({
    group: GROUP,
    name: "h2 slowloris: preface, then a HEADERS frame one byte per second",
    sent: `h2 preface and SETTINGS, then a 200-byte HEADERS frame without END_HEADERS, one byte per second (${limits})`,
    expect: { codes: ["closed"], text: "session closed (no stream ever opened) at the h2 idle timeout" },
    send: async () => {
      const frame = Buffer.concat([Buffer.from([0, 0, 200, 0x1, 0x0, 0, 0, 0, 1]), Buffer.alloc(200, 0x82)]);
      const answer = await raw(orders.port, (socket) => {
        socket.write(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0])]));
        trickle(socket, frame);
      });
      // Its SETTINGS (and GOAWAY) are all the server sent; no HTTP status exists here.
      return { ...answer, status: 0, message: "after the server's own HTTP/2 frames only" };
    },
    after: stillServed,
  });
  await s.probe({
    group: GROUP,
    name: "h2 idle session kept alive by pings",
    sent: `h2 session with no stream, a PING every 300 ms (${limits})`,
    expect: { codes: ["closed"], text: "GOAWAY and closed at the h2 idle timeout" },
    send: () => idleH2(orders.url),
    after: stillServed,
  });
  await s.probe({
    group: GROUP,
    name: "gzip bomb, Connect JSON over HTTP/1.1",
    sent: "POST GetOrder as alice, Content-Encoding gzip: 10 MB of zeros in a JSON string, ~10 KB on the wire (read limit 1 MB)",
    expect: { codes: ["resource_exhausted"], statuses: [429], text: "resource_exhausted (HTTP 429)" },
    send: () =>
      connectPost(
        `${orders.url}${GET_ORDER_PATH}`,
        { "content-type": "application/json", "content-encoding": "gzip", authorization: alice },
        gzipSync(Buffer.from(`{"orderId":"${"0".repeat(10 * 1024 * 1024)}"}`)),
      ),
    after: stillServed,
  });
  await s.probe({
    group: GROUP,
    name: "gzip bomb, gRPC compressed message",
    sent: "gRPC GetOrder as alice, grpc-encoding gzip: a 10 MB order_id, ~10 KB on the wire",
    expect: { codes: ["resource_exhausted"], statuses: [200], text: "grpc-status 8 RESOURCE_EXHAUSTED" },
    send: () => grpcBomb(orders.url, alice),
    after: stillServed,
  });
  if (volume === "short") return;

  await s.probe({
    group: GROUP,
    name: "a connection that sends nothing",
    sent: `TCP connect, then silence (${limits})`,
    expect: { ...CLOSED, text: "closed at the first-byte timeout, nothing answered" },
    send: () => raw(orders.port, () => {}),
    after: stillServed,
  });
  await s.probe({
    group: GROUP,
    name: "h2 stream whose body never ends",
    sent: `gRPC GetOrder as alice, 1 byte of a 5-byte frame header, then nothing (${limits})`,
    expect: { codes: ["reset CANCEL"], statuses: [0], text: "stream reset (CANCEL) at the request timeout" },
    send: () => unfinishedH2Stream(orders.url, alice),
    after: stillServed,
  });
  await s.probe({
    group: GROUP,
    name: "gzip bomb, anonymous",
    sent: "the Connect JSON bomb without a token",
    expect: {
      codes: ["resource_exhausted", "unauthenticated"],
      text: "resource_exhausted or unauthenticated, never inflated",
    },
    send: () =>
      connectPost(
        `${orders.url}${GET_ORDER_PATH}`,
        { "content-type": "application/json", "content-encoding": "gzip" },
        gzipSync(Buffer.from(`{"orderId":"${"0".repeat(10 * 1024 * 1024)}"}`)),
      ),
    after: stillServed,
  });
  await s.probe({
    group: GROUP,
    name: "connection flood from one address",
    sent: `${SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_MAX_CONNECTIONS_PER_ADDRESS} keep-alive connections from ${FLOOD_ADDRESS}, then one more sending GET /healthz`,
    expect: { ...CLOSED, text: "the connection past the cap closed unanswered while others are served" },
    send: () =>
      flood(orders.port, async () => {
        const { orders: list } = await orders.client.listOrders({});
        return Array.isArray(list);
      }),
    after: stillServed,
  });
}

// ---------------------------------------------------------------- raw sockets

/** Runs `drive` on a raw connection; resolves once the server closed it, with its status line if any. */
function raw(port: number, drive: (socket: net.Socket) => void, localAddress?: string): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}) });
    let received = "";
    const held = setTimeout(() => {
      socket.destroy();
      resolve({ status: 0, code: "still open", message: `open after ${HELD_OPEN_MS} ms` });
    }, HELD_OPEN_MS);
    socket.on("connect", () => drive(socket));
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(held);
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(received)?.[1] ?? 0);
      resolve({ status, code: "closed", message: received.split("\r\n")[0]?.slice(0, 80) ?? "" });
    });
  });
}

/** Writes `bytes` one byte per second until the socket closes. */
function trickle(socket: net.Socket, bytes: Buffer): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= bytes.length) {
      clearInterval(timer);
      return;
    }
    socket.write(bytes.subarray(at, at + 1));
    at += 1;
  }, 1_000);
  socket.once("close", () => clearInterval(timer));
}

function idleH2(url: string): Promise<Answer> {
  return new Promise((resolve) => {
    const session = http2.connect(url);
    session.on("error", () => {});
    let goaway = false;
    session.once("goaway", () => {
      goaway = true;
    });
    const pings = setInterval(() => {
      if (!session.closed && !session.destroyed) session.ping(() => {});
    }, 300);
    const held = setTimeout(() => {
      clearInterval(pings);
      session.destroy();
      resolve({ status: 0, code: "still open", message: `open after ${HELD_OPEN_MS} ms` });
    }, HELD_OPEN_MS);
    session.once("close", () => {
      clearInterval(pings);
      clearTimeout(held);
      resolve({ status: 0, code: "closed", message: goaway ? "GOAWAY" : "closed without GOAWAY" });
    });
  });
}

function unfinishedH2Stream(url: string, authorization: string): Promise<Answer> {
  return new Promise((resolve) => {
    const session = http2.connect(url);
    session.on("error", () => {});
    const stream = session.request({
      ":method": "POST",
      ":path": GET_ORDER_PATH,
      "content-type": "application/grpc",
      te: "trailers",
      authorization,
    });
    stream.on("error", () => {});
    stream.write(Buffer.from([0]));
    stream.resume();
    const held = setTimeout(() => {
      session.destroy();
      resolve({ status: 0, code: "still open", message: `open after ${HELD_OPEN_MS} ms` });
    }, HELD_OPEN_MS);
    stream.once("close", () => {
      clearTimeout(held);
      const reset = stream.rstCode === http2.constants.NGHTTP2_CANCEL;
      session.destroy();
      resolve({ status: 0, code: reset ? "reset CANCEL" : `closed (rst ${stream.rstCode})`, message: "" });
    });
  });
}

async function connectPost(url: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(HELD_OPEN_MS) });
  } catch (error) {
    return { status: 0, code: "no answer", message: String((error as Error).cause ?? error) };
  }
  const text = await res.text();
  try {
    const parsed = JSON.parse(text) as { code?: string; message?: string };
    return {
      status: res.status,
      code: parsed.code ?? (res.status === 200 ? "ok" : `http ${res.status}`),
      message: parsed.message ?? "",
    };
  } catch {
    return { status: res.status, code: `http ${res.status}`, message: text.slice(0, 120) };
  }
}

function grpcBomb(url: string, authorization: string): Promise<Answer> {
  const message = gzipSync(
    toBinary(GetOrderRequestSchema, create(GetOrderRequestSchema, { orderId: "0".repeat(10 * 1024 * 1024) })),
  );
  const prefix = Buffer.alloc(5);
  prefix[0] = 1;
  prefix.writeUInt32BE(message.length, 1);
  return new Promise((resolve) => {
    const session = http2.connect(url);
    session.on("error", () => {});
    const stream = session.request({
      ":method": "POST",
      ":path": GET_ORDER_PATH,
      "content-type": "application/grpc",
      "grpc-encoding": "gzip",
      te: "trailers",
      authorization,
    });
    let status = 0;
    let grpcStatus: string | undefined;
    let grpcMessage = "";
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      grpcStatus = h["grpc-status"] as string | undefined;
      grpcMessage = decodeURIComponent(String(h["grpc-message"] ?? ""));
    });
    stream.on("trailers", (t) => {
      grpcStatus = (t["grpc-status"] as string | undefined) ?? grpcStatus;
      grpcMessage = decodeURIComponent(String(t["grpc-message"] ?? grpcMessage));
    });
    stream.on("error", () => {});
    stream.resume();
    stream.once("close", () => {
      session.close();
      const code = grpcStatus === "8" ? "resource_exhausted" : `grpc-status ${grpcStatus ?? "none"}`;
      resolve({ status, code, message: grpcMessage });
    });
    stream.end(Buffer.concat([prefix, message]));
  });
}

/**
 * Fills the per-address cap from FLOOD_ADDRESS with answered keep-alive
 * connections, tries one more, and while they are held asks whether another
 * client is still served.
 */
async function flood(port: number, servedMeanwhile: () => Promise<boolean>): Promise<Answer> {
  const held: net.Socket[] = [];
  try {
    for (let i = 0; i < SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_MAX_CONNECTIONS_PER_ADDRESS; i++)
      held.push(await keepAlive(port));
    const extra = await raw(
      port,
      (socket) => socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
      FLOOD_ADDRESS,
    );
    const served = await servedMeanwhile().catch(() => false);
    if (!served) return { ...extra, code: "others not served during the flood" };
    return { ...extra, message: extra.message || "alice served meanwhile" };
  } finally {
    for (const socket of held) socket.destroy();
  }
}

function keepAlive(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress: FLOOD_ADDRESS });
    socket.once("error", reject);
    socket.once("connect", () => socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    socket.once("data", () => resolve(socket));
  });
}
