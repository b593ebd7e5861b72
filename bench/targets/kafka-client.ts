import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Message } from "@platformatic/kafka";
import type { EachBatchPayload, EachMessagePayload } from "kafkajs";
import { OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import {
  decodeEvent,
  type EncodedEvent,
  encodeEvent,
  eventRegistry,
  type RawHeaders,
  sourceFor,
} from "#lib/messaging/events.ts";
import { openLoop } from "../lib/open-loop.ts";
import { ROOT } from "../lib/procs.ts";
import { sampleOrderPlaced } from "../lib/sample-order.ts";
import type { LatencySummary } from "../lib/stats.ts";

/**
 * One round of the Kafka client bench (bench/scenarios/kafka-client.ts) for
 * one client, in a process of its own so process.cpuUsage() and the RSS are
 * that client's alone. Only the chosen client is imported. Both get the
 * settings lib/messaging/kafka.ts gives kafkajs: idempotent producer, one
 * request in flight, acks from all in-sync replicas, the Java (murmur2)
 * partitioner, no topic auto-creation; a group consumer from the beginning,
 * no auto-commit, 1 s fetch wait. kafkajs is built here directly rather than
 * through createKafka, which would load the logger and tracing modules into
 * one child and not the other.
 *
 * Phases: (1) produce EVENTS pre-encoded OrderPlaced events in batches of
 * BATCH (the outbox relay's batch), one send at a time, as the relay does;
 * (2) consume them in a fresh group, decode and validate each (decodeEvent:
 * the envelope check and protobuf decode every consumer does), commit the
 * next offset of each partition after each batch; (2b) read the first
 * EACH_EVENTS again in a second group, committing after every message as
 * lib/messaging's runEventConsumer does; (3) send single events
 * open loop at RATE/s for LATENCY_SECONDS, ack latency from the scheduled
 * send. Prints one JSON line (KafkaClientRoundOutput).
 */

export type KafkaClientName = "kafkajs" | "platformatic";

export interface KafkaClientRoundOutput {
  client: KafkaClientName;
  clientVersion: string;
  events: number;
  batchSize: number;
  produce: { wallMs: number; cpuMs: number; perSec: number };
  consume: {
    /** From creating the consumer to its first message: connect, group join, first fetch. */
    joinMs: number;
    /** From the first message to the last batch's commit answered. */
    wallMs: number;
    /** From creating the consumer to the last commit (the join included). */
    cpuMs: number;
    perSec: number;
    batches: number;
    received: number;
    /** Distinct ce_id values seen: a redelivery shows up as received > distinct. */
    distinctIds: number;
  };
  openLoop: {
    rate: number;
    seconds: number;
    sent: number;
    ok: number;
    errors: number;
    firstError?: string;
    ackLatency: LatencySummary;
    sendLag: LatencySummary;
    cpuMs: number;
  };
  /** A second group over the first events, an offset commit after every message (lib/messaging's runEventConsumer). */
  consumeEachMessage: {
    joinMs: number;
    wallMs: number;
    /** From creating the consumer to the last commit (the join included). */
    cpuMs: number;
    handled: number;
    commits: number;
    perSec: number;
  };
  /** CPU of decodeEvent alone over the same events, no client: the part of consume that is not the client. */
  decodeOnlyCpuMs: number;
  rssMb: { baseline: number; peak: number; end: number };
}

/** What every client adapter offers this bench: the same three operations. */
interface ClientUnderTest {
  version: string;
  /** Connects, initialises the idempotent producer and loads the topic's metadata (one event sent). */
  startProducer(warmUp: EncodedEvent): Promise<void>;
  send(events: readonly EncodedEvent[]): Promise<void>;
  stopProducer(): Promise<void>;
  /**
   * Joins the group, hands every message to handle, commits after each batch
   * (or after each message, as lib/messaging's runEventConsumer does);
   * resolves once `total` messages were handled and their offsets committed.
   * Returns the number of commits and when the first message came.
   */
  consumeAll(
    groupId: string,
    total: number,
    handle: (value: Buffer | null, headers: RawHeaders) => void,
    commitAfter: "batch" | "message",
  ): Promise<{ batches: number; firstAt: number }>;
}

const env = process.env;
const client = (env.KAFKA_CLIENT ?? "") as KafkaClientName;
const topic = env.KAFKA_CLIENT_TOPIC ?? "";
const groupId = env.KAFKA_CLIENT_GROUP ?? "";
const eventCount = Number(env.KAFKA_CLIENT_EVENTS ?? 20_000);
const batchSize = Number(env.KAFKA_CLIENT_BATCH ?? 200);
const rate = Number(env.KAFKA_CLIENT_RATE ?? 200);
const latencySeconds = Number(env.KAFKA_CLIENT_LATENCY_SECONDS ?? 20);
const eachMessageCount = Number(env.KAFKA_CLIENT_EACH_EVENTS ?? 1_500);
const brokers = (env.KAFKA_BROKERS ?? "127.0.0.1:9092")
  .split(",")
  .map((b) => b.trim())
  .filter(Boolean);
const username = env.KAFKA_USERNAME ?? "";
const password = env.KAFKA_PASSWORD ?? "";
if (!["kafkajs", "platformatic"].includes(client) || !topic || !groupId || !username || !password) {
  throw new Error(
    "kafka-client target: KAFKA_CLIENT (kafkajs|platformatic), KAFKA_CLIENT_TOPIC, KAFKA_CLIENT_GROUP, KAFKA_USERNAME and KAFKA_PASSWORD are required",
  );
}
for (const b of brokers) {
  const host = b.slice(0, b.lastIndexOf(":"));
  // Loopback only: the bench never talks to another machine.
  if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== "localhost" && host !== "[::1]") {
    throw new Error(`kafka-client target: broker ${b} is not a loopback address`);
  }
}

