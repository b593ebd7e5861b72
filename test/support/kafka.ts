import {
  type DecodedEvent,
  decodeEvent,
  type EventDomain,
  eventRegistry,
  topicFor,
} from "#lib/messaging/events.ts";
import {
  type ConsumedRecord,
  consumedRecord,
  createKafka,
  deleteTopics,
  ensureTopics,
  type KafkaClient,
  kafkaAuthFrom,
  parseBrokers,
} from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { shortId } from "./postgres.ts";

/**
 * A Kafka client on the brokers the global setup found (KAFKA_BROKERS), as the
 * test run's principal (KAFKA_USERNAME, "test" by default: ACLs on the sandbox
 * prefixes only, see infra/kafka/acl-table.ts), logging nothing.
 */
export function testKafka(clientId: string): KafkaClient {
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers) throw new Error("KAFKA_BROKERS is not set; the integration globalSetup sets it");
  return createKafka({
    clientId,
    brokers: parseBrokers(brokers),
    auth: kafkaAuthFrom(process.env),
    logger: createLogger(clientId, process.env.TEST_LOG_LEVEL ?? "silent"),
  });
}

/**
 * An ACCORD_TOPIC_PREFIX of a test run's own, always under "test-", the
 * sandbox prefix the tests' Kafka principal may use (infra/kafka/acl-table.ts):
 * "test-1a2b3c4d5e." by default, "test-pact-1a2b3c4d5e." for the tag "pact".
 */
export function newTopicPrefix(tag = "test", id = shortId()): string {
  const name = tag === "test" || tag.startsWith("test-") ? tag : `test-${tag}`;
  return `${name}-${id}.`;
}

/** The event topic of a domain under a prefix, the name the services derive from ACCORD_TOPIC_PREFIX. */
export function prefixedTopic(prefix: string, domain: EventDomain): string {
  return topicFor(domain, { ACCORD_TOPIC_PREFIX: prefix });
}

/** Deletes every topic and consumer group whose name starts with the prefix. */
export async function deletePrefixed(prefix: string): Promise<void> {
  const kafka = testKafka("test-cleanup");
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    // A topic whose deletion is under way is still listed for a moment, and refuses a second one.
    if (topics.length > 0) await deleteTopics(kafka, topics).catch(ignoreUnknownTopic);
    const { groups } = await admin.listGroups();
    const mine = groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    // Empty groups would otherwise linger in __consumer_offsets for the retention period.
    if (mine.length > 0) await admin.deleteGroups(mine).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

/** kafkajs reports it as the cause of its KafkaJSNumberOfRetriesExceeded. */
function ignoreUnknownTopic(error: unknown) {
  const { type, cause } = error as { type?: string; cause?: { type?: string } };
  if ((type ?? cause?.type) !== "UNKNOWN_TOPIC_OR_PARTITION") throw error;
}

/** One event as a test reads it back: decoded with the shared envelope codec, and where it came from. */
export interface PublishedEvent {
  event: DecodedEvent;
  record: ConsumedRecord;
}

/**
 * The events a service published on its prefixed topics, read from the
 * beginning by a consumer group of the test's own (named under the prefix,
 * so deletePrefixed removes it). Records that do not decode are kept apart.
 */
export interface PublishedEvents {
  readonly topics: readonly string[];
  /** Everything read so far, in the order it arrived; only what has this Kafka key when given. Starts reading on the first call. */
  received(key?: string): Promise<PublishedEvent[]>;
  /** Records on the topics that are no valid event (there should be none). */
  undecodable(): { record: ConsumedRecord; reason: string }[];
  stop(): Promise<void>;
}

export function publishedEvents(prefix: string, domains: readonly EventDomain[]): PublishedEvents {
  const topics = domains.map((d) => prefixedTopic(prefix, d));
  const seen: PublishedEvent[] = [];
  const poison: { record: ConsumedRecord; reason: string }[] = [];
  let started: Promise<() => Promise<void>> | undefined;

  async function start(): Promise<() => Promise<void>> {
    if (topics.length === 0) throw new Error("this service publishes no events");
    const kafka = testKafka(`${prefix}events-reader`);
    // The service creates its topics at start, in the background: whoever comes first makes them.
    await ensureTopics(kafka, topics);
    const consumer = kafka.consumer({
      groupId: `${prefix}events-reader-${shortId(6)}`,
      maxWaitTimeInMs: 500,
    });
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const record = consumedRecord(topic, partition, message);
        try {
          seen.push({ event: decodeEvent(eventRegistry, message), record });
        } catch (error) {
          poison.push({ record, reason: (error as Error).message });
        }
      },
    });
    return () => consumer.disconnect();
  }

  return {
    topics,
    async received(key) {
      started ??= start();
      await started;
      return key === undefined ? [...seen] : seen.filter((e) => e.record.key === key);
    },
    undecodable: () => [...poison],
    async stop() {
      if (!started) return;
      const disconnect = await started.catch(() => undefined);
      await disconnect?.();
    },
  };
}
