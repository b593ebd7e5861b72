import type { PoolClient } from "../db.ts";

/**
 * Consumer-side deduplication by event id (the "inbox"). A consumer claims an
 * event inside the same transaction as the effects it writes for it, so the
 * claim and the effects commit or roll back together: a redelivered event
 * (Kafka rebalance, retry after a failed commit) finds its claim and is skipped.
 *
 * Each consumer's own migration creates the table, with exactly this shape:
 *
 *   CREATE TABLE inbox (
 *     event_id      text        NOT NULL,
 *     consumer      text        NOT NULL,
 *     processed_at  timestamptz NOT NULL DEFAULT now(),
 *     PRIMARY KEY (event_id, consumer)
 *   );
 *
 * event_id is text, not uuid: ce_id is any non-empty string in CloudEvents,
 * and ids of other kinds (RabbitMQ task ids) fit too. `consumer` lets several
 * handlers in one database (a dispatcher and its workers) keep separate claims.
 */
export async function claimEvent(client: PoolClient, eventId: string, consumer: string): Promise<boolean> {
  if (eventId === "") throw new Error("claimEvent: empty event id");
  // A concurrent claim of the same id waits here on the primary key until the
  // first transaction ends: it then sees the row (false) or, after a rollback, wins.
  // Prepared once per connection: every consumed event and task runs it.
  const result = await client.query({
    name: "inbox-claim",
    text: `INSERT INTO inbox (event_id, consumer) VALUES ($1, $2)
           ON CONFLICT (event_id, consumer) DO NOTHING`,
    values: [eventId, consumer],
  });
  return result.rowCount === 1;
}
