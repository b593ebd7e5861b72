import { fromBinary, type JsonValue, toJson } from "@bufbuild/protobuf";
import type pg from "pg";
import { eventRegistry } from "#lib/messaging/events.ts";

// A provider verification runs the real service on the fixture of every
// process-level test (service-under-test.ts): its own database and topic
// prefix, so the events its outbox relay publishes never reach a running
// platform. What is Pact's alone is here: the outbox rows its real code wrote,
// turned into the JSON a message pact describes.

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
