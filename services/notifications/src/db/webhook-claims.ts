import type { Pool } from "#lib/db.ts";
import { inTransaction } from "#lib/db.ts";
import { claimEvent } from "#lib/messaging/inbox.ts";
import type { SubscriberRole } from "../domain/entitlement.ts";
import { isSealed, type SecretBox } from "../domain/secret-box.ts";
import { type DeliveryKey, markDelivered } from "./notifications-repo.ts";

/**
 * A webhook delivery in three short transactions, none open during the
 * POST: claim (a lease on the delivery row, under the subscription's
 * in-flight cap), then the POST, then completion (inbox claim and DELIVERED
 * together) or the failure record (notifications-repo recordFailure). The
 * inbox keeps "marked delivered once"; the lease keeps two copies of a task
 * from posting at the same time, and a crashed worker's lease runs out.
 */

export interface WebhookEndpoint {
  url: string;
  /** The current secret, then the previous one while its overlap window lasts. */
  secrets: string[];
  eventTypes: string[];
  ownerRole: SubscriberRole | null;
}

export type WebhookClaim =
  | { kind: "claimed"; endpoint: WebhookEndpoint }
  /** Delivered already (by this copy's twin). */
  | { kind: "duplicate" }
  /** Another copy holds the lease right now. */
  | { kind: "in flight" }
  /** The subscription has as many deliveries in flight as it may. */
  | { kind: "capped"; inFlight: number }
  /** The subscription was deleted. */
  | { kind: "gone" };

interface EndpointRow {
  url: string;
  signing_secret: string | null;
  signing_secret_sealed: string | null;
  previous_secret_sealed: string | null;
  previous_live: boolean | null;
  event_types: string[];
  owner_role: SubscriberRole | null;
}

export async function claimWebhookDelivery(
  pool: Pool,
  key: DeliveryKey & { subscriptionId: string },
  consumer: string,
  attempt: number,
  options: { leaseMs: number; maxInFlight: number; box: SecretBox },
): Promise<WebhookClaim> {
  return inTransaction(pool, async (client) => {
    const done = await client.query({
      name: "webhook-claim-inbox",
      text: "SELECT 1 FROM inbox WHERE event_id = $1 AND consumer = $2",
      values: [key.deliveryId, consumer],
    });
    if (done.rowCount) return { kind: "duplicate" };
    // The subscription row lock serializes the claims of one subscription, so the in-flight count holds.
    const { rows } = await client.query<EndpointRow>({
      name: "webhook-claim-endpoint",
      text: `SELECT url, signing_secret, signing_secret_sealed, previous_secret_sealed,
                    previous_secret_expires_at > now() AS previous_live, event_types, owner_role
             FROM webhook_subscriptions WHERE subscription_id = $1 FOR UPDATE`,
      values: [key.subscriptionId],
    });
    const row = rows[0];
    if (!row) return { kind: "gone" };
    // The dispatcher may not have committed the row yet: this waits for it, or creates it.
    await client.query({
      name: "webhook-claim-ensure-row",
      text: `INSERT INTO deliveries (delivery_id, event_id, event_type, order_id, channel, subscription_id, status)
             VALUES ($1, $2, $3, $4, 'webhook', $5, 'PENDING') ON CONFLICT (delivery_id) DO NOTHING`,
      values: [key.deliveryId, key.eventId, key.eventType, key.orderId, key.subscriptionId],
    });
    const { rows: deliveries } = await client.query<{ status: string; leased: boolean | null }>({
      name: "webhook-claim-delivery",
      text: "SELECT status, lease_until > now() AS leased FROM deliveries WHERE delivery_id = $1 FOR UPDATE",
      values: [key.deliveryId],
    });
    const delivery = deliveries[0];
    if (delivery?.status === "DELIVERED") return { kind: "duplicate" };
    if (delivery?.leased) return { kind: "in flight" };
    const { rows: counted } = await client.query<{ n: number }>({
      name: "webhook-claim-count",
      text: "SELECT count(*)::int AS n FROM deliveries WHERE subscription_id = $1 AND lease_until > now()",
      values: [key.subscriptionId],
    });
    const inFlight = counted[0]?.n ?? 0;
    if (inFlight >= options.maxInFlight) return { kind: "capped", inFlight };
    await client.query({
      name: "webhook-claim-lease",
      text: `UPDATE deliveries SET lease_until = now() + make_interval(secs => $2::double precision / 1000),
                    attempts = GREATEST(attempts, $3), updated_at = now()
             WHERE delivery_id = $1`,
      values: [key.deliveryId, options.leaseMs, attempt],
    });
    const { box } = options;
    let current: string;
    if (row.signing_secret_sealed) {
      current = box.open(row.signing_secret_sealed, key.subscriptionId);
    } else {
      // A row written in plaintext after the start-up sweep (an older replica): sealed now, at first use.
      current = row.signing_secret ?? "";
      if (!isSealed(current)) {
        await client.query(
          "UPDATE webhook_subscriptions SET signing_secret_sealed = $2, signing_secret = NULL WHERE subscription_id = $1",
          [key.subscriptionId, box.seal(current, key.subscriptionId)],
        );
      }
    }
    const secrets = [current];
    if (row.previous_secret_sealed && row.previous_live) {
      secrets.push(box.open(row.previous_secret_sealed, key.subscriptionId));
    }
    return {
      kind: "claimed",
      endpoint: { url: row.url, secrets, eventTypes: row.event_types, ownerRole: row.owner_role },
    };
  });
}

/** Records the POST's success: the inbox claim and DELIVERED (which ends the lease) in one transaction. */
export async function completeWebhookDelivery(
  pool: Pool,
  key: DeliveryKey,
  consumer: string,
  attempt: number,
): Promise<void> {
  await inTransaction(pool, async (client) => {
    await claimEvent(client, key.deliveryId, consumer);
    await markDelivered(client, key, attempt);
  });
}
