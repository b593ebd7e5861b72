import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AddressSchema, LineItemSchema, MoneySchema } from "#gen/accord/common/v1/common_pb.js";
import { OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { OrderSchema, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import {
  type DecodedEvent,
  dlqTopicFor,
  type EncodedEvent,
  encodeEvent,
  isEventOf,
  sourceFor,
} from "#lib/messaging/events.ts";
import {
  CONSUMER_SESSION_TIMEOUT_MS,
  type ConsumedRecord,
  createIdempotentProducer,
  deleteTopics,
  type EventHandler,
  type EventProducer,
  ensureTopics,
  type KafkaClient,
  publishEvents,
  type RunningConsumer,
  runEventConsumer,
} from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { testKafka } from "#test/support/kafka.ts";

// kafkajs logs the transient failure of test 3 at error level; TEST_LOG_LEVEL=debug shows it all.
const logger = createLogger("kafka-events-test", process.env.TEST_LOG_LEVEL ?? "silent");
const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const WAIT = { timeout: 20_000, interval: 50 };

let kafka: KafkaClient;
let producer: EventProducer;
const createdTopics: string[] = [];
const running: RunningConsumer[] = [];
const groupIds: string[] = [];

beforeAll(async () => {
  kafka = testKafka("kafka-events-test");
  producer = await createIdempotentProducer(kafka);
});

afterAll(async () => {
  await Promise.all(running.map((c) => c.stop()));
  await producer?.disconnect();
  if (!kafka) return;
  if (createdTopics.length > 0) await deleteTopics(kafka, createdTopics);
  if (groupIds.length === 0) return;
  // Empty groups would otherwise linger in __consumer_offsets for the retention period.
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteGroups(groupIds);
  } finally {
    await admin.disconnect();
  }
});

/** A fresh topic and its .dlq for one test, so fresh groups read only that test's events. */
async function freshTopic(partitions = 3): Promise<string> {
  const topic = `test.events.${uuidv7()}`;
  createdTopics.push(topic, dlqTopicFor(topic));
  const created = await ensureTopics(kafka, [topic, dlqTopicFor(topic)], partitions);
  expect(created).toEqual([topic, dlqTopicFor(topic)]);
  return topic;
}

async function consume(
  topic: string,
  handle: EventHandler,
  options: {
    commitIntervalMs?: number;
    rebalanceTimeoutMs?: number;
    joinGroup?: string;
    onStoppedForGood?: (error: unknown) => void;
  } = {},
): Promise<{ groupId: string; consumer: RunningConsumer }> {
  const { commitIntervalMs, rebalanceTimeoutMs, joinGroup, onStoppedForGood } = options;
  const groupId = joinGroup ?? `test-group-${uuidv7()}`;
  if (!joinGroup) groupIds.push(groupId);
  const consumer = await runEventConsumer({
    kafka,
    groupId,
    topics: [topic],
    handle,
    logger,
    dlqProducer: producer,
    ...(commitIntervalMs === undefined ? {} : { commitIntervalMs }),
    ...(rebalanceTimeoutMs === undefined ? {} : { rebalanceTimeoutMs }),
    ...(onStoppedForGood === undefined ? {} : { onStoppedForGood }),
  });
  running.push(consumer);
  return { groupId, consumer };
}

async function committedOffsets(groupId: string, topic: string): Promise<Record<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Object.fromEntries((result?.partitions ?? []).map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

function orderPlacedEvent(orderId = uuidv7()): EncodedEvent {
  const eur = (amountMinor: bigint) => create(MoneySchema, { currencyCode: "EUR", amountMinor });
  const placed = create(OrderPlacedSchema, {
    order: create(OrderSchema, {
      orderId,
      customerId: "cust-7",
      customerEmail: "grace@example.com",
      lines: [
        create(LineItemSchema, { sku: "SKU-KEYBOARD", quantity: 1, unitPrice: eur(8900n) }),
        create(LineItemSchema, { sku: "SKU-CABLE-USB-C", quantity: 3, unitPrice: eur(799n) }),
      ],
      total: eur(11297n),
      shippingAddress: create(AddressSchema, {
        recipientName: "Grace Hopper",
        line1: "Hauptstrasse 1",
        city: "Berlin",
        postalCode: "10115",
        countryCode: "DE",
      }),
      status: OrderStatus.PENDING,
      createdAt: timestampFromDate(new Date()),
    }),
  });
  return encodeEvent(OrderPlacedSchema, placed, {
    source: sourceFor("orders"),
    key: orderId,
    traceparent: TRACEPARENT,
  });
}

describe("Kafka events (real broker)", () => {
  it("publishes an OrderPlaced with the idempotent producer and consumes it, committing after the handler", async () => {
    const topic = await freshTopic();
    const sent = orderPlacedEvent();
    await publishEvents(producer, topic, [sent]);

    const received: { event: DecodedEvent; record: ConsumedRecord }[] = [];
    const { groupId, consumer } = await consume(topic, async (event, record) => {
      received.push({ event, record });
    });
    await vi.waitFor(() => expect(received).toHaveLength(1), WAIT);

    const [{ event, record } = expect.unreachable()] = received;
    expect(record.topic).toBe(topic);
    expect(record.key).toBe(sent.key);
    expect(record.headers).toStrictEqual(sent.headers);
    expect(record.headers).toMatchObject({
      ce_type: "accord.orders.v1.OrderPlaced",
      ce_source: "/accord/orders",
      ce_specversion: "1.0",
      "content-type": "application/protobuf",
      traceparent: TRACEPARENT,
    });
    expect(event).toMatchObject({
      id: sent.headers.ce_id,
      type: "accord.orders.v1.OrderPlaced",
      source: "/accord/orders",
      time: sent.headers.ce_time,
      traceparent: TRACEPARENT,
    });
    if (!isEventOf(event, OrderPlacedSchema)) throw new Error(`unexpected event type ${event.type}`);
    expect(event.message.order?.orderId).toBe(sent.key);
    expect(event.message.order?.customerEmail).toBe("grace@example.com");
    expect(event.message.order?.lines.map((l) => [l.sku, l.quantity])).toEqual([
      ["SKU-KEYBOARD", 1],
      ["SKU-CABLE-USB-C", 3],
    ]);
    expect(event.message.order?.total?.amountMinor).toBe(11297n);

    await consumer.stop();
    expect(await committedOffsets(groupId, topic)).toMatchObject({ [record.partition]: "1" });
  });

  it("with a commit interval, commits handled offsets together: not per event, and all of them at stop", async () => {
    const topic = await freshTopic(1);
    const events = Array.from({ length: 5 }, () => orderPlacedEvent());
    await publishEvents(producer, topic, events);
    const handled: string[] = [];
    // Longer than the test: nothing is committed before stop() but by the flush at stop.
    const { groupId, consumer } = await consume(
      topic,
      async (_event, record) => {
        handled.push(record.offset);
      },
      { commitIntervalMs: 10_000 },
    );
    await vi.waitFor(() => expect(handled).toEqual(["0", "1", "2", "3", "4"]), WAIT);
    // Handled, not yet committed: the group has no offset for the partition.
    expect(await committedOffsets(groupId, topic)).toEqual({ 0: "-1" });
    await consumer.stop();
    expect(await committedOffsets(groupId, topic)).toEqual({ 0: "5" });
  });

  it("routes undecodable bytes to <topic>.dlq with the reason and goes on with the next event", async () => {
    const topic = await freshTopic();
    const valid = orderPlacedEvent();
    // Same key, so the same partition, right before the valid event: the consumer must get past it.
    const garbage: EncodedEvent = {
      key: valid.key,
      value: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]),
      headers: { ...valid.headers, ce_id: uuidv7() },
    };
    await publishEvents(producer, topic, [garbage, valid]);

    // The DLQ holds raw (possibly undecodable) records, so it is read without the envelope decoder.
    const dead: {
      partition: number;
      key: string | undefined;
      value: Buffer | null;
      headers: Record<string, string>;
    }[] = [];
    const dlqGroupId = `test-dlq-reader-${uuidv7()}`;
    groupIds.push(dlqGroupId);
    const dlqReader = kafka.consumer({ groupId: dlqGroupId, maxWaitTimeInMs: 500 });
    await dlqReader.connect();
    try {
      await dlqReader.subscribe({ topics: [dlqTopicFor(topic)], fromBeginning: true });
      await dlqReader.run({
        eachMessage: async ({ partition, message }) => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
          dead.push({ partition, key: message.key?.toString(), value: message.value, headers });
        },
      });

      const handled: ConsumedRecord[] = [];
      const { groupId, consumer } = await consume(topic, async (_event, record) => {
        handled.push(record);
      });
      await vi.waitFor(() => {
        expect(handled).toHaveLength(1);
        expect(dead).toHaveLength(1);
      }, WAIT);

      const [ok = expect.unreachable()] = handled;
      const [poison = expect.unreachable()] = dead;
      expect(ok.headers.ce_id).toBe(valid.headers.ce_id);
      expect(ok.offset).toBe("1");
      expect(poison.value?.equals(garbage.value)).toBe(true);
      expect(poison.key).toBe(garbage.key);
      expect(poison.headers).toMatchObject({
        ...garbage.headers,
        dlq_original_topic: topic,
        dlq_original_partition: String(ok.partition),
        dlq_original_offset: "0",
        dlq_consumer_group: groupId,
      });
      expect(poison.headers.dlq_reason).toMatch(
        /^undecodable: value is not a valid accord\.orders\.v1\.OrderPlaced/,
      );

      await consumer.stop();
      // Both committed: the poison one is not retried after a restart either.
      expect(await committedOffsets(groupId, topic)).toMatchObject({ [ok.partition]: "2" });
    } finally {
      await dlqReader.disconnect();
    }
  });

  it("does not commit when the handler fails transiently, so the event comes again", async () => {
    const topic = await freshTopic();
    const sent = orderPlacedEvent();
    await publishEvents(producer, topic, [sent]);

    const attempts: ConsumedRecord[] = [];
    let handledOk = 0;
    const { groupId, consumer } = await consume(topic, async (_event, record) => {
      attempts.push(record);
      if (attempts.length === 1) throw new Error("database unavailable (simulated)");
      handledOk += 1;
    });
    await vi.waitFor(() => expect(handledOk).toBe(1), WAIT);

    expect(attempts).toHaveLength(2);
    expect(attempts.map((a) => [a.offset, a.headers.ce_id])).toEqual([
      ["0", sent.headers.ce_id],
      ["0", sent.headers.ce_id],
    ]);
    await consumer.stop();
    const [first = expect.unreachable()] = attempts;
    expect(await committedOffsets(groupId, topic)).toMatchObject({ [first.partition]: "1" });
    // Nothing went to the DLQ: a transient failure is not poison.
    expect(await endOffsets(dlqTopicFor(topic))).toEqual([0, 0, 0]);
  });
});

