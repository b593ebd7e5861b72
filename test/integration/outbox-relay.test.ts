import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderCancellationRequestedSchema, OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { inTransaction, type Pool } from "#lib/db.ts";
import { decodeEvent, encodeEvent, eventRegistry } from "#lib/messaging/events.ts";
import {
  createIdempotentProducer,
  createKafka,
  deleteTopics,
  ensureTopics,
  kafkaAuthFrom,
} from "#lib/messaging/kafka.ts";
import { enqueueOutbox } from "#lib/messaging/outbox.ts";
import { startOutboxRelay } from "#lib/messaging/outbox-relay.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { migratedDatabase } from "#test/support/handlers-under-test.ts";
import { testKafka } from "#test/support/kafka.ts";
import type { TempDatabase } from "#test/support/postgres.ts";

// The relay against real Postgres and real Kafka clients: with Kafka
// unreachable nothing is lost, and once it answers the backlog is published
// in per-order order.
const topic = `test.relay.${randomUUID()}`;
const logger = createLogger("relay-test", "silent");
const kafka = testKafka("relay-test");
const WAIT = { timeout: 20_000, interval: 50 };
let database: TempDatabase;
let pool: Pool;

beforeAll(async () => {
  // The orders service's outbox table, in a database of this file's own.
  ({ database, pool } = await migratedDatabase("orders", "relay", 5));
  await ensureTopics(kafka, [topic], 3);
});

afterAll(async () => {
  await deleteTopics(kafka, [topic]).catch(() => {});
  await database?.drop();
});

async function writeEvents(orderId: string, count: number) {
  await inTransaction(pool, async (client) => {
    for (let i = 0; i < count; i++) {
      const event =
        i === 0
          ? encodeEvent(OrderPlacedSchema, create(OrderPlacedSchema, { order: { orderId } }), {
              source: "/test",
              key: orderId,
            })
          : encodeEvent(
              OrderCancellationRequestedSchema,
              create(OrderCancellationRequestedSchema, { orderId, reason: `step ${i}` }),
              { source: "/test", key: orderId },
            );
      await enqueueOutbox(client, topic, event);
    }
  });
}

describe("outbox relay", () => {
  it("keeps rows while Kafka is unreachable, then publishes them in per-order order", async () => {
    const orders = [randomUUID(), randomUUID(), randomUUID()];
    for (const orderId of orders) await writeEvents(orderId, 4);

    // A real client pointed at a port where no broker listens.
    const deadKafka = createKafka({
      clientId: "relay-dead",
      brokers: ["127.0.0.1:1"],
      auth: kafkaAuthFrom(),
      logLevel: "silent",
    });
    const deadProducer = deadKafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: 1, initialRetryTime: 50 },
    });
    // Its loop starts at once; wait until it has tried (and failed) every row.
    const stalled = startOutboxRelay({ pool, producer: deadProducer, logger, pollIntervalMs: 20 });
    await expect
      .poll(async () => {
        const tried = await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM outbox WHERE attempts >= 1",
        );
        return tried.rows[0]?.n;
      }, WAIT)
      .toBe(12);
    await stalled.stop();
    const pending = await pool.query<{ n: number; attempts: number }>(
      "SELECT count(*)::int AS n, min(attempts)::int AS attempts FROM outbox WHERE published_at IS NULL",
    );
    expect(pending.rows[0]?.n).toBe(12);
    expect(pending.rows[0]?.attempts).toBeGreaterThanOrEqual(1);

    const producer = await createIdempotentProducer(kafka);
    // Two relays at once: SKIP LOCKED and the per-key lock share the work.
    const relays = [
      startOutboxRelay({ pool, producer, logger, batchSize: 5, pollIntervalMs: 20 }),
      startOutboxRelay({ pool, producer, logger, batchSize: 5, pollIntervalMs: 20 }),
    ];
    await expect
      .poll(async () => {
        const left = await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL",
        );
        return left.rows[0]?.n;
      }, WAIT)
      .toBe(0);
    await Promise.all(relays.map((r) => r.stop()));
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `relay-test-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen = new Map<string, string[]>();
    let total = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${total} of 12 events arrived`)), 20_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const event = decodeEvent(eventRegistry, { value: message.value, headers: message.headers });
          const key = message.key?.toString() ?? "";
          seen.set(key, [...(seen.get(key) ?? []), event.type]);
          total += 1;
          if (total === 12) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    for (const orderId of orders) {
      expect(seen.get(orderId)).toEqual([
        "accord.orders.v1.OrderPlaced",
        "accord.orders.v1.OrderCancellationRequested",
        "accord.orders.v1.OrderCancellationRequested",
        "accord.orders.v1.OrderCancellationRequested",
      ]);
    }
  });

  it("publishes rows as soon as their transaction commits, with the next poll an hour away", async () => {
    const producer = await createIdempotentProducer(kafka);
    const relay = startOutboxRelay({ pool, producer, logger, pollIntervalMs: 3_600_000 });
    const unpublished = async () =>
      (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL"))
        .rows[0]?.n;
    try {
      // Its first round finds nothing; from then on only a commit can wake it.
      await expect.poll(unpublished, WAIT).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 200));

      const orderId = randomUUID();
      await writeEvents(orderId, 2);
      await expect
        .poll(
          async () =>
            (
              await pool.query<{ n: number }>(
                "SELECT count(*)::int AS n FROM outbox WHERE message_key = $1 AND published_at IS NOT NULL",
                [orderId],
              )
            ).rows[0]?.n,
          { timeout: 10_000, interval: 20 },
        )
        .toBe(2);
    } finally {
      await relay.stop();
      await producer.disconnect();
    }
  });

  it("publishes other orders' events while one round's send hangs, and that order's next event waits behind it", async () => {
    const real = await createIdempotentProducer(kafka);
    const stuckOrder = randomUUID();
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The real producer, except that a batch carrying the stuck order's event
    // waits until released: what a send to a partition whose leader just died does.
    const producer = new Proxy(real, {
      get(target, property, receiver) {
        if (property !== "sendBatch") return Reflect.get(target, property, receiver);
        return async (batch: Parameters<typeof real.sendBatch>[0]) => {
          const keys = (batch.topicMessages ?? []).flatMap((t) => t.messages.map((m) => m.key?.toString()));
          if (keys.includes(stuckOrder)) await released;
          return target.sendBatch(batch);
        };
      },
    });
    const relay = startOutboxRelay({ pool, producer, logger, pollIntervalMs: 3_600_000 });
    const publishedOf = async (orderId: string) =>
      (
        await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM outbox WHERE message_key = $1 AND published_at IS NOT NULL",
          [orderId],
        )
      ).rows[0]?.n;
    try {
      await writeEvents(stuckOrder, 1);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const others = [randomUUID(), randomUUID(), randomUUID()];
      for (const orderId of others) await writeEvents(orderId, 1);
      // The stuck order's second event: it must not overtake the first.
      await writeEvents(stuckOrder, 1);
      for (const orderId of others) await expect.poll(() => publishedOf(orderId), WAIT).toBe(1);
      expect(await publishedOf(stuckOrder)).toBe(0);

      release();
      await expect.poll(() => publishedOf(stuckOrder), WAIT).toBe(2);
    } finally {
      release();
      await relay.stop();
      await real.disconnect();
    }
  });
});
