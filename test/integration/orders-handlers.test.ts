import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS, devClientTokens } from "#lib/auth/dev-identities.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { type CatalogPrices, createCatalogPrices } from "#services/orders/src/catalog-prices.ts";
import { createOrderService } from "#services/orders/src/order-service.ts";
import { ensureProducts } from "#test/support/catalog.ts";
import { type HandlersUnderTest, startHandlersUnderTest } from "#test/support/handlers-under-test.ts";
import { personPrincipal, servicePrincipal } from "#test/support/identity.ts";
import { prefixedTopic } from "#test/support/kafka.ts";
import { BOOK, placeOrderRequest } from "#test/support/requests.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The orders handlers in this process, on a migrated database of their own,
// called with the generated client through createRouterTransport: the RPC
// path of orders-service.test.ts without a process, Kafka or a socket.
// `client` calls as alice (a customer); the principal is placed where the
// authorization interceptor puts it, so these cases test what the handlers
// scope to (the tokens and the table: authorization.test.ts). Prices come
// from a real catalog process, which the handlers call with orders' own
// token through orders' catalog adapter, as the service does.
let orders: HandlersUnderTest<typeof OrderService>;
let catalog: ServiceUnderTest<"catalog">;
let prices: CatalogPrices;

const ALICE = DEMO_USERS.alice.id;
const BOB = DEMO_USERS.bob.id;

/** A valid PlaceOrder request of `customerId`'s own (the shared default names a customer no token has). */
const orderOf = (customerId: string, overrides: Parameters<typeof placeOrderRequest>[0] = {}) =>
  placeOrderRequest({ customerId, ...overrides });

beforeAll(async () => {
  catalog = await startServiceUnderTest("catalog", { tag: "inproc" });
  await ensureProducts(catalog.url, [{ sku: BOOK.sku, prices: { [BOOK.currencyCode]: BOOK.amountMinor } }]);
  prices = createCatalogPrices({
    baseUrl: catalog.url,
    tokens: devClientTokens("orders"),
    breaker: { timeoutMs: 5_000 },
    logger: createLogger("orders-handlers-catalog", process.env.TEST_LOG_LEVEL ?? "silent"),
  });
  orders = await startHandlersUnderTest({
    name: "orders",
    service: OrderService,
    handlers: ({ pool, logger, topicPrefix }) =>
      createOrderService({ pool, logger, topic: prefixedTopic(topicPrefix, "orders"), catalog: prices }),
    caller: personPrincipal("alice"),
  });
}, 120_000);

afterAll(async () => {
  prices?.shutdown();
  await orders?.stop();
  await catalog?.stop();
});

const failure = (e: unknown) => ConnectError.from(e);

/** The error a call is refused with; a call that succeeds fails the test. */
const refusal = (call: Promise<unknown>): Promise<ConnectError> =>
  call.then(() => {
    throw new Error("expected the call to be refused");
  }, failure);

