import { randomUUID } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { FailureCode, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { ensureProducts } from "#test/support/catalog.ts";
import { bearerFor } from "#test/support/identity.ts";
import { BOOK, placeOrderRequest } from "#test/support/requests.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The real orders process on its own database, called over real sockets with
// the generated clients: Connect JSON over HTTP/1.1 and gRPC over HTTP/2.
// `service.client` calls as alice with her real token from the realm; the
// saga's transitions are called as the orchestrator, whose alone they are.
// Prices come from a real catalog process holding the products used here.
let catalog: ServiceUnderTest<"catalog">;
let service: ServiceUnderTest<"orders">;
let db: pg.Pool;

const ALICE = DEMO_USERS.alice.id;
const BOB = DEMO_USERS.bob.id;

/** A valid order of alice's own (the shared default names a customer no token has). */
const alicesOrder = (overrides: Parameters<typeof placeOrderRequest>[0] = {}) =>
  placeOrderRequest({ customerId: ALICE, ...overrides });

beforeAll(async () => {
  catalog = await startServiceUnderTest("catalog");
  await ensureProducts(catalog.url, [
    { sku: BOOK.sku, prices: { [BOOK.currencyCode]: BOOK.amountMinor } },
    { sku: "PEN-9", prices: { USD: 250n } },
  ]);
  service = await startServiceUnderTest("orders", { env: { CATALOG_URL: catalog.url } });
  db = service.pool;
}, 120_000);

afterAll(async () => {
  const code = await service?.stop();
  await catalog?.stop();
  // Graceful shutdown on SIGTERM exits 0.
  expect(code).toBe(0);
});

describe("orders service over Connect JSON (HTTP/1.1)", () => {
  it("places an order as PENDING and writes the order and its OrderPlaced outbox row", async () => {
    const client = service.client;
    const { order, replayed } = await client.placeOrder(alicesOrder());
    expect(replayed).toBe(false);
    expect(order?.status).toBe(OrderStatus.PENDING);
    expect(order?.total?.amountMinor).toBe(3000n);

    const rows = await db.query("SELECT status, total_minor FROM orders WHERE order_id = $1", [
      order?.orderId,
    ]);
    expect(rows.rows).toEqual([{ status: "PENDING", total_minor: "3000" }]);
    const outbox = await db.query<{
      event_type: string;
      message_key: string;
      payload: Buffer;
      headers: Record<string, string>;
    }>("SELECT event_type, message_key, payload, headers FROM outbox WHERE message_key = $1", [
      order?.orderId,
    ]);
    expect(outbox.rows).toHaveLength(1);
    const row = outbox.rows[0];
    expect(row?.event_type).toBe("accord.orders.v1.OrderPlaced");
    expect(row?.headers.ce_type).toBe("accord.orders.v1.OrderPlaced");
    const event = fromBinary(OrderPlacedSchema, row?.payload ?? Buffer.alloc(0));
    expect(event.order?.orderId).toBe(order?.orderId);
    expect(event.order?.lines[0]?.sku).toBe("BOOK-1");
  });

  it("answers plain curl-style JSON too, with int64 as a string", async () => {
    const req = placeOrderRequest();
    const res = await fetch(`${service.url}/accord.orders.v1.OrderService/PlaceOrder`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: await bearerFor("alice", "orders") },
      body: JSON.stringify({
        idempotencyKey: req.idempotencyKey,
        customerEmail: "json@example.com",
        currencyCode: "USD",
        lines: [{ sku: "PEN-9", quantity: 1 }],
        shippingAddress: { line1: "1 Road", city: "Austin", postalCode: "73301", countryCode: "US" },
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      order: { status: string; customerId: string; total: { amountMinor: string } };
    };
    expect(body.order.status).toBe("ORDER_STATUS_PENDING");
    // No customer_id sent: the order is the token's customer's.
    expect(body.order.customerId).toBe(ALICE);
    expect(body.order.total.amountMinor).toBe("250");
  });

  it("returns the same order for a repeated idempotency key and rejects a different body", async () => {
    const client = service.client;
    const req = alicesOrder();
    const first = await client.placeOrder(req);
    const second = await client.placeOrder(req);
    expect(second.order?.orderId).toBe(first.order?.orderId);
    expect(second.replayed).toBe(true);
    const count = await db.query("SELECT count(*)::int AS n FROM orders WHERE idempotency_key = $1", [
      req.idempotencyKey,
    ]);
    expect(count.rows[0].n).toBe(1);

    const changed = alicesOrder({ idempotencyKey: req.idempotencyKey, customerEmail: "other@example.com" });
    const error = await client.placeOrder(changed).catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.AlreadyExists);
  });

  it("rejects bad input with InvalidArgument naming the field, and a bad id too", async () => {
    const client = service.client;
    const error = await client
      .placeOrder(alicesOrder({ lines: [] }))
      .catch((e: unknown) => ConnectError.from(e));
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toContain("lines");

    const badId = await client.getOrder({ orderId: "nope" }).catch((e: unknown) => ConnectError.from(e));
    expect((badId as ConnectError).code).toBe(Code.InvalidArgument);
    expect((badId as ConnectError).rawMessage).toContain("order_id");

    const res = await fetch(`${service.url}/accord.orders.v1.OrderService/PlaceOrder`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: await bearerFor("alice", "orders") },
      body: '{"lines": "not-a-list"',
    });
    expect(res.status).toBe(400);
  });

  it("answers NotFound for an unknown order", async () => {
    const client = service.client;
    const error = await client
      .getOrder({ orderId: randomUUID() })
      .catch((e: unknown) => ConnectError.from(e));
    expect((error as ConnectError).code).toBe(Code.NotFound);
  });
});

