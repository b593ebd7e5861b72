import type { Registry } from "@bufbuild/protobuf";
import {
  type Consumer,
  Kafka,
  logLevel as KafkaJsLevel,
  type KafkaMessage,
  type LogEntry,
  Partitioners,
  type Producer,
} from "kafkajs";
import { createLogger, type Logger } from "../observability/logger.ts";
import { CORRELATION_HEADER, correlationIdFrom, runWithContext } from "../observability/request-context.ts";
import {
  type DecodedEvent,
  decodeEvent,
  dlqTopicFor,
  type EncodedEvent,
  eventRegistry,
  normalizeHeaders,
  PoisonEventError,
} from "./events.ts";

/**
 * The one place that knows kafkajs. kafkajs is no longer maintained upstream,
 * so services use these functions and types only, and a KafkaJS-compatible
 * client can replace it here.
 */

export type KafkaClient = Kafka;
export type EventProducer = Producer;
export type KafkaLogLevel = "silent" | "error" | "warn" | "info" | "debug";

const TO_KAFKAJS: Record<KafkaLogLevel, KafkaJsLevel> = {
  silent: KafkaJsLevel.NOTHING,
  error: KafkaJsLevel.ERROR,
  warn: KafkaJsLevel.WARN,
  info: KafkaJsLevel.INFO,
  debug: KafkaJsLevel.DEBUG,
};

/** "host:9092,host2:9092" (the KAFKA_BROKERS variable) to a broker list. */
export function parseBrokers(list: string): string[] {
  return list
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}

export function createKafka(options: {
  clientId: string;
  brokers: string[];
  /** kafkajs is chatty at info (every join, every connect); warn keeps what matters. */
  logLevel?: KafkaLogLevel;
  logger?: Logger;
}): KafkaClient {
  const logger = (options.logger ?? createLogger(options.clientId)).child({ component: "kafkajs" });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: TO_KAFKAJS[options.logLevel ?? "warn"],
    logCreator: () => (entry: LogEntry) => {
      const { message, timestamp: _t, logger: _l, ...fields } = entry.log;
      const data = { namespace: entry.namespace, ...fields };
      if (entry.level === KafkaJsLevel.ERROR) logger.error(data, message);
      else if (entry.level === KafkaJsLevel.WARN) logger.warn(data, message);
      else if (entry.level === KafkaJsLevel.INFO) logger.info(data, message);
      else logger.debug(data, message);
    },
  });
}

/**
 * Partitions of every event topic. A partition is the unit of parallelism of
 * a consumer group (events of one order share a key, so a partition, and stay
 * in order); with 3, the orchestrator had at most 3 signal-with-starts to
 * Temporal in flight and fell behind at 50 orders/s. Existing topics keep
 * their count: adding partitions would move keys while orders are in flight.
 */
export const EVENT_TOPIC_PARTITIONS = 12;

/** Creates the topics that do not exist yet; returns the ones it created. Safe to run at every start. */
export async function ensureTopics(
  kafka: KafkaClient,
  topics: readonly string[],
  partitions = EVENT_TOPIC_PARTITIONS,
) {
  const admin = kafka.admin();
  await admin.connect();
  const created: string[] = [];
  try {
    // Several services may create the same topics at the same moment; a
    // loser sees "already exists" or, briefly, "does not host this
    // topic-partition". So: create what is missing, then wait until every
    // partition of every topic has a leader, retrying for a while.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t));
        if (missing.length > 0) {
          const made = await admin.createTopics({
            topics: missing.map((topic) => ({ topic, numPartitions: partitions })),
            waitForLeaders: false,
          });
          if (made) created.push(...missing);
        }
        const { topics: described } = await admin.fetchTopicMetadata({ topics: [...topics] });
        const leaderless = described.filter(
          (t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0),
        );
        if (leaderless.length === 0) return created;
        throw new Error(`topics without leaders yet: ${leaderless.map((t) => t.name).join(", ")}`);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/** Deletes topics (tests, tooling); topics that do not exist are ignored. */
export async function deleteTopics(kafka: KafkaClient, topics: readonly string[]) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length > 0) await admin.deleteTopics({ topics: present });
  } finally {
    await admin.disconnect();
  }
}

/**
 * A connected producer with exactly-once writes per partition: a retried send
 * is not written twice, and one request in flight keeps a key's events in
 * order even when a send is retried.
 */
export async function createIdempotentProducer(kafka: KafkaClient): Promise<EventProducer> {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    // Java's murmur2 partitioner, so the JVM tools and other clients agree on key placement.
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  return producer;
}

