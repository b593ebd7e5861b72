import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { createOrderService } from "#services/orders/src/order-service.ts";
import { type HandlersUnderTest, startHandlersUnderTest } from "#test/support/handlers-under-test.ts";
import { prefixedTopic } from "#test/support/kafka.ts";
import { placeOrderRequest } from "#test/support/requests.ts";

// The orders handlers in this process, on a migrated database of their own,
// called with the generated client through createRouterTransport: the RPC
// path of orders-service.test.ts without a process, Kafka or a socket.
let orders: HandlersUnderTest<typeof OrderService>;

beforeAll(async () => {
  orders = await startHandlersUnderTest({
    name: "orders",
    service: OrderService,
    handlers: ({ pool, logger, topicPrefix }) =>
      createOrderService({ pool, logger, topic: prefixedTopic(topicPrefix, "orders") }),
  });
});

afterAll(async () => {
  await orders?.stop();
});

const failure = (e: unknown) => ConnectError.from(e);

describe("orders handlers in process", () => {
  it("places an order as PENDING, with its OrderPlaced outbox row for the orders topic", async () => {
    const { order, replayed } = await orders.client.placeOrder(placeOrderRequest());
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
    const noLines = await orders.client.placeOrder(placeOrderRequest({ lines: [] })).catch(failure);
    expect(noLines).toBeInstanceOf(ConnectError);
    expect((noLines as ConnectError).code).toBe(Code.InvalidArgument);
    expect((noLines as ConnectError).rawMessage).toContain("lines");

    const badId = await orders.client.getOrder({ orderId: "nope" }).catch(failure);
    expect((badId as ConnectError).code).toBe(Code.InvalidArgument);
    expect((badId as ConnectError).rawMessage).toContain("order_id");
  });

  it("replays a repeated idempotency key and refuses the key with another body", async () => {
    const req = placeOrderRequest();
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
      .placeOrder(placeOrderRequest({ idempotencyKey: req.idempotencyKey, customerId: "someone-else" }))
      .catch(failure);
    expect((changed as ConnectError).code).toBe(Code.AlreadyExists);
  });

  it("confirms once however often the saga repeats the step", async () => {
    const { order } = await orders.client.placeOrder(placeOrderRequest());
    const orderId = order?.orderId ?? "";
    for (let i = 0; i < 2; i++) {
      const confirmed = await orders.client.confirmOrder({
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
