import { randomUUID } from "node:crypto";
import http2 from "node:http2";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { type RpcProtocol, rpcClient } from "#lib/rpc/clients.ts";
import { ensureProducts } from "#test/support/catalog.ts";
import { bearerFor, callerAs } from "#test/support/identity.ts";
import { BOOK, placeOrderRequest } from "#test/support/requests.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The real orders process with its real interceptor chain, called with real
// tokens from the realm (and with everything that is not one) over each
// protocol it serves: who gets in is decided before any handler runs.
let orders: ServiceUnderTest<"orders">;
let catalog: ServiceUnderTest<"catalog">;

beforeAll(async () => {
  // The catalog prices the orders alice places here.
  catalog = await startServiceUnderTest("catalog", { tag: "authz" });
  await ensureProducts(catalog.url, [{ sku: BOOK.sku, prices: { [BOOK.currencyCode]: BOOK.amountMinor } }]);
  // Info: the refusals are logged there, and the log is checked for what was sent.
  orders = await startServiceUnderTest("orders", {
    tag: "authz",
    env: { LOG_LEVEL: "info", CATALOG_URL: catalog.url },
  });
}, 120_000);

afterAll(async () => {
  expect(await orders?.stop()).toBe(0);
  await catalog?.stop();
});

const PROTOCOLS: readonly RpcProtocol[] = ["connect-json", "connect-binary", "grpc"];

// HTTP/2 carries one header field of at most 64 KB (nghttp2's fixed limit):
// 60 KB reaches the interceptor over every protocol, 100 KB over HTTP/1.1.
const OVERSIZED = `Bearer ${"A".repeat(60 * 1024)}`;
const OVERSIZED_100_KB = `Bearer ${"A".repeat(100 * 1024)}`;

/** Authorization headers that are not a token of the realm's. */
const NOT_TOKENS: Readonly<Record<string, string>> = {
  garbage: "%%% not a header anyone sends \u00e9",
  "oversized (60 KB)": OVERSIZED,
  basic: `Basic ${Buffer.from("alice:alice").toString("base64")}`,
  "bearer a.b.c": "Bearer a.b.c",
  "bearer without a token": "Bearer ",
  "a JWT with alg none": `Bearer ${unsignedJwt()}`,
};

/** A client of the orders process that sends `authorization` as it is. */
function clientSending(authorization: string, protocol: RpcProtocol) {
  const setHeader: Interceptor = (next) => (req) => {
    req.header.set("authorization", authorization);
    return next(req);
  };
  const baseUrl = orders.url;
  const transport =
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl, interceptors: [setHeader] })
      : createConnectTransport({
          baseUrl,
          httpVersion: "1.1",
          useBinaryFormat: protocol === "connect-binary",
          interceptors: [setHeader],
        });
  return createClient(OrderService, transport);
}

/** The error a call is refused with; a call that succeeds fails the test. */
async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  return call.then(
    () => {
      throw new Error("expected the call to be refused");
    },
    (e: unknown) => ConnectError.from(e),
  );
}