describe("orders service over gRPC (HTTP/2) and binary Connect", () => {
  it("places and gets an order over gRPC", async () => {
    const grpc = service.clientOver("grpc");
    const { order } = await grpc.placeOrder(alicesOrder());
    const fetched = await grpc.getOrder({ orderId: order?.orderId ?? "" });
    expect(fetched.order?.orderId).toBe(order?.orderId);
    expect(fetched.order?.lines[0]?.quantity).toBe(3);
  });

  it("gets the same order over Connect binary", async () => {
    const json = service.client;
    const binary = service.clientOver("connect-binary");
    const { order } = await json.placeOrder(alicesOrder());
    const fetched = await binary.getOrder({ orderId: order?.orderId ?? "" });
    expect(fetched.order?.customerEmail).toBe("it@example.com");
  });

  it("lists orders newest first across pages", async () => {
    // Ops place for and list one fresh customer, so the pages hold only this test's orders.
    const client = service.clientAs("olivia", "grpc");
    const customerId = `pager-${randomUUID()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { order } = await client.placeOrder(placeOrderRequest({ customerId }));
      ids.push(order?.orderId ?? "");
    }
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await client.listOrders({ customerId, pageSize: 2, pageToken });
      seen.push(...page.orders.map((o) => o.orderId));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual([...ids].reverse());
  });
});

describe("health endpoints", () => {
  it("report live and ready while Postgres answers", async () => {
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
  });
});

describe("order status transitions driven by the saga", () => {
  async function eventTypes(orderId: string): Promise<string[]> {
    const rows = await db.query<{ event_type: string }>(
      "SELECT event_type FROM outbox WHERE message_key = $1 ORDER BY id",
      [orderId],
    );
    return rows.rows.map((r) => r.event_type.replace("accord.orders.v1.", ""));
  }

  it("confirms and delivers once each, however often the saga retries", async () => {
    const client = service.clientOver("grpc");
    const saga = service.clientAs("orchestrator", "grpc");
    const { order } = await client.placeOrder(alicesOrder());
    const orderId = order?.orderId ?? "";
    for (let i = 0; i < 2; i++) {
      const confirmed = await saga.confirmOrder({ orderId, paymentId: "pay-1", shipmentId: "ship-1" });
      expect(confirmed.order?.status).toBe(OrderStatus.CONFIRMED);
      expect(confirmed.order?.paymentId).toBe("pay-1");
    }
    await saga.markOrderDelivered({ orderId });
    await saga.markOrderDelivered({ orderId });
    expect(await eventTypes(orderId)).toEqual(["OrderPlaced", "OrderConfirmed", "OrderDelivered"]);

    const late = await client
      .cancelOrder({ orderId, reason: "too late" })
      .catch((e: unknown) => ConnectError.from(e));
    expect((late as ConnectError).code).toBe(Code.FailedPrecondition);
  });

  it("cancels: CANCELLING with a request event, then CANCELLED when the saga finished compensating", async () => {
    const client = service.client;
    const { order } = await client.placeOrder(alicesOrder());
    const orderId = order?.orderId ?? "";
    const cancelling = await client.cancelOrder({ orderId, reason: "changed my mind" });
    expect(cancelling.order?.status).toBe(OrderStatus.CANCELLING);
    await client.cancelOrder({ orderId, reason: "changed my mind" });
    const cancelled = await service.clientAs("orchestrator").markOrderCancelled({ orderId });
    expect(cancelled.order?.status).toBe(OrderStatus.CANCELLED);
    expect(cancelled.order?.failureReason).toBe("changed my mind");
    expect(await eventTypes(orderId)).toEqual([
      "OrderPlaced",
      "OrderCancellationRequested",
      "OrderCancelled",
    ]);
  });

  it("fails with a code and reason, and refuses to confirm a failed order", async () => {
    const { order } = await service.client.placeOrder(alicesOrder());
    const orderId = order?.orderId ?? "";
    const client = service.clientAs("orchestrator");
    const failed = await client.failOrder({
      orderId,
      failureCode: FailureCode.OUT_OF_STOCK,
      reason: "out of stock: BOOK-1",
    });
    expect(failed.order?.status).toBe(OrderStatus.FAILED);
    expect(failed.order?.failureCode).toBe(FailureCode.OUT_OF_STOCK);
    const confirm = await client
      .confirmOrder({ orderId, paymentId: "p", shipmentId: "s" })
      .catch((e: unknown) => ConnectError.from(e));
    expect((confirm as ConnectError).code).toBe(Code.FailedPrecondition);
    const missing = await client
      .failOrder({ orderId, reason: "x" })
      .catch((e: unknown) => ConnectError.from(e));
    expect((missing as ConnectError).code).toBe(Code.InvalidArgument);
    expect((missing as ConnectError).rawMessage).toContain("failure_code");
  });

  it("publishes what it writes: the relay marks outbox rows published, and OrderPlaced is on its topic", async () => {
    const { order } = await service.client.placeOrder(alicesOrder());
    const orderId = order?.orderId ?? "";
    await expect
      .poll(
        async () => {
          const row = await db.query<{ published: boolean }>(
            "SELECT published_at IS NOT NULL AS published FROM outbox WHERE message_key = $1",
            [orderId],
          );
          return row.rows;
        },
        { timeout: 15_000, interval: 100 },
      )
      .toEqual([{ published: true }]);
    await expect
      .poll(async () => (await service.events.received(orderId)).map((e) => e.event.type), {
        timeout: 15_000,
        interval: 100,
      })
      .toEqual([OrderPlacedSchema.typeName]);
    const [placed] = await service.events.received(orderId);
    expect(placed?.record.topic).toBe(`${service.topicPrefix}orders.events`);
  });
});

describe("customers act on their own orders only, with real tokens", () => {
  const refusal = (call: Promise<unknown>): Promise<ConnectError> =>
    call.then(
      () => {
        throw new Error("expected the call to be refused");
      },
      (e: unknown) => ConnectError.from(e),
    );

  it("answers bob NotFound for alice's order on GetOrder and CancelOrder, and leaves it PENDING", async () => {
    const { order } = await service.client.placeOrder(alicesOrder());
    const orderId = order?.orderId ?? "";
    for (const protocol of ["connect-json", "grpc"] as const) {
      const bob = service.clientAs("bob", protocol);
      expect((await refusal(bob.getOrder({ orderId }))).code).toBe(Code.NotFound);
      expect((await refusal(bob.cancelOrder({ orderId, reason: "not mine" }))).code).toBe(Code.NotFound);
    }
    const rows = await db.query("SELECT status FROM orders WHERE order_id = $1", [orderId]);
    expect(rows.rows).toEqual([{ status: "PENDING" }]);
    expect((await service.client.getOrder({ orderId })).order?.customerId).toBe(ALICE);
  });

  it("never lists alice's orders to bob, and refuses his filter naming her", async () => {
    const alices = await service.client.placeOrder(alicesOrder());
    const bob = service.clientAs("bob");
    const bobs = await bob.placeOrder(placeOrderRequest({ customerId: "" }));
    expect(bobs.order?.customerId).toBe(BOB);
    const listed = await bob.listOrders({ pageSize: 100 });
    expect(listed.orders.map((o) => o.orderId)).toContain(bobs.order?.orderId);
    expect(listed.orders.filter((o) => o.customerId !== BOB)).toEqual([]);
    expect(listed.orders.map((o) => o.orderId)).not.toContain(alices.order?.orderId);
    const named = await refusal(bob.listOrders({ customerId: ALICE }));
    expect(named.code).toBe(Code.PermissionDenied);
    expect(named.rawMessage).toContain("customer_id");
  });

  it("refuses alice placing an order with bob's customer_id as PermissionDenied naming customer_id", async () => {
    const req = placeOrderRequest({ customerId: BOB });
    const error = await refusal(service.client.placeOrder(req));
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.rawMessage).toContain("customer_id");
    const rows = await db.query("SELECT 1 FROM orders WHERE idempotency_key = $1", [req.idempotencyKey]);
    expect(rows.rows).toEqual([]);
  });

  it("lets ops (olivia) see alice's and bob's orders", async () => {
    const alices = await service.client.placeOrder(alicesOrder());
    const bobs = await service.clientAs("bob").placeOrder(placeOrderRequest({ customerId: "" }));
    const olivia = service.clientAs("olivia");
    for (const placed of [alices, bobs]) {
      const orderId = placed.order?.orderId ?? "";
      expect((await olivia.getOrder({ orderId })).order?.customerId).toBe(placed.order?.customerId);
    }
    const all = (await olivia.listOrders({ pageSize: 100 })).orders;
    expect(all.map((o) => o.orderId)).toEqual(
      expect.arrayContaining([alices.order?.orderId, bobs.order?.orderId]),
    );
    const onlyBob = (await olivia.listOrders({ customerId: BOB, pageSize: 100 })).orders;
    expect(onlyBob.length).toBeGreaterThan(0);
    expect(onlyBob.filter((o) => o.customerId !== BOB)).toEqual([]);
  });

  it("refuses a customer calling the saga's transitions as PermissionDenied, and the order stays PENDING", async () => {
    const { order } = await service.client.placeOrder(alicesOrder());
    const orderId = order?.orderId ?? "";
    const alice = service.client;
    const calls = [
      alice.confirmOrder({ orderId, paymentId: "pay-x", shipmentId: "ship-x" }),
      alice.failOrder({ orderId, failureCode: FailureCode.OUT_OF_STOCK }),
      alice.markOrderCancelled({ orderId }),
      alice.markOrderDelivered({ orderId }),
    ];
    // Every call is in flight at once: each gets its handler now, not when its turn to be awaited comes.
    const refusals = await Promise.all(calls.map(refusal));
    expect(refusals.map((r) => r.code)).toEqual(calls.map(() => Code.PermissionDenied));
    const rows = await db.query("SELECT status FROM orders WHERE order_id = $1", [orderId]);
    expect(rows.rows).toEqual([{ status: "PENDING" }]);
  });
});
