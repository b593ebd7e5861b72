import { randomUUID } from "node:crypto";
import http2 from "node:http2";
import net from "node:net";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GetOrderRequestSchema } from "#gen/accord/orders/v1/orders_pb.js";
import {
  FLOOD_ADDRESS,
  GET_ORDER_PATH,
  HELD_OPEN_MS,
  SHORT_FRONT_DOOR_LIMITS,
  shortFrontDoorEnv,
} from "#test/support/front-door.ts";
import { bearerFor } from "#test/support/identity.ts";
import { freePort, startServiceProcess } from "#test/support/service-process.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The real orders process with short front-door limits (FRONT_DOOR_*), hit
// with real slow sockets on loopback: what is held open is closed by the
// server, the rest keep being served. No assertion is about speed: a limit
// holds when the server closes the connection at all, and not before it is due.

let orders: ServiceUnderTest<"orders">;
const opened: net.Socket[] = [];

beforeAll(async () => {
  orders = await startServiceUnderTest("orders", {
    tag: "frontdoor",
    env: shortFrontDoorEnv(),
  });
});

afterAll(async () => {
  expect(await orders?.stop()).toBe(0);
});

afterEach(async () => {
  for (const socket of opened.splice(0)) socket.destroy();
  // After every attack a customer is still served (a real token from the realm).
  const { orders: list } = await orders.client.listOrders({});
  expect(Array.isArray(list)).toBe(true);
});

interface Ended {
  /** Everything the server sent before it closed the connection. */
  received: string;
  elapsedMs: number;
  /** The connection was reset (or refused) rather than closed with a FIN. */
  reset: boolean;
}

/**
 * Opens a raw TCP connection to the orders process and runs `drive` on it;
 * resolves when the server closes it (the test times out if it never does).
 */