/** A token-shaped value claiming alice, signed by no one. */
function unsignedJwt(): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: "none", typ: "JWT" })}.${part({
    iss: "http://127.0.0.1:8180/realms/accord",
    aud: "orders",
    sub: DEMO_USERS.alice.id,
    realm_access: { roles: ["customer", "ops"] },
    iat: now,
    exp: now + 300,
  })}.`;
}

describe.each(PROTOCOLS)("orders over %s", (protocol) => {
  it("answers a valid token: the control the refusals below are measured against", async () => {
    const alice = orders.clientAs("alice", protocol);
    const missing = await refusal(alice.getOrder({ orderId: randomUUID() }));
    expect(missing.code).toBe(Code.NotFound);
    const { order } = await alice.placeOrder(placeOrderRequest({ customerId: "" }));
    expect(order?.customerId).toBe(DEMO_USERS.alice.id);
  });

  it("refuses every method without a token as Unauthenticated", async () => {
    const anonymous = orders.clientAs(undefined, protocol);
    const orderId = randomUUID();
    const calls: Record<string, () => Promise<unknown>> = {
      PlaceOrder: () => anonymous.placeOrder(placeOrderRequest({ customerId: "" })),
      GetOrder: () => anonymous.getOrder({ orderId }),
      ListOrders: () => anonymous.listOrders({}),
      CancelOrder: () => anonymous.cancelOrder({ orderId }),
      ConfirmOrder: () => anonymous.confirmOrder({ orderId, paymentId: "p", shipmentId: "s" }),
      FailOrder: () => anonymous.failOrder({ orderId }),
      MarkOrderCancelled: () => anonymous.markOrderCancelled({ orderId }),
      MarkOrderDelivered: () => anonymous.markOrderDelivered({ orderId }),
    };
    for (const [method, call] of Object.entries(calls)) {
      const error = await refusal(call());
      expect({ method, code: Code[error.code] }).toEqual({ method, code: "Unauthenticated" });
    }
    // Nothing was written by any of them.
    const { rows } = await orders.pool.query("SELECT 1 FROM orders WHERE order_id = $1", [orderId]);
    expect(rows).toEqual([]);
  });

  it.each(Object.keys(NOT_TOKENS))(
    "refuses an Authorization header that is %s as Unauthenticated",
    async (kind) => {
      const client = clientSending(NOT_TOKENS[kind] ?? "", protocol);
      const error = await refusal(client.listOrders({}));
      expect(Code[error.code]).toBe("Unauthenticated");
    },
  );

  it("refuses a real token issued for another audience as Unauthenticated", async () => {
    // The orchestrator's token for payments only: valid, signed by the realm, not for orders.
    const elsewhere = rpcClient(OrderService, orders.url, protocol, callerAs("orchestrator", "payments"));
    const error = await refusal(elsewhere.getOrder({ orderId: randomUUID() }));
    expect(Code[error.code]).toBe("Unauthenticated");
    // The same client's token for orders gets past authentication.
    const own = rpcClient(OrderService, orders.url, protocol, callerAs("orchestrator", "orders"));
    expect(Code[(await refusal(own.getOrder({ orderId: randomUUID() }))).code]).toBe("NotFound");
  });

  it("refuses a valid token whose caller the table does not allow as PermissionDenied", async () => {
    const orderId = randomUUID();
    const alice = orders.clientAs("alice", protocol);
    const confirm = await refusal(alice.confirmOrder({ orderId, paymentId: "p", shipmentId: "s" }));
    expect(Code[confirm.code]).toBe("PermissionDenied");
    const orchestrator = orders.clientAs("orchestrator", protocol);
    const list = await refusal(orchestrator.listOrders({}));
    expect(Code[list.code]).toBe("PermissionDenied");
    const partner = orders.clientAs("acme", protocol);
    const place = await refusal(partner.placeOrder(placeOrderRequest({ customerId: "" })));
    expect(Code[place.code]).toBe("PermissionDenied");
  });
});

/** What an HTTP/2 gRPC call with `authorization` gets back, from the frames themselves. */
function rawGrpcCall(
  authorization: string,
): Promise<{ status?: number; grpcStatus?: string; goaway?: number }> {
  return new Promise((resolve, reject) => {
    const outcome: { status?: number; grpcStatus?: string; goaway?: number } = {};
    // Node's own client would not send a header block over 64 KB at all; this one does.
    const session = http2.connect(orders.url, { maxSendHeaderBlockLength: 256 * 1024 });
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error("no answer within 10 s"));
    }, 10_000);
    session.on("goaway", (code) => {
      outcome.goaway = code;
    });
    session.on("error", () => undefined);
    const stream = session.request({
      ":method": "POST",
      ":path": "/accord.orders.v1.OrderService/ListOrders",
      "content-type": "application/grpc",
      te: "trailers",
      authorization,
    });
    stream.on("response", (headers) => {
      outcome.status = Number(headers[":status"]);
      if (headers["grpc-status"] !== undefined) outcome.grpcStatus = String(headers["grpc-status"]);
    });
    stream.on("trailers", (trailers) => {
      outcome.grpcStatus = String(trailers["grpc-status"]);
    });
    stream.on("error", () => undefined);
    stream.on("close", () => {
      clearTimeout(timer);
      session.close();
      resolve(outcome);
    });
    // One empty ListOrdersRequest: no compression flag, length 0.
    stream.end(Buffer.alloc(5));
  });
}

describe("a 100 KB Authorization header", () => {
  it.each(["connect-json", "connect-binary"] as const)(
    "is Unauthenticated over %s (HTTP/1.1)",
    async (protocol) => {
      const error = await refusal(clientSending(OVERSIZED_100_KB, protocol).listOrders({}));
      expect(Code[error.code]).toBe("Unauthenticated");
    },
  );

  it("ends an HTTP/2 connection before any handler runs, with no answer at all, and the service keeps answering", async () => {
    // The control: the same raw call with a header HTTP/2 carries is a gRPC unauthenticated (16).
    expect(await rawGrpcCall(OVERSIZED)).toMatchObject({ status: 200, grpcStatus: "16" });
    // Longer than the 64 KB a header field may have in nghttp2: the server
    // ends the connection with COMPRESSION_ERROR; nothing, a 5xx least of
    // all, is answered, and no handler saw the call.
    const outcome = await rawGrpcCall(OVERSIZED_100_KB);
    expect(outcome.status).toBeUndefined();
    expect(outcome.goaway).toBe(http2.constants.NGHTTP2_COMPRESSION_ERROR);
    const alice = orders.clientAs("alice", "grpc");
    expect(Code[(await refusal(alice.getOrder({ orderId: randomUUID() }))).code]).toBe("NotFound");
  });
});

describe("what an HTTP client sees", () => {
  const listOrders = (headers: Record<string, string>, binary = false) =>
    fetch(`${orders.url}/accord.orders.v1.OrderService/ListOrders`, {
      method: "POST",
      headers: { "content-type": binary ? "application/proto" : "application/json", ...headers },
      body: binary ? new Uint8Array(0) : "{}",
    });

  it("answers 401 with code unauthenticated, never a 5xx, for each header that is not a token", async () => {
    const headers: [string, string | undefined][] = [
      ["none", undefined],
      ...Object.entries(NOT_TOKENS),
      ["oversized (100 KB)", OVERSIZED_100_KB],
    ];
    for (const [kind, authorization] of headers) {
      for (const binary of [false, true]) {
        const res = await listOrders(authorization === undefined ? {} : { authorization }, binary);
        expect({ kind, binary, status: res.status }).toEqual({ kind, binary, status: 401 });
        const body = (await res.json()) as { code?: string; message?: string };
        expect(body.code).toBe("unauthenticated");
        // The refusal does not echo what was sent.
        const sent = authorization?.slice(7, 40) ?? "";
        if (sent.length >= 8) expect(body.message ?? "").not.toContain(sent);
      }
    }
  });

  it("answers 403 permission_denied for a customer on a saga transition", async () => {
    const res = await fetch(`${orders.url}/accord.orders.v1.OrderService/ConfirmOrder`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: await bearerFor("bob", "orders") },
      body: JSON.stringify({ orderId: randomUUID(), paymentId: "p", shipmentId: "s" }),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe("permission_denied");
  });

  it("never writes a token or a refused header into its log", async () => {
    const token = (await bearerFor("alice", "orders")).slice("Bearer ".length);
    await orders.clientAs("alice").listOrders({});
    await listOrders({ authorization: `Bearer ${token.slice(0, -4)}AAAA` });
    const log = orders.output();
    // The refusals above were logged (so the log is being read) ...
    expect(log).toContain("unauthenticated");
    // ... without anything of what was sent.
    expect(log).not.toContain(token.slice(-40));
    expect(log).not.toContain(token.split(".")[1]?.slice(0, 40));
    expect(log).not.toContain("A".repeat(64));
    expect(log).not.toContain(Buffer.from("alice:alice").toString("base64"));
  });
});