describe("a consumer group while a handler is slow (real broker)", () => {
  it(
    "stays a member while one event's handler runs past the session timeout: no rebalance, nothing delivered twice",
    async () => {
      const topic = await freshTopic(1);
      await publishEvents(producer, topic, [orderPlacedEvent(), orderPlacedEvent(), orderPlacedEvent()]);
      const handled: string[] = [];
      const { groupId, consumer } = await consume(topic, async (_event, record) => {
        // A dropped member would have event 0 delivered again after its rejoin.
        if (record.offset === "0") await sleep(CONSUMER_SESSION_TIMEOUT_MS + 3_000);
        handled.push(record.offset);
      });
      await vi.waitFor(() => expect(handled).toHaveLength(3), {
        timeout: CONSUMER_SESSION_TIMEOUT_MS + 20_000,
      });
      await sleep(1_000);
      expect(handled).toEqual(["0", "1", "2"]);
      await consumer.stop();
      expect(await committedOffsets(groupId, topic)).toEqual({ 0: "3" });
    },
    CONSUMER_SESSION_TIMEOUT_MS + 40_000,
  );

  it("rejoins when the group went on without it during a slow event, and goes on consuming", async () => {
    const topic = await freshTopic(1);
    const held = orderPlacedEvent();
    await publishEvents(producer, topic, [held]);
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handledBy: { consumer: string; id: string }[] = [];
    // A short rebalance timeout, so the group drops the busy member within the test.
    const rebalanceTimeoutMs = 3_000;
    const { groupId, consumer: first } = await consume(
      topic,
      async (event) => {
        if (event.id === held.headers.ce_id) await released;
        handledBy.push({ consumer: "first", id: event.id });
      },
      { rebalanceTimeoutMs },
    );
    // The first member holds the event; a second joins, the rebalance waits
    // 3 s for the first, then goes on with the second alone, which gets the
    // uncommitted event.
    await vi.waitFor(async () => expect(await groupState(groupId)).toBe("Stable"), WAIT);
    const { consumer: second } = await consume(
      topic,
      async (event) => {
        handledBy.push({ consumer: "second", id: event.id });
      },
      { rebalanceTimeoutMs, joinGroup: groupId },
    );
    await vi.waitFor(() => expect(handledBy).toEqual([{ consumer: "second", id: held.headers.ce_id }]), WAIT);
    // The first finishes; the coordinator refuses its commit. It must rejoin, not stop.
    release();
    await vi.waitFor(
      () => expect(handledBy).toContainEqual({ consumer: "first", id: held.headers.ce_id }),
      WAIT,
    );
    await second.stop();
    const next = orderPlacedEvent();
    await publishEvents(producer, topic, [next]);
    await vi.waitFor(() => expect(handledBy).toContainEqual({ consumer: "first", id: next.headers.ce_id }), {
      timeout: 30_000,
      interval: 100,
    });
    await first.stop();
    expect(await committedOffsets(groupId, topic)).toEqual({ 0: "2" });
  }, 90_000);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function groupState(groupId: string): Promise<string | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    return groups[0]?.state;
  } finally {
    await admin.disconnect();
  }
}

