import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderRefundedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentRefundedSchema, RefundInitiator } from "#gen/accord/payments/v1/events_pb.js";
import {
  dlqTopicFor,
  type EncodedEvent,
  encodeEvent,
  isEventOf,
  normalizeHeaders,
  sourceFor,
} from "#lib/messaging/events.ts";
import {
  createIdempotentProducer,
  type EventProducer,
  ensureTopics,
  kafkaPasswordFor,
} from "#lib/messaging/kafka.ts";
import { prefixedTopic, testKafka } from "#test/support/kafka.ts";
import { ensureProductionTopics, tryForgedPublish } from "#test/support/kafka-forgery.ts";
import { shortId } from "#test/support/postgres.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The real orders process reading payments.events under its own prefix: a
// PaymentRefunded published here (as payments would, from its outbox) moves a
// confirmed order to REFUNDED with OrderRefunded on orders.events. Orders are
// seeded PENDING in its database (checkout itself needs the catalog and is
// tested elsewhere) and confirmed through ConfirmOrder as the orchestrator.
let orders: ServiceUnderTest<"orders">;
let producer: EventProducer;
let paymentsTopic: string;
const WAIT = { timeout: 30_000, interval: 250 };

beforeAll(async () => {
  orders = await startServiceUnderTest("orders", {
    // Never called here: no test places an order.
    env: { CATALOG_URL: "http://127.0.0.1:9" },
  });
  paymentsTopic = prefixedTopic(orders.topicPrefix, "payments");
  const kafka = testKafka(`orders-refunds-${shortId(6)}`);
  await ensureTopics(kafka, [paymentsTopic, dlqTopicFor(paymentsTopic)]);
  producer = await createIdempotentProducer(kafka);
});

afterAll(async () => {
  await producer?.disconnect();
  const code = await orders?.stop();
  expect(code).toBe(0);
});

/** A PENDING order as checkout stores it (42.00 EUR), with its first history row. */
async function seedPendingOrder(): Promise<string> {
  const orderId = randomUUID();
  await orders.pool.query(
    `INSERT INTO orders (order_id, customer_id, customer_email, currency_code, total_minor, shipping_address,
                         status, idempotency_key, request_hash)
     VALUES ($1, 'customer-it', 'refund-it@example.com', 'EUR', 4200, $2, 'PENDING', $3, 'seeded')`,
    [
      orderId,
      JSON.stringify({ line1: "Main St 1", city: "Berlin", postalCode: "10115", countryCode: "DE" }),
      `seed-${orderId}`,
    ],
  );
  await orders.pool.query(
    "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_minor) VALUES ($1, 1, 'BOOK-1', 1, 4200)",
    [orderId],
  );
  await orders.pool.query("INSERT INTO order_status_history (order_id, status) VALUES ($1, 'PENDING')", [
    orderId,
  ]);
  return orderId;
}

async function confirmedOrder(): Promise<string> {
  const orderId = await seedPendingOrder();
  await orders
    .clientAs("orchestrator")
    .confirmOrder({ orderId, paymentId: `pay-${orderId}`, shipmentId: `ship-${orderId}` });
  return orderId;
}

function refunded(orderId: string, initiator: RefundInitiator, paymentId = `pay-${orderId}`): EncodedEvent {
  return encodeEvent(
    PaymentRefundedSchema,
    create(PaymentRefundedSchema, {
      paymentId,
      orderId,
      amount: { currencyCode: "EUR", amountMinor: 4200n },
      reason: "goodwill",
      initiator,
    }),
    { source: sourceFor("payments"), key: orderId },
  );
}

/** Publishes as payments' relay would; resolves with where the record landed. */
async function publish(event: EncodedEvent): Promise<{ partition: number; offset: bigint }> {
  const [meta] = await producer.send({
    topic: paymentsTopic,
    acks: -1,
    messages: [{ key: event.key, value: event.value, headers: event.headers }],
  });
  if (!meta) throw new Error("no record metadata");
  return { partition: meta.partition, offset: BigInt(meta.baseOffset ?? meta.offset ?? "0") };
}

/** Resolves once orders' group committed past the record: it was handled (or sent to the DLQ). */
async function handled(at: { partition: number; offset: bigint }): Promise<void> {
  const admin = testKafka(`orders-refunds-offsets-${shortId(6)}`).admin();
  await admin.connect();
  try {
    await expect
      .poll(async () => {
        const [topic] = await admin.fetchOffsets({
          groupId: `${orders.topicPrefix}orders`,
          topics: [paymentsTopic],
        });
        const committed = topic?.partitions.find((p) => p.partition === at.partition)?.offset ?? "-1";
        return BigInt(committed) > at.offset;
      }, WAIT)
      .toBe(true);
  } finally {
    await admin.disconnect();
  }
}

async function statusOf(orderId: string): Promise<string | undefined> {
  const { rows } = await orders.pool.query<{ status: string }>(
    "SELECT status FROM orders WHERE order_id = $1",
    [orderId],
  );
  return rows[0]?.status;
}

async function historyOf(orderId: string) {
  const { rows } = await orders.pool.query<{ status: string; reason: string | null }>(
    "SELECT status, reason FROM order_status_history WHERE order_id = $1 ORDER BY seq",
    [orderId],
  );
  return rows;
}

async function outboxTypes(orderId: string): Promise<string[]> {
  const { rows } = await orders.pool.query<{ event_type: string }>(
    "SELECT event_type FROM outbox WHERE message_key = $1 ORDER BY id",
    [orderId],
  );
  return rows.map((r) => r.event_type.replace("accord.orders.v1.", ""));
}

