import { randomUUID } from "node:crypto";
import { fromBinary, type JsonValue, toJson } from "@bufbuild/protobuf";
import pg from "pg";
import { eventRegistry } from "#lib/messaging/events.ts";
import { createKafka, deleteTopics, parseBrokers } from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";

/**
 * What a provider verification needs around the real service: its own
 * database, its own Kafka topic prefix (so the events its outbox relay
 * publishes never reach a running platform), and the outbox rows its real
 * code wrote, turned into the JSON a message pact describes.
 */
export interface ProviderSandbox {
  id: string;
  /** ACCORD_TOPIC_PREFIX for the service processes. */
  topicPrefix: string;
  databaseName(service: string): string;
  /** A pool on one of the sandbox's databases (created by the service itself at start). */
  pool(database: string): pg.Pool;
  cleanup(): Promise<void>;
}

export function providerSandbox(): ProviderSandbox {
  const id = randomUUID().replaceAll("-", "").slice(0, 10);
  const topicPrefix = `pact-${id}.`;
  const databases: string[] = [];
  const pools: pg.Pool[] = [];
  return {
    id,
    topicPrefix,
    databaseName(service) {
      const name = `accord_${service}_pact_${id}`;
      databases.push(name);
      return name;
    },
    pool(database) {
      const pool = new pg.Pool({ ...pgSettings(), database, max: 2 });
      pools.push(pool);
      return pool;
    },
    async cleanup() {
      await Promise.all(pools.map((p) => p.end().catch(() => {})));
      const admin = new pg.Client({ ...pgSettings(), database: "postgres" });
      await admin.connect();
      try {
        for (const db of databases) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
      await deleteSandboxTopics(topicPrefix);
    },
  };
}

function pgSettings() {
  return {
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT),
    user: process.env.PGUSER,
    password: process.env.PGPASSWORD,
  };
}

async function deleteSandboxTopics(prefix: string) {
  const kafka = createKafka({
    clientId: "pact-cleanup",
    brokers: parseBrokers(process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"),
    logger: createLogger("pact-cleanup", "silent"),
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (mine.length > 0) await deleteTopics(kafka, mine);
  } finally {
    await admin.disconnect();
  }
}

/** A message as the verifier wants it: the content plus the metadata the pact pins. */
export interface PactMessage {
  __pactMessageMetadata: Record<string, string>;
  message: JsonValue;
}

/**
 * The newest outbox row of an event type for a key, decoded from the bytes
 * the service wrote (fromBinary) and rendered in the protobuf JSON mapping:
 * the message pact is checked against what the real code put on its way to
 * Kafka. Metadata: ce_type from the row's CloudEvents headers, and the topic
 * without the sandbox prefix (the name the platform uses).
 */
export async function outboxMessage(
  pool: pg.Pool,
  eventType: string,
  key: string,
  topicPrefix: string,
): Promise<PactMessage> {
  const { rows } = await pool.query<{ topic: string; payload: Buffer; headers: Record<string, string> }>(
    `SELECT topic, payload, headers FROM outbox
      WHERE event_type = $1 AND message_key = $2
      ORDER BY id DESC LIMIT 1`,
    [eventType, key],
  );
  const row = rows[0];
  if (!row) throw new Error(`no ${eventType} in the outbox for key ${key}`);
  const schema = eventRegistry.getMessage(eventType);
  if (!schema) throw new Error(`${eventType} is not a known event`);
  const message = toJson(schema, fromBinary(schema, row.payload));
  const topic = row.topic.startsWith(topicPrefix) ? row.topic.slice(topicPrefix.length) : row.topic;
  return { __pactMessageMetadata: { ce_type: row.headers.ce_type ?? "", topic }, message };
}