/** The version in node_modules (the package's exports hide its package.json from require). */
function installedVersion(name: string): string {
  const file = path.join(ROOT, "node_modules", name, "package.json");
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

const rssMb = () => Math.round((process.memoryUsage.rss() / 2 ** 20) * 10) / 10;
const cpuMsSince = (start: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

/** A realistic OrderPlaced (three lines, address, timestamps) with its CloudEvents headers and a traceparent. */
function orderPlaced(i: number): EncodedEvent {
  const orderId = randomUUID();
  const message = sampleOrderPlaced({
    orderId,
    customerId: `customer-${i % 997}`,
    customerEmail: `customer-${i % 997}@example.com`,
  });
  const traceparent = `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
  return encodeEvent(OrderPlacedSchema, message, { source: sourceFor("orders"), key: orderId, traceparent });
}

async function kafkajsClient(): Promise<ClientUnderTest> {
  const { Kafka, logLevel, Partitioners } = await import("kafkajs");
  const version = installedVersion("kafkajs");
  const kafka = new Kafka({
    clientId: `bench-kafka-client-${client}`,
    brokers,
    sasl: { mechanism: "scram-sha-256", username, password },
    logLevel: logLevel.WARN,
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  const send = async (events: readonly EncodedEvent[]) => {
    await producer.send({
      topic,
      acks: -1,
      messages: events.map((e) => ({ key: e.key, value: e.value, headers: e.headers })),
    });
  };
  return {
    version,
    async startProducer(warmUp) {
      await producer.connect();
      await send([warmUp]);
    },
    send,
    stopProducer: () => producer.disconnect(),
    async consumeAll(group, total, handle, commitAfter) {
      const consumer = kafka.consumer({
        groupId: group,
        allowAutoTopicCreation: false,
        maxWaitTimeInMs: 1000,
      });
      let handled = 0;
      let batches = 0;
      let firstAt = 0;
      let finish: () => void = () => {};
      let fail: (error: unknown) => void = () => {};
      const done = new Promise<void>((resolve, reject) => {
        finish = resolve;
        fail = reject;
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => fail(payload.error));
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const commitEach = async ({ topic: t, partition, message }: EachMessagePayload) => {
        firstAt ||= performance.now();
        handle(message.value, message.headers as RawHeaders);
        await consumer.commitOffsets([
          { topic: t, partition, offset: (BigInt(message.offset) + 1n).toString() },
        ]);
        batches += 1;
        handled += 1;
        if (handled >= total) finish();
      };
      const commitBatch = async ({ batch, resolveOffset }: EachBatchPayload) => {
        if (batch.messages.length === 0) return;
        firstAt ||= performance.now();
        for (const message of batch.messages) {
          handle(message.value, message.headers as RawHeaders);
          resolveOffset(message.offset);
        }
        const last = batch.messages.at(-1)?.offset ?? batch.lastOffset();
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
        ]);
        batches += 1;
        handled += batch.messages.length;
        if (handled >= total) finish();
      };
      await consumer.run({
        autoCommit: false,
        // lib/messaging's consumers take all of a topic's partitions at once.
        partitionsConsumedConcurrently: 12,
        ...(commitAfter === "message"
          ? { eachMessage: commitEach }
          : { eachBatchAutoResolve: false, eachBatch: commitBatch }),
      });
      try {
        await done;
      } finally {
        await consumer.disconnect();
      }
      return { batches, firstAt };
    },
  };
}

async function platformaticClient(): Promise<ClientUnderTest> {
  const kafka = await import("@platformatic/kafka");
  const { Consumer, Producer, ProduceAcks, compatibilityPartitioner, stringDeserializer, stringSerializer } =
    kafka;
  const common = {
    clientId: `bench-kafka-client-${client}`,
    bootstrapBrokers: brokers,
    sasl: { mechanism: "SCRAM-SHA-256" as const, username, password },
  };
  const producer = new Producer<string, Buffer, string, string>({
    ...common,
    idempotent: true,
    acks: ProduceAcks.ALL,
    // kafkajs's DefaultPartitioner is Java's (murmur2 & 0x7fffffff); this
    // library's default (murmur2 >>> 0) would put many keys elsewhere.
    partitioner: compatibilityPartitioner,
    autocreateTopics: false,
    serializers: { key: stringSerializer, headerKey: stringSerializer, headerValue: stringSerializer },
  });
  const send = async (events: readonly EncodedEvent[]) => {
    await producer.send({
      messages: events.map((e) => ({ topic, key: e.key, value: e.value, headers: e.headers })),
    });
  };
  return {
    version: installedVersion("@platformatic/kafka"),
    async startProducer(warmUp) {
      await send([warmUp]);
    },
    send,
    stopProducer: () => producer.close(),
    async consumeAll(group, total, handle, commitAfter) {
      const consumer = new Consumer<string, Buffer, string, string>({
        ...common,
        groupId: group,
        autocommit: false,
        maxWaitTime: 1000,
        deserializers: {
          key: stringDeserializer,
          headerKey: stringDeserializer,
          headerValue: stringDeserializer,
        },
      });
      let handled = 0;
      let batches = 0;
      let firstAt = 0;
      try {
        const stream = await consumer.consume({
          topics: [topic],
          mode: "committed",
          fallbackMode: "earliest",
          autocommit: false,
        });
        // The stream hands messages over one by one, a fetch's records
        // partition after partition. kafkajs's eachBatch is one partition's
        // part of a fetch, so a batch ends here where the next message is of
        // another partition, or nothing more is buffered: commit then.
        let pending: Message<string, Buffer, string, string> | undefined;
        const commitPending = async () => {
          if (!pending) return;
          await pending.commit();
          pending = undefined;
          batches += 1;
        };
        for await (const message of stream) {
          if (pending && pending.partition !== message.partition) await commitPending();
          firstAt ||= performance.now();
          handle(message.value, Object.fromEntries(message.headers));
          pending = message;
          handled += 1;
          if (commitAfter === "message" || stream.readableLength === 0 || handled >= total)
            await commitPending();
          if (handled >= total) break;
        }
        await stream.close();
      } finally {
        await consumer.close(true);
      }
      return { batches, firstAt };
    },
  };
}

async function main(): Promise<KafkaClientRoundOutput> {
  const events = Array.from({ length: eventCount }, (_, i) => orderPlaced(i));
  const warmUp = orderPlaced(eventCount);
  const singles = Array.from({ length: Math.round(rate * latencySeconds) }, (_, i) =>
    orderPlaced(eventCount + 1 + i),
  );
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMb());
  }, 50);
  sampler.unref();
  globalThis.gc?.();
  const baseline = rssMb();

  const kafka = client === "kafkajs" ? await kafkajsClient() : await platformaticClient();
  await kafka.startProducer(warmUp);

  // (1) produce in the relay's batches, one send at a time.
  let cpu = process.cpuUsage();
  let t0 = performance.now();
  for (let i = 0; i < events.length; i += batchSize) await kafka.send(events.slice(i, i + batchSize));
  const produceWall = performance.now() - t0;
  const produceCpu = cpuMsSince(cpu);

  // (2) consume everything on the topic (the warm-up event too) in a fresh group.
  const total = events.length + 1;
  const ids = new Set<string>();
  let received = 0;
  cpu = process.cpuUsage();
  t0 = performance.now();
  const { batches, firstAt } = await kafka.consumeAll(
    groupId,
    total,
    (value, headers) => {
      const event = decodeEvent(eventRegistry, { value, headers });
      if (event.type !== OrderPlacedSchema.typeName) throw new Error(`unexpected event ${event.type}`);
      ids.add(event.id);
      received += 1;
    },
    "batch",
  );
  const consumeEnd = performance.now();
  const consumeCpu = cpuMsSince(cpu);
  if (received < total) throw new Error(`consumed ${received} of ${total} events`);

  // (2b) the first events again in a second group, committing after every message as the platform's consumers do.
  let eachHandled = 0;
  cpu = process.cpuUsage();
  const eachStart = performance.now();
  const each = await kafka.consumeAll(
    `${groupId}-each`,
    eachMessageCount,
    (value, headers) => {
      decodeEvent(eventRegistry, { value, headers });
      eachHandled += 1;
    },
    "message",
  );
  const eachEnd = performance.now();
  const eachCpu = cpuMsSince(cpu);

  // (3) single events at a fixed offered rate: the produce-ack latency a trickle of orders sees.
  cpu = process.cpuUsage();
  const loop = await openLoop({
    rate,
    durationMs: latencySeconds * 1000,
    send: async (i) => {
      const event = singles[i];
      if (event) await kafka.send([event]);
    },
  });
  const loopCpu = cpuMsSince(cpu);
  await kafka.stopProducer();

  // The consumer's decoding alone, no client, same events: what part of consume is not the client's.
  const raw = events.map((e) => ({ value: e.value, headers: e.headers }));
  cpu = process.cpuUsage();
  for (const r of raw) decodeEvent(eventRegistry, r);
  const decodeOnlyCpuMs = cpuMsSince(cpu);

  clearInterval(sampler);
  const end = rssMb();
  const consumeWall = consumeEnd - firstAt;
  return {
    client,
    clientVersion: kafka.version,
    events: events.length,
    batchSize,
    produce: { wallMs: produceWall, cpuMs: produceCpu, perSec: (events.length / produceWall) * 1000 },
    consume: {
      joinMs: firstAt - t0,
      wallMs: consumeWall,
      cpuMs: consumeCpu,
      perSec: (total / consumeWall) * 1000,
      batches,
      received,
      distinctIds: ids.size,
    },
    openLoop: {
      rate,
      seconds: latencySeconds,
      sent: loop.sent,
      ok: loop.ok,
      errors: loop.errors,
      ...(loop.firstError ? { firstError: loop.firstError } : {}),
      ackLatency: loop.latency,
      sendLag: loop.sendLag,
      cpuMs: loopCpu,
    },
    consumeEachMessage: {
      joinMs: each.firstAt - eachStart,
      wallMs: eachEnd - each.firstAt,
      cpuMs: eachCpu,
      handled: eachHandled,
      commits: each.batches,
      perSec: (eachHandled / (eachEnd - each.firstAt)) * 1000,
    },
    decodeOnlyCpuMs,
    rssMb: { baseline, peak: Math.max(peak, end), end },
  };
}

main().then(
  (out) => {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(
      `kafka-client target (${client}) failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