/** Sends the events in one batch, acknowledged by all in-sync replicas. */
export async function publishEvents(
  producer: EventProducer,
  topic: string,
  events: readonly EncodedEvent[],
): Promise<void> {
  if (events.length === 0) return;
  await producer.send({
    topic,
    acks: -1,
    messages: events.map((e) => ({ key: e.key, value: e.value, headers: e.headers })),
  });
}

/** Where a consumed event came from; client-neutral, so handlers do not see kafkajs types. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | undefined;
  timestamp: string;
  headers: Record<string, string>;
}

/**
 * Handles one event. Resolve only once its effect is durable (the offset is
 * committed next). Throw PoisonEventError for an event that can never be
 * handled (it goes to the DLQ); any other error is taken as transient and the
 * event is delivered again.
 */
export type EventHandler = (event: DecodedEvent, record: ConsumedRecord) => Promise<void>;

export interface EventConsumerOptions {
  kafka: KafkaClient;
  groupId: string;
  topics: readonly string[];
  handle: EventHandler;
  logger: Logger;
  /** Writes poison events to <topic>.dlq; owned by the caller, not disconnected by stop(). */
  dlqProducer: EventProducer;
  registry?: Registry;
  /** Where a group with no committed offset starts; the beginning, so no event is skipped. */
  fromBeginning?: boolean;
  /**
   * Partitions handled at once (default EVENT_TOPIC_PARTITIONS: all of them).
   * Events of one partition, so of one order, are still handled one by one.
   */
  partitionsConcurrently?: number;
}

export interface RunningConsumer {
  /** Stops intake, lets the event in hand finish and commit, leaves the group. */
  stop(): Promise<void>;
}

/** Where a consumed message came from, with its headers as strings. */
export function consumedRecord(topic: string, partition: number, message: KafkaMessage): ConsumedRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString(),
    timestamp: message.timestamp,
    headers: normalizeHeaders(message.headers),
  };
}

export async function runEventConsumer(options: EventConsumerOptions): Promise<RunningConsumer> {
  const { kafka, groupId, handle, logger, dlqProducer, registry = eventRegistry } = options;
  const topics = [...options.topics];
  const consumer: Consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    // The broker holds an idle fetch this long and stop() waits for it (kafkajs default: 5 s).
    maxWaitTimeInMs: 1000,
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    logger.error({ err: payload.error, groupId, restart: payload.restart }, "kafka consumer crashed");
  });

  async function processMessage(topic: string, partition: number, message: KafkaMessage) {
    const record = consumedRecord(topic, partition, message);
    try {
      const event = decodeEvent(registry, message);
      // Log lines of the handler carry the event's correlation and order id (the key).
      await runWithContext(
        {
          correlationId: correlationIdFrom(record.headers[CORRELATION_HEADER], event.traceparent, event.id),
          orderId: record.key,
        },
        () => handle(event, record),
      );
    } catch (error) {
      if (!(error instanceof PoisonEventError)) {
        // Not committed: kafkajs fetches this offset again after its retry backoff.
        logger.warn({ err: error, topic, partition, offset: message.offset }, "event failed, will retry");
        throw error;
      }
      logger.error(
        { topic, partition, offset: message.offset, reason: error.message },
        "poison event, routing it to the dlq",
      );
      await dlqProducer.send({
        topic: dlqTopicFor(topic),
        acks: -1,
        messages: [
          {
            key: message.key,
            value: message.value,
            headers: {
              ...message.headers,
              dlq_reason: error.message,
              dlq_original_topic: topic,
              dlq_original_partition: String(partition),
              dlq_original_offset: message.offset,
              dlq_consumer_group: groupId,
            },
          },
        ],
      });
    }
    // Kafka's committed offset is the next one to read, hence + 1.
    await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
  }

  // The messages in hand (one per partition); stop() waits for them, because
  // kafkajs skips commits once it is stopping.
  const inFlight = new Set<Promise<unknown>>();

  try {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: options.fromBeginning ?? true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? EVENT_TOPIC_PARTITIONS,
      eachMessage: ({ topic, partition, message }) => {
        const work = processMessage(topic, partition, message);
        const settled = work.catch(() => undefined);
        inFlight.add(settled);
        void settled.then(() => inFlight.delete(settled));
        return work;
      },
    });
  } catch (error) {
    await consumer.disconnect();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  async function stop() {
    try {
      consumer.pause(topics.map((topic) => ({ topic })));
    } catch {
      // Not running (crashed and waiting to restart): nothing to pause.
    }
    await Promise.all(inFlight);
    await consumer.disconnect();
  }
  return {
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}
