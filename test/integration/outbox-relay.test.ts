import { randomUUID } from "node:crypto";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderCancellationRequestedSchema, OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { createPool, ensureDatabase, inTransaction, migrate, type Pool } from "#lib/db.ts";
import { decodeEvent, encodeEvent, eventRegistry } from "#lib/messaging/events.ts";
import {
  createIdempotentProducer,
  createKafka,
  deleteTopics,
  ensureTopics,
  type KafkaClient,
} from "#lib/messaging/kafka.ts";
import { enqueueOutbox } from "#lib/messaging/outbox.ts";
import { startOutboxRelay } from "#lib/messaging/outbox-relay.ts";
import { createLogger } from "#lib/observability/logger.ts";

// The relay against real Postgres and real Kafka clients: with Kafka
// unreachable nothing is lost, and once it answers the backlog is published
// in per-order order.
const database = `accord_relay_test_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
const topic = `test.relay.${randomUUID()}`;
const logger = createLogger("relay-test", "silent");
let pool: Pool;
let kafka: KafkaClient;

function url(db: string) {
  const { PGUSER, PGPASSWORD, PGHOST, PGPORT } = process.env;
  return `postgres://${PGUSER}:${PGPASSWORD}@${PGHOST}:${PGPORT}/${db}`;
}

beforeAll(async () => {
  await ensureDatabase(url(database));
  pool = createPool(url(database), 5);
  await migrate(pool, path.resolve("services/orders/migrations"));
  kafka = createKafka({
    clientId: "relay-test",
    brokers: (process.env.KAFKA_BROKERS ?? "").split(","),
    logLevel: "silent",
  });
  await ensureTopics(kafka, [topic], 3);
});

afterAll(async () => {
  await pool?.end();
  await deleteTopics(kafka, [topic]).catch(() => {});
  const admin = createPool(url("postgres"), 1);
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.end();
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
    const deadKafka = createKafka({ clientId: "relay-dead", brokers: ["127.0.0.1:1"], logLevel: "silent" });
    const deadProducer = deadKafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: 1, initialRetryTime: 50 },
    });
    // Its loop starts at once; wait until it has tried (and failed) every row.
    const stalled = startOutboxRelay({ pool, producer: deadProducer, logger, pollIntervalMs: 20 });
    const triedBy = Date.now() + 20_000;
    for (;;) {
      const tried = await pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM outbox WHERE attempts >= 1",
      );
      if (tried.rows[0]?.n === 12) break;
      if (Date.now() > triedBy) throw new Error("the stalled relay never tried to publish");
      await new Promise((r) => setTimeout(r, 50));
    }
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
    const deadline = Date.now() + 20_000;
    for (;;) {
      const left = await pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL",
      );
      if (left.rows[0]?.n === 0) break;
      if (Date.now() > deadline) throw new Error("relay did not catch up");
      await new Promise((r) => setTimeout(r, 100));
    }
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
});
