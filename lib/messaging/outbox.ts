import { afterCommit, type PoolClient } from "../db.ts";
import { traceparentOfSpan } from "../observability/tracing.ts";

/** An event already encoded for Kafka (see lib/events.ts encodeEvent). */
export interface OutboxEvent {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

const committedListeners = new Set<() => void>();
const tellCommitted = () => {
  for (const listener of committedListeners) listener();
};

/**
 * Calls listener whenever a transaction of this process that wrote outbox
 * rows has committed, so the relay publishes them at once instead of at its
 * next poll. Returns the unsubscribe.
 */
export function onOutboxCommitted(listener: () => void): () => void {
  committedListeners.add(listener);
  return () => committedListeners.delete(listener);
}

/**
 * Writes an event into the outbox table on the caller's client, so it commits
 * or rolls back together with the state change that caused it. Every service
 * with an outbox has the same table shape (see services/orders/migrations).
 * The row's headers carry the traceparent of the span that wrote it (the
 * handler's), so the relay's publish continues that trace (ADR 0017).
 */
export async function enqueueOutbox(client: PoolClient, topic: string, event: OutboxEvent): Promise<void> {
  const eventId = event.headers.ce_id;
  const eventType = event.headers.ce_type;
  if (!eventId || !eventType) throw new Error("outbox event needs ce_id and ce_type headers");
  const traceparent = traceparentOfSpan();
  const headers = traceparent ? { ...event.headers, traceparent } : event.headers;
  // Prepared once per connection: every state change of every service writes one of these.
  await client.query({
    name: "outbox-insert",
    text: `INSERT INTO outbox (event_id, topic, message_key, event_type, payload, headers)
           VALUES ($1, $2, $3, $4, $5, $6)`,
    values: [eventId, topic, event.key, eventType, event.value, JSON.stringify(headers)],
  });
  afterCommit(client, tellCommitted);
}