describe("orders consumes PaymentRefunded", () => {
  it("moves a confirmed order refunded by ops to REFUNDED and publishes OrderRefunded", async () => {
    const orderId = await confirmedOrder();
    await handled(await publish(refunded(orderId, RefundInitiator.OPS)));

    expect(await statusOf(orderId)).toBe("REFUNDED");
    expect(await historyOf(orderId)).toEqual([
      { status: "PENDING", reason: null },
      { status: "CONFIRMED", reason: null },
      { status: "REFUNDED", reason: `payment pay-${orderId} refunded by ops: goodwill` },
    ]);
    const { order } = await orders.clientAs("olivia").getOrder({ orderId });
    expect(order?.status).toBe(OrderStatus.REFUNDED);
    // The order did not fail: its failure fields stay empty.
    expect(order?.failureReason).toBe("");

    await expect
      .poll(async () => (await orders.events.received(orderId)).map((e) => e.event.type), WAIT)
      .toContain(OrderRefundedSchema.typeName);
    const event = (await orders.events.received(orderId))
      .map((e) => e.event)
      .find((e) => isEventOf(e, OrderRefundedSchema));
    const message = event?.message as
      | {
          orderId: string;
          customerId: string;
          customerEmail: string;
          paymentId: string;
          amount?: { amountMinor: bigint; currencyCode: string };
        }
      | undefined;
    expect(message?.orderId).toBe(orderId);
    expect(message?.customerId).toBe("customer-it");
    expect(message?.customerEmail).toBe("refund-it@example.com");
    expect(message?.paymentId).toBe(`pay-${orderId}`);
    expect(message?.amount).toMatchObject({ currencyCode: "EUR", amountMinor: 4200n });
  });

  it("changes nothing for a redelivered event (inbox)", async () => {
    const orderId = await confirmedOrder();
    const event = refunded(orderId, RefundInitiator.OPS);
    await handled(await publish(event));
    // The very same record again, as a rebalance would deliver it.
    await handled(await publish(event));

    expect(await outboxTypes(orderId)).toEqual(["OrderConfirmed", "OrderRefunded"]);
    expect((await historyOf(orderId)).filter((h) => h.status === "REFUNDED")).toHaveLength(1);
    const { rows } = await orders.pool.query("SELECT consumer FROM inbox WHERE event_id = $1", [
      event.headers.ce_id,
    ]);
    expect(rows).toEqual([{ consumer: "orders-payment-events" }]);
  });

  it("leaves the order alone for a saga refund (and one from before the initiator existed)", async () => {
    const orderId = await confirmedOrder();
    await handled(await publish(refunded(orderId, RefundInitiator.SAGA)));
    await handled(await publish(refunded(orderId, RefundInitiator.UNSPECIFIED)));
    expect(await statusOf(orderId)).toBe("CONFIRMED");
    expect(await outboxTypes(orderId)).toEqual(["OrderConfirmed"]);
  });

  it("leaves an order the saga still drives as it is, and moves a delivered one", async () => {
    const pending = await seedPendingOrder();
    await handled(await publish(refunded(pending, RefundInitiator.OPS)));
    expect(await statusOf(pending)).toBe("PENDING");
    expect(await outboxTypes(pending)).toEqual([]);

    const delivered = await confirmedOrder();
    await orders.clientAs("orchestrator").markOrderDelivered({ orderId: delivered });
    await handled(await publish(refunded(delivered, RefundInitiator.OPS)));
    expect(await statusOf(delivered)).toBe("REFUNDED");
    // The carrier's late word does not undo the refund, and the saga's step still succeeds.
    const { order } = await orders.clientAs("orchestrator").markOrderDelivered({ orderId: delivered });
    expect(order?.status).toBe(OrderStatus.REFUNDED);
    expect(await outboxTypes(delivered)).toEqual(["OrderConfirmed", "OrderDelivered", "OrderRefunded"]);
  });

  it("sends a refund of an unknown or malformed order id to payments.events.dlq and goes on", async () => {
    const unknown = randomUUID();
    await handled(await publish(refunded(unknown, RefundInitiator.OPS)));
    await handled(await publish(refunded("not-a-uuid", RefundInitiator.OPS)));

    const reasons = new Map<string, string>();
    const consumer = testKafka(`orders-refunds-dlq-${shortId(6)}`).consumer({
      groupId: `${orders.topicPrefix}dlq-reader-${shortId(6)}`,
      maxWaitTimeInMs: 500,
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [dlqTopicFor(paymentsTopic)], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const headers = normalizeHeaders(message.headers);
          reasons.set(message.key?.toString() ?? "", headers.dlq_reason ?? "");
        },
      });
      await expect.poll(() => reasons.size, WAIT).toBeGreaterThanOrEqual(2);
    } finally {
      await consumer.disconnect();
    }
    expect(reasons.get(unknown)).toContain("unknown order");
    expect(reasons.get("not-a-uuid")).toContain("not a UUID");

    // The consumer went on: a refund after the poison ones is handled.
    const orderId = await confirmedOrder();
    await handled(await publish(refunded(orderId, RefundInitiator.OPS)));
    expect(await statusOf(orderId)).toBe("REFUNDED");
  });

  it("cannot be fed a forged PaymentRefunded: only payments may write payments.events", async () => {
    // Readers of payments.events may describe it: were it missing, the broker
    // would say so (UNKNOWN_TOPIC_OR_PARTITION) instead of refusing the write.
    await ensureProductionTopics();
    const forged = refunded(randomUUID(), RefundInitiator.OPS);
    for (const user of ["orders", "notifications", "orchestrator"]) {
      expect(
        await tryForgedPublish({
          username: user,
          password: kafkaPasswordFor(user),
          topic: "payments.events",
          event: forged,
        }),
        user,
      ).toBe("TOPIC_AUTHORIZATION_FAILED");
    }
  });
});