async function endOffsets(topic: string): Promise<number[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.sort((a, b) => a.partition - b.partition).map((p) => Number(p.high));
  } finally {
    await admin.disconnect();
  }
}

describe("a consumer kafkajs gives up for good (real broker)", () => {
  it("says so through onStoppedForGood, so the service does not serve on without consuming", async () => {
    const topic = await freshTopic(1);
    let reportStopped: (error: unknown) => void = () => undefined;
    const stoppedForGood = new Promise<unknown>((resolve) => {
      reportStopped = resolve;
    });
    // The test principal may use test-* groups only (infra/kafka/acl-table.ts):
    // GROUP_AUTHORIZATION_FAILED is not retriable, so kafkajs does not restart.
    await consume(topic, async () => undefined, {
      joinGroup: "orchestrator",
      onStoppedForGood: reportStopped,
    });
    const error = await Promise.race([
      stoppedForGood,
      new Promise((resolve) => setTimeout(() => resolve("not reported"), 15_000)),
    ]);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe("KafkaJSGroupCoordinatorNotFound");

    // The same consumer in a group it may use runs and is not reported.
    const handled: string[] = [];
    const allowed = vi.fn();
    await consume(
      topic,
      async (event) => {
        handled.push(event.id);
      },
      { onStoppedForGood: allowed },
    );
    const event = orderPlacedEvent();
    await publishEvents(producer, topic, [event]);
    await vi.waitFor(() => expect(handled).toEqual([event.headers.ce_id]), WAIT);
    expect(allowed).not.toHaveBeenCalled();
  });
});