function rawConnection(drive: (socket: net.Socket) => void, localAddress?: string): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect({
      host: "127.0.0.1",
      port: orders.port,
      ...(localAddress ? { localAddress } : {}),
    });
    opened.push(socket);
    let received = "";
    let reset = false;
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${HELD_OPEN_MS} ms`));
    }, HELD_OPEN_MS);
    socket.on("connect", () => drive(socket));
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
    });
    socket.on("error", () => {
      reset = true;
    });
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve({ received, elapsedMs: Date.now() - started, reset });
    });
  });
}

/** Writes `bytes` one byte per `everyMs` until the socket is closed. */
function trickle(socket: net.Socket, bytes: Buffer, everyMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= bytes.length) {
      clearInterval(timer);
      return;
    }
    socket.write(bytes.subarray(at, at + 1));
    at += 1;
  }, everyMs);
  socket.once("close", () => clearInterval(timer));
}

describe("the front door closes what is held open", () => {
  it("a connection that sends nothing is closed after the first-byte timeout", async () => {
    const ended = await rawConnection(() => {});
    expect(ended.received).toBe("");
    expect(ended.elapsedMs).toBeGreaterThanOrEqual(
      SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_FIRST_BYTE_TIMEOUT_MS - 100,
    );
  });

  it("HTTP/1.1 slowloris (headers one byte per second) is answered 408 and closed at the headers timeout", async () => {
    const headers = Buffer.from(
      `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${"a".repeat(200)}\r\n\r\n`,
    );
    const ended = await rawConnection((socket) => trickle(socket, headers, 1_000));
    expect(ended.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(ended.elapsedMs).toBeGreaterThanOrEqual(
      SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_HEADERS_TIMEOUT_MS - 100,
    );
  });

  it("HTTP/1.1 with complete headers and a body one byte per second is closed at the request timeout", async () => {
    const token = await bearerFor("alice", "orders");
    const ended = await rawConnection((socket) => {
      socket.write(
        `POST ${GET_ORDER_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${token}\r\n` +
          "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n",
      );
      trickle(socket, Buffer.from(" ".repeat(400)), 1_000);
    });
    expect(ended.received).not.toMatch(/^HTTP\/1\.1 200 /);
    expect(ended.elapsedMs).toBeGreaterThanOrEqual(
      SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_REQUEST_TIMEOUT_MS - 100,
    );
  });

  it("an idle HTTP/1.1 keep-alive connection is closed after its request was answered", async () => {
    const ended = await rawConnection((socket) =>
      socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    );
    expect(ended.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(ended.elapsedMs).toBeGreaterThanOrEqual(
      SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_KEEP_ALIVE_TIMEOUT_MS - 100,
    );
  });

  it("an h2 session that idles (only pings) is closed, and it was told the stream cap", async () => {
    const started = Date.now();
    const session = http2.connect(orders.url);
    session.on("error", () => {});
    await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
    expect(session.remoteSettings.maxConcurrentStreams).toBe(
      SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_H2_MAX_CONCURRENT_STREAMS,
    );
    // Pings are frames too: Node's own session timeout would restart on each.
    const pings = setInterval(() => {
      if (!session.closed && !session.destroyed) session.ping(() => {});
    }, 300);
    const goaway = new Promise<boolean>((resolve) => session.once("goaway", () => resolve(true)));
    await new Promise<void>((resolve, reject) => {
      const giveUp = setTimeout(() => reject(new Error("the h2 session was never closed")), HELD_OPEN_MS);
      session.once("close", () => {
        clearTimeout(giveUp);
        resolve();
      });
    }).finally(() => clearInterval(pings));
    expect(await goaway).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(
      SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_H2_IDLE_TIMEOUT_MS - 100,
    );
  });

  it("h2 slowloris (preface, then a HEADERS frame one byte per second) is closed", async () => {
    const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    const settings = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
    // A HEADERS frame on stream 1 announcing 200 bytes of header block, without END_HEADERS.
    const headersFrame = Buffer.concat([
      Buffer.from([0, 0, 200, 0x1, 0x0, 0, 0, 0, 1]),
      Buffer.alloc(200, 0x82),
    ]);
    const ended = await rawConnection((socket) => {
      socket.write(Buffer.concat([preface, settings]));
      trickle(socket, headersFrame, 1_000);
    });
    // The server spoke HTTP/2 (its SETTINGS) and then closed the session.
    expect(ended.received.length).toBeGreaterThan(0);
    expect(ended.elapsedMs).toBeGreaterThanOrEqual(
      SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_H2_IDLE_TIMEOUT_MS - 100,
    );
  });

  it("an h2 stream whose body never ends is reset at the request timeout", async () => {
    const token = await bearerFor("alice", "orders");
    const session = http2.connect(orders.url);
    session.on("error", () => {});
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": GET_ORDER_PATH,
        "content-type": "application/grpc",
        te: "trailers",
        authorization: token,
      });
      stream.on("error", () => {});
      stream.write(Buffer.from([0, 0, 0, 0, 100]));
      const rstCode = await new Promise<number>((resolve, reject) => {
        const giveUp = setTimeout(() => reject(new Error("the stream was never reset")), HELD_OPEN_MS);
        stream.once("close", () => {
          clearTimeout(giveUp);
          resolve(stream.rstCode ?? -1);
        });
        stream.resume();
      });
      expect(rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    } finally {
      session.destroy();
    }
  });
});

describe("the per-address connection cap", () => {
  it("refuses connections past the cap from one address while other clients are served", async () => {
    const cap = SHORT_FRONT_DOOR_LIMITS.FRONT_DOOR_MAX_CONNECTIONS_PER_ADDRESS;
    // `cap` keep-alive connections from one address, each answered once (so each was accepted).
    const held = await Promise.all(Array.from({ length: cap }, () => keepAliveConnection(FLOOD_ADDRESS)));
    const refused = await rawConnection(
      (socket) => socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
      FLOOD_ADDRESS,
    );
    expect(refused.received).toBe("");
    // Meanwhile a customer from another address is served.
    const { orders: list } = await orders.client.listOrders({});
    expect(Array.isArray(list)).toBe(true);
    for (const socket of held) socket.destroy();
    // Once they are gone, the same address is served again.
    await expect.poll(() => healthzFrom(FLOOD_ADDRESS), { timeout: 10_000, interval: 200 }).toBe(200);
  });
});

/** A connection from `localAddress` that got one answer and is left open (keep-alive). */
function keepAliveConnection(localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port: orders.port, localAddress });
    opened.push(socket);
    socket.once("error", reject);
    socket.once("connect", () => socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    socket.once("data", (chunk: Buffer) => {
      if (chunk.toString("latin1").startsWith("HTTP/1.1 200 ")) resolve(socket);
      else reject(new Error(`healthz answered ${chunk.toString("latin1").split("\r\n")[0]}`));
    });
  });
}

async function healthzFrom(localAddress: string): Promise<number> {
  const ended = await rawConnection(
    (socket) => socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    localAddress,
  ).catch(() => undefined);
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(ended?.received ?? "")?.[1];
  return status === undefined ? 0 : Number(status);
}

describe("bodies are bounded after decompression (a gzip bomb)", () => {
  // 10 MB of zeros inside a JSON string gzip to about 10 KB: far under the
  // 1 MB read limit on the wire, ten times over it once inflated.
  const bombJson = gzipSync(Buffer.from(`{"orderId":"${"0".repeat(10 * 1024 * 1024)}"}`));
  const bombBinary = gzipSync(
    toBinary(GetOrderRequestSchema, create(GetOrderRequestSchema, { orderId: "0".repeat(10 * 1024 * 1024) })),
  );

  it("the bomb itself is small on the wire", () => {
    expect(bombJson.length).toBeLessThan(64 * 1024);
    expect(bombBinary.length).toBeLessThan(64 * 1024);
  });

  it("Connect JSON over HTTP/1.1 (the fast path hands compressed bodies to connect) answers resource_exhausted", async () => {
    const res = await fetch(`${orders.url}${GET_ORDER_PATH}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-encoding": "gzip",
        authorization: await bearerFor("alice", "orders"),
      },
      body: bombJson,
    });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { code?: string }).code).toBe("resource_exhausted");
  });

  it("a small gzip body is inflated and served (control: the bomb is refused for its size, not its encoding)", async () => {
    const res = await fetch(`${orders.url}${GET_ORDER_PATH}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-encoding": "gzip",
        authorization: await bearerFor("alice", "orders"),
      },
      body: gzipSync(Buffer.from(JSON.stringify({ orderId: randomUUID() }))),
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code?: string }).code).toBe("not_found");
  });

  it("Connect JSON over h2 answers resource_exhausted", async () => {
    const answer = await h2Post(
      {
        "content-type": "application/json",
        "content-encoding": "gzip",
        authorization: await bearerFor("alice", "orders"),
      },
      bombJson,
    );
    expect(answer.status).toBe(429);
    expect(JSON.parse(answer.body).code).toBe("resource_exhausted");
  });

  it("gRPC with a gzip-compressed message answers RESOURCE_EXHAUSTED", async () => {
    const frame = Buffer.alloc(5);
    frame[0] = 1;
    frame.writeUInt32BE(bombBinary.length, 1);
    const answer = await h2Post(
      {
        "content-type": "application/grpc",
        "grpc-encoding": "gzip",
        te: "trailers",
        authorization: await bearerFor("alice", "orders"),
      },
      Buffer.concat([frame, bombBinary]),
    );
    expect(answer.status).toBe(200);
    expect(answer.grpcStatus).toBe("8");
  });
});

async function h2Post(
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; body: string; grpcStatus: string | undefined }> {
  const session = http2.connect(orders.url);
  session.on("error", () => {});
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": GET_ORDER_PATH, ...headers });
      let status = 0;
      let grpcStatus: string | undefined;
      let text = "";
      stream.on("response", (h) => {
        status = Number(h[":status"]);
        grpcStatus = h["grpc-status"] as string | undefined;
      });
      stream.on("trailers", (t) => {
        grpcStatus = (t["grpc-status"] as string | undefined) ?? grpcStatus;
      });
      stream.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
      });
      stream.on("end", () => resolve({ status, body: text, grpcStatus }));
      stream.on("error", reject);
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

describe("the limits are validated at start", () => {
  it.each([
    [{ FRONT_DOOR_HEADERS_TIMEOUT_MS: "soon" }, /FRONT_DOOR_HEADERS_TIMEOUT_MS/],
    [{ FRONT_DOOR_MAX_CONNECTIONS_PER_ADDRESS: "0" }, /FRONT_DOOR_MAX_CONNECTIONS_PER_ADDRESS/],
    [
      { FRONT_DOOR_HEADERS_TIMEOUT_MS: "30000", FRONT_DOOR_REQUEST_TIMEOUT_MS: "10000" },
      /FRONT_DOOR_REQUEST_TIMEOUT_MS[\s\S]*must not exceed/,
    ],
  ])("%j: the process exits 1 naming the variable", async (env, named) => {
    const port = await freePort();
    const started = startServiceProcess(
      "simulators/carrier/src/main.ts",
      { CARRIER_PORT: String(port), ...env },
      port,
      15_000,
    );
    await expect(started).rejects.toThrow(/exited with 1/);
    await expect(started).rejects.toThrow(named);
  });
});
