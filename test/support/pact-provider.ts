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

// ---------------------------------------------------------------- first outcomes with known ids

/**
 * The tables whose ids a replay interaction pins. A replay must answer the
 * id of the FIRST outcome, and Pact's verifier compares a response with its
 * example (it fills provider-state values into requests, not into expected
 * responses), so the provider state makes the first outcome through the real
 * RPC and then gives it the id the pact names.
 */
const PINNABLE = {
  payments: { id: "payment_id", key: "idempotency_key" },
  shipments: { id: "shipment_id", key: "idempotency_key" },
} as const;

/** The order of a row that already holds the pinned id (the same interaction verified twice), if any. */
export async function orderHolding(
  pool: pg.Pool,
  table: keyof typeof PINNABLE | "reservations",
  id: string,
): Promise<string | undefined> {
  const column = table === "reservations" ? "reservation_id" : PINNABLE[table].id;
  const { rows } = await pool.query<{ order_id: string }>(
    `SELECT order_id FROM ${table} WHERE ${column} = $1`,
    [id],
  );
  return rows[0]?.order_id;
}

/**
 * Gives the row the real RPC created under an idempotency key the id the pact
 * names. Only for rows nothing references yet (payments before any refund,
 * shipments).
 */
export async function pinId(
  pool: pg.Pool,
  table: keyof typeof PINNABLE,
  idempotencyKey: string,
  id: string,
): Promise<void> {
  const { id: idColumn, key } = PINNABLE[table];
  const res = await pool.query(`UPDATE ${table} SET ${idColumn} = $1 WHERE ${key} = $2`, [
    id,
    idempotencyKey,
  ]);
  if (res.rowCount !== 1) throw new Error(`provider state: no ${table} row under key ${idempotencyKey}`);
}

/**
 * The same for a reservation, whose items reference it: the header is
 * re-inserted under the pinned id with its items, in one transaction.
 */
export async function pinReservationId(pool: pg.Pool, idempotencyKey: string, id: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const header = await client.query<{ reservation_id: string }>(
      "SELECT reservation_id FROM reservations WHERE idempotency_key = $1 FOR UPDATE",
      [idempotencyKey],
    );
    const old = header.rows[0]?.reservation_id;
    if (!old) throw new Error(`provider state: no reservation under key ${idempotencyKey}`);
    const items = await client.query<{ sku: string; quantity: number }>(
      "SELECT sku, quantity FROM reservation_items WHERE reservation_id = $1",
      [old],
    );
    const row = await client.query(
      "DELETE FROM reservations WHERE reservation_id = $1 RETURNING order_id, idempotency_key, request_hash, status, release_key, release_reason, created_at, released_at",
      [old],
    );
    const r = row.rows[0] as Record<string, unknown>;
    await client.query(
      `INSERT INTO reservations (reservation_id, order_id, idempotency_key, request_hash, status,
                                 release_key, release_reason, created_at, released_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        id,
        r.order_id,
        r.idempotency_key,
        r.request_hash,
        r.status,
        r.release_key,
        r.release_reason,
        r.created_at,
        r.released_at,
      ],
    );
    for (const item of items.rows) {
      await client.query(
        "INSERT INTO reservation_items (reservation_id, sku, quantity) VALUES ($1, $2, $3)",
        [id, item.sku, item.quantity],
      );
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  } finally {
    client.release();
  }
}