describe("orders handlers in process", () => {
  it("places an order as PENDING, with its OrderPlaced outbox row for the orders topic", async () => {
    const { order, replayed } = await orders.client.placeOrder(orderOf(ALICE));
    expect(replayed).toBe(false);
    expect(order?.status).toBe(OrderStatus.PENDING);
    expect(order?.total?.amountMinor).toBe(3000n);

    const fetched = await orders.client.getOrder({ orderId: order?.orderId ?? "" });
    expect(fetched.order?.lines.map((l) => [l.sku, l.quantity])).toEqual([["BOOK-1", 3]]);
    const { rows } = await orders.pool.query<{ event_type: string; topic: string }>(
      "SELECT event_type, topic FROM outbox WHERE message_key = $1",
      [order?.orderId],
    );
    expect(rows).toEqual([
      { event_type: "accord.orders.v1.OrderPlaced", topic: prefixedTopic(orders.topicPrefix, "orders") },
    ]);
  });

  it("answers InvalidArgument naming the field", async () => {
    const noLines = await orders.client.placeOrder(orderOf(ALICE, { lines: [] })).catch(failure);
    expect(noLines).toBeInstanceOf(ConnectError);
    expect((noLines as ConnectError).code).toBe(Code.InvalidArgument);
    expect((noLines as ConnectError).rawMessage).toContain("lines");

    const badId = await orders.client.getOrder({ orderId: "nope" }).catch(failure);
    expect((badId as ConnectError).code).toBe(Code.InvalidArgument);
    expect((badId as ConnectError).rawMessage).toContain("order_id");
  });

  it("replays a repeated idempotency key and refuses the key with another body", async () => {
    const req = orderOf(ALICE);
    const first = await orders.client.placeOrder(req);
    const again = await orders.client.placeOrder(req);
    expect(again.replayed).toBe(true);
    expect(again.order?.orderId).toBe(first.order?.orderId);
    const { rows } = await orders.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM orders WHERE idempotency_key = $1",
      [req.idempotencyKey],
    );
    expect(rows[0]?.n).toBe(1);

    const changed = await orders.client
      .placeOrder(orderOf(ALICE, { idempotencyKey: req.idempotencyKey, customerEmail: "other@example.com" }))
      .catch(failure);
    expect((changed as ConnectError).code).toBe(Code.AlreadyExists);
    expect((changed as ConnectError).rawMessage).toContain("idempotency_key");
  });

  it("confirms once however often the saga repeats the step", async () => {
    const { order } = await orders.client.placeOrder(orderOf(ALICE));
    const orderId = order?.orderId ?? "";
    const saga = orders.clientAs(servicePrincipal("orchestrator"));
    for (let i = 0; i < 2; i++) {
      const confirmed = await saga.confirmOrder({
        orderId,
        paymentId: "pay-1",
        shipmentId: "ship-1",
      });
      expect(confirmed.order?.status).toBe(OrderStatus.CONFIRMED);
    }
    const { rows } = await orders.pool.query<{ event_type: string }>(
      "SELECT event_type FROM outbox WHERE message_key = $1 ORDER BY id",
      [orderId],
    );
    expect(rows.map((r) => r.event_type)).toEqual([
      "accord.orders.v1.OrderPlaced",
      "accord.orders.v1.OrderConfirmed",
    ]);
  });
});

