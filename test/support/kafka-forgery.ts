import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import {
  dlqTopicFor,
  type EncodedEvent,
  EVENT_DOMAINS,
  encodeEvent,
  sourceFor,
  topicFor,
} from "#lib/messaging/events.ts";
import {
  createKafka,
  ensureTopics,
  kafkaErrorCode,
  kafkaPasswordFor,
  parseBrokers,
} from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";

/** What the broker answered a forged publish: ACCEPTED, or the denial code (see kafkaErrorCode). */
export type ForgeryOutcome =
  | "ACCEPTED"
  | "TOPIC_AUTHORIZATION_FAILED"
  | "SASL_AUTHENTICATION_FAILED"
  | "CONNECTION_CLOSED"
  | "CONNECTION_FAILED"
  | "REQUEST_TIMED_OUT"
  | (string & {});

/**
 * A forged OrderPlaced (an order no one placed, a SKU no one stocks; were it
 * accepted, the saga it starts stops at the reservation).
 */
export function forgedOrderPlaced(orderId: string = randomUUID()): EncodedEvent {
  const money = { currencyCode: "EUR", amountMinor: 1n };
  return encodeEvent(
    OrderPlacedSchema,
    create(OrderPlacedSchema, {
      order: {
        orderId,
        customerId: "forger",
        customerEmail: "mallory@example.com",
        status: OrderStatus.PENDING,
        lines: [{ sku: "FORGED-SKU", quantity: 1, unitPrice: money }],
        total: money,
      },
    }),
    { source: sourceFor("orders"), key: orderId },
  );
}

/**
 * Tries to publish a forged event the way an intruder would: a plain kafkajs
 * producer as `username` (no SASL at all when username is undefined). Resolves with what the broker did: "ACCEPTED" when the record was
 * appended (so only aim this at a topic where that is harmless, or where it
 * must not happen), else the denial code: TOPIC_AUTHORIZATION_FAILED (logged
 * in, not allowed), SASL_AUTHENTICATION_FAILED (wrong password or unknown
 * user), CONNECTION_CLOSED / CONNECTION_FAILED (no SASL: the broker hangs up).
 * Brokers default to KAFKA_BROKERS. For attack suites and test/integration/kafka-acl.test.ts.
 */
export async function tryForgedPublish(options: {
  username?: string;
  password?: string;
  topic: string;
  brokers?: string;
  event?: EncodedEvent;
}): Promise<ForgeryOutcome> {
  const { username, password = "", topic } = options;
  const event = options.event ?? forgedOrderPlaced();
  const client = createKafka({
    clientId: `forger-${username ?? "anonymous"}`,
    brokers: parseBrokers(options.brokers ?? process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"),
    auth: username === undefined ? null : { mechanism: "scram-sha-256", username, password },
    logger: createLogger("forger", "silent"),
    logLevel: "silent",
    // A refusal is never retried (kafkajs takes it as final); two retries ride out a topic just created.
    retries: 2,
  });
  // Not idempotent: an idempotent producer would be refused earlier (InitProducerId), hiding the topic's answer.
  const producer = client.producer({ allowAutoTopicCreation: false });
  try {
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: [{ key: event.key, value: event.value, headers: event.headers }],
    });
    return "ACCEPTED";
  } catch (error) {
    return kafkaErrorCode(error) ?? `UNEXPECTED: ${(error as Error).message}`;
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

/**
 * Creates the production topics (and their DLQs) as `npm run migrate` does,
 * as the migrate principal. A forged publish to a topic the principal may
 * describe but that does not exist yet is answered UNKNOWN_TOPIC_OR_PARTITION
 * (a fresh broker, before any `npm start`), which would hide the ACL's answer.
 */
export async function ensureProductionTopics(brokers?: string): Promise<void> {
  const migrate = createKafka({
    clientId: "forgery-topics-migrate",
    brokers: parseBrokers(brokers ?? process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"),
    auth: { mechanism: "scram-sha-256", username: "migrate", password: kafkaPasswordFor("migrate") },
    logger: createLogger("forgery-topics", "silent"),
    logLevel: "error",
    // A fresh broker creates __consumer_offsets on first use: worth a retry.
    retries: 3,
  });
  const topics = EVENT_DOMAINS.flatMap((domain) => [topicFor(domain, {}), dlqTopicFor(topicFor(domain, {}))]);
  await ensureTopics(migrate, topics);
}