describe("customers act on their own orders only", () => {
  const bob = () => orders.clientAs(personPrincipal("bob"));
  const olivia = () => orders.clientAs(personPrincipal("olivia"));
  const notFound = async (call: Promise<unknown>) => {
    const error = await refusal(call);
    expect(error.code).toBe(Code.NotFound);
    return error;
  };

  it("places for the token's customer whether customer_id is empty or their own, and refuses anyone else's", async () => {
    const { order } = await orders.client.placeOrder(orderOf(""));
    expect(order?.customerId).toBe(ALICE);
    const own = await orders.client.placeOrder(orderOf(ALICE));
    expect(own.order?.customerId).toBe(ALICE);

    const forBob = await refusal(orders.client.placeOrder(orderOf(BOB)));
    expect(forBob.code).toBe(Code.PermissionDenied);
    expect(forBob.rawMessage).toMatch(/^customer_id: /);
    const { rows } = await orders.pool.query("SELECT 1 FROM orders WHERE customer_id = $1", [BOB]);
    expect(rows).toEqual([]);
  });

  it("replays an empty customer_id and the customer's own id as the same request", async () => {
    const req = orderOf("");
    const first = await orders.client.placeOrder(req);
    const again = await orders.client.placeOrder(orderOf(ALICE, { idempotencyKey: req.idempotencyKey }));
    expect(again.replayed).toBe(true);
    expect(again.order?.orderId).toBe(first.order?.orderId);
  });

  it("scopes the idempotency key per customer: bob reusing alice's key gets an order of his own", async () => {
    const req = orderOf(ALICE);
    const alices = await orders.client.placeOrder(req);
    const bobs = await bob().placeOrder(orderOf("", { idempotencyKey: req.idempotencyKey }));
    expect(bobs.replayed).toBe(false);
    expect(bobs.order?.orderId).not.toBe(alices.order?.orderId);
    expect(bobs.order?.customerId).toBe(BOB);
    // Even the very same body under alice's key is bob's own new order, never hers.
    const sameBody = await bob().placeOrder(orderOf("", { idempotencyKey: req.idempotencyKey }));
    expect(sameBody.order?.orderId).toBe(bobs.order?.orderId);
  });

  it("answers bob NotFound for alice's order on GetOrder and CancelOrder, as for a missing one, and leaves it alone", async () => {
    const { order } = await orders.client.placeOrder(orderOf(ALICE));
    const orderId = order?.orderId ?? "";
    const theirs = await notFound(bob().getOrder({ orderId }));
    const missing = await notFound(bob().getOrder({ orderId: "01900000-0000-7000-8000-000000000000" }));
    expect(theirs.rawMessage.replace(orderId, "<id>")).toBe(
      missing.rawMessage.replace("01900000-0000-7000-8000-000000000000", "<id>"),
    );
    await notFound(bob().cancelOrder({ orderId, reason: "not mine" }));

    const { rows } = await orders.pool.query<{ status: string }>(
      "SELECT status FROM orders WHERE order_id = $1",
      [orderId],
    );
    expect(rows).toEqual([{ status: "PENDING" }]);
    const events = await orders.pool.query("SELECT event_type FROM outbox WHERE message_key = $1", [orderId]);
    expect(events.rows).toEqual([{ event_type: "accord.orders.v1.OrderPlaced" }]);
    // Alice herself still gets and cancels it.
    expect((await orders.client.getOrder({ orderId })).order?.customerId).toBe(ALICE);
    expect((await orders.client.cancelOrder({ orderId })).order?.status).toBe(OrderStatus.CANCELLING);
  });

  it("lists a customer's own orders only, and refuses a filter naming someone else", async () => {
    const alices = await orders.client.placeOrder(orderOf(ALICE));
    const bobs = await bob().placeOrder(orderOf(""));
    const listed = await bob().listOrders({ pageSize: 100 });
    expect(listed.orders.length).toBeGreaterThan(0);
    expect(listed.orders.every((o) => o.customerId === BOB)).toBe(true);
    expect(listed.orders.map((o) => o.orderId)).toContain(bobs.order?.orderId);
    expect(listed.orders.map((o) => o.orderId)).not.toContain(alices.order?.orderId);
    const ownFilter = await bob().listOrders({ customerId: BOB, pageSize: 100 });
    expect(ownFilter.orders.map((o) => o.orderId)).toEqual(listed.orders.map((o) => o.orderId));

    const named = await refusal(bob().listOrders({ customerId: ALICE }));
    expect(named.code).toBe(Code.PermissionDenied);
    expect(named.rawMessage).toMatch(/^customer_id: /);
  });

  it("lets ops see and cancel every customer's orders, and place for the customer named", async () => {
    const alices = await orders.client.placeOrder(orderOf(ALICE));
    const bobs = await bob().placeOrder(orderOf(""));
    const all = (await olivia().listOrders({ pageSize: 100 })).orders.map((o) => o.orderId);
    expect(all).toEqual(expect.arrayContaining([alices.order?.orderId, bobs.order?.orderId]));
    const onlyBob = await olivia().listOrders({ customerId: BOB, pageSize: 100 });
    expect(onlyBob.orders.every((o) => o.customerId === BOB)).toBe(true);
    expect(onlyBob.orders.map((o) => o.orderId)).toContain(bobs.order?.orderId);

    expect((await olivia().getOrder({ orderId: alices.order?.orderId ?? "" })).order?.customerId).toBe(ALICE);
    const cancelled = await olivia().cancelOrder({
      orderId: bobs.order?.orderId ?? "",
      reason: "fraud check",
    });
    expect(cancelled.order?.status).toBe(OrderStatus.CANCELLING);

    const forBob = await olivia().placeOrder(orderOf(BOB));
    expect(forBob.order?.customerId).toBe(BOB);
    const nobody = await refusal(olivia().placeOrder(orderOf("")));
    expect(nobody.code).toBe(Code.InvalidArgument);
    expect(nobody.rawMessage).toContain("customer_id");
  });

  it("lets the services the table allows read any order", async () => {
    const { order } = await orders.client.placeOrder(orderOf(ALICE));
    const orderId = order?.orderId ?? "";
    for (const service of ["orchestrator", "notifications"] as const) {
      const read = await orders.clientAs(servicePrincipal(service)).getOrder({ orderId });
      expect(read.order?.customerId).toBe(ALICE);
    }
  });
});
