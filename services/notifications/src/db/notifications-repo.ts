import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  Channel,
  type Delivery,
  DeliverySchema,
  DeliveryStatus,
  type WebhookSubscription,
  WebhookSubscriptionSchema,
} from "#gen/accord/notifications/v1/notifications_pb.js";
import type { AnalyticsTask } from "#gen/accord/notifications/v1/tasks_pb.js";
import type { OwnerScope } from "#lib/auth/principal.ts";
import { inTransaction, type Pool, type PoolClient } from "#lib/db.ts";
import { deliverableEventTypes, type SubscriberRole } from "../domain/entitlement.ts";
import type { DispatchPlan, SubscriptionTarget, TaskChannel } from "../domain/routing.ts";
import type { SecretBox } from "../domain/secret-box.ts";

type Queryable = Pool | PoolClient;

// ---------------------------------------------------------------- subscriptions

interface SubscriptionRow {
  subscription_id: string;
  url: string;
  event_types: string[];
  created_at: Date;
  owner_id: string | null;
}

const SUBSCRIPTION_COLUMNS = "subscription_id, url, event_types, created_at, owner_id";

function toSubscription(row: SubscriptionRow): WebhookSubscription {
  return create(WebhookSubscriptionSchema, {
    subscriptionId: row.subscription_id,
    url: row.url,
    eventTypes: row.event_types,
    createdAt: timestampFromDate(row.created_at),
    ownerId: row.owner_id ?? "",
  });
}

/** Who a subscription belongs to: the creating user's id and what they created it as. */
export interface SubscriptionOwner {
  ownerId: string;
  role: SubscriberRole;
}

/**
 * Inserts a subscription unless its owner already has `limit`: the owner's
 * inserts are serialized (transaction-scoped advisory lock on the owner), so
 * concurrent creates cannot pass the count together. The secret arrives sealed.
 */
export async function insertSubscriptionWithinLimit(
  pool: Pool,
  s: {
    subscriptionId: string;
    url: string;
    eventTypes: string[];
    signingSecretSealed: string;
    owner: SubscriptionOwner;
  },
  limit: number,
): Promise<WebhookSubscription | "limit reached"> {
  return inTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`webhook-owner:${s.owner.ownerId}`]);
    const { rows: counted } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM webhook_subscriptions WHERE owner_id = $1",
      [s.owner.ownerId],
    );
    if ((counted[0]?.n ?? 0) >= limit) return "limit reached";
    const { rows } = await client.query<SubscriptionRow>(
      `INSERT INTO webhook_subscriptions
         (subscription_id, url, event_types, signing_secret_sealed, owner_id, owner_role)
       VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING ${SUBSCRIPTION_COLUMNS}`,
      [s.subscriptionId, s.url, s.eventTypes, s.signingSecretSealed, s.owner.ownerId, s.owner.role],
    );
    return toSubscription(rows[0] as SubscriptionRow);
  });
}

/**
 * Replaces a subscription's secret in scope, keeping the current one as the
 * previous secret until now + overlapSeconds (an earlier previous one is
 * dropped). seal is given the subscription id. False when not found in scope.
 */
export async function rotateSubscriptionSecret(
  pool: Pool,
  subscriptionId: string,
  scope: OwnerScope,
  box: SecretBox,
  newSecret: string,
  overlapSeconds: number,
): Promise<{ previousExpiresAt: Date } | undefined> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<{
      signing_secret: string | null;
      signing_secret_sealed: string | null;
    }>(
      scope.all
        ? "SELECT signing_secret, signing_secret_sealed FROM webhook_subscriptions WHERE subscription_id = $1 FOR UPDATE"
        : `SELECT signing_secret, signing_secret_sealed FROM webhook_subscriptions
           WHERE subscription_id = $1 AND owner_id = $2 FOR UPDATE`,
      scope.all ? [subscriptionId] : [subscriptionId, scope.ownerId],
    );
    const row = rows[0];
    if (!row) return undefined;
    const current = row.signing_secret_sealed ?? box.seal(row.signing_secret ?? "", subscriptionId);
    const { rows: updated } = await client.query<{ previous_secret_expires_at: Date }>(
      `UPDATE webhook_subscriptions
         SET signing_secret = NULL, signing_secret_sealed = $2, previous_secret_sealed = $3,
             previous_secret_expires_at = now() + make_interval(secs => $4)
       WHERE subscription_id = $1
       RETURNING previous_secret_expires_at`,
      [subscriptionId, box.seal(newSecret, subscriptionId), current, overlapSeconds],
    );
    return {
      previousExpiresAt: (updated[0] as { previous_secret_expires_at: Date }).previous_secret_expires_at,
    };
  });
}

/**
 * Seals every plaintext secret left from before encryption and clears the
 * plaintext, in batches; run at start before serving. Returns how many.
 */
export async function sealPlaintextSecrets(pool: Pool, box: SecretBox): Promise<number> {
  let sealed = 0;
  for (;;) {
    const n = await inTransaction(pool, async (client) => {
      const { rows } = await client.query<{ subscription_id: string; signing_secret: string }>(
        `SELECT subscription_id, signing_secret FROM webhook_subscriptions
         WHERE signing_secret IS NOT NULL LIMIT 100 FOR UPDATE SKIP LOCKED`,
      );
      for (const r of rows) {
        await client.query(
          `UPDATE webhook_subscriptions SET signing_secret_sealed = COALESCE(signing_secret_sealed, $2),
             signing_secret = NULL WHERE subscription_id = $1`,
          [r.subscription_id, box.seal(r.signing_secret, r.subscription_id)],
        );
      }
      return rows.length;
    });
    sealed += n;
    if (n === 0) return sealed;
  }
}

/**
 * The subscriptions in scope, oldest first: an owner's own, or every one
 * (ownerless ones included) for ops. The signing secret is never selected here.
 */
export async function listSubscriptions(db: Queryable, scope: OwnerScope): Promise<WebhookSubscription[]> {
  const { rows } = scope.all
    ? await db.query<SubscriptionRow>(
        `SELECT ${SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions ORDER BY created_at, subscription_id`,
      )
    : await db.query<SubscriptionRow>(
        `SELECT ${SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions
         WHERE owner_id = $1 ORDER BY created_at, subscription_id`,
        [scope.ownerId],
      );
  return rows.map(toSubscription);
}

/**
 * What the dispatcher routes to: every owned subscription, its event types
 * cut down to what its owner is entitled to (a partner's empty list becomes
 * the partner event types). Ownerless and entitled-to-nothing rows get nothing.
 */
export async function listSubscriptionTargets(db: Queryable): Promise<SubscriptionTarget[]> {
  const { rows } = await db.query<{
    subscription_id: string;
    event_types: string[];
    owner_role: SubscriberRole;
  }>(
    `SELECT subscription_id, event_types, owner_role FROM webhook_subscriptions
     WHERE owner_id IS NOT NULL ORDER BY created_at, subscription_id`,
  );
  const targets: SubscriptionTarget[] = [];
  for (const r of rows) {
    const eventTypes = deliverableEventTypes(r.owner_role, r.event_types);
    if (eventTypes) targets.push({ subscriptionId: r.subscription_id, eventTypes });
  }
  return targets;
}

/** Deletes a subscription in scope; false when there is none (unknown, or another owner's). */
export async function deleteSubscription(
  db: Queryable,
  subscriptionId: string,
  scope: OwnerScope,
): Promise<boolean> {
  const result = scope.all
    ? await db.query("DELETE FROM webhook_subscriptions WHERE subscription_id = $1", [subscriptionId])
    : await db.query("DELETE FROM webhook_subscriptions WHERE subscription_id = $1 AND owner_id = $2", [
        subscriptionId,
        scope.ownerId,
      ]);
  return result.rowCount === 1;
}

// ---------------------------------------------------------------- deliveries

/** One PENDING row per planned task; an existing row (same task id) is left as it is. */
export async function insertDeliveries(client: PoolClient, plan: DispatchPlan): Promise<void> {
  for (const t of plan.tasks) {
    await client.query(
      `INSERT INTO deliveries (delivery_id, event_id, event_type, order_id, channel, subscription_id, status)
       VALUES ($1, $2, $3, $4, $5, $6, 'PENDING')
       ON CONFLICT (delivery_id) DO NOTHING`,
      [
        t.taskId,
        plan.eventId,
        plan.eventType,
        plan.orderId,
        t.channel,
        t.channel === "webhook" ? t.subscriptionId : null,
      ],
    );
  }
}

export interface DeliveryKey {
  deliveryId: string;
  eventId: string;
  eventType: string;
  orderId: string;
  channel: TaskChannel;
  subscriptionId?: string;
}

/**
 * Marks a delivery done. An upsert: a worker can see its task before the
 * dispatcher's transaction commits (tasks are published before the commit);
 * the insert then waits on that transaction's row and updates it.
 */
export async function markDelivered(client: Queryable, key: DeliveryKey, attempt: number): Promise<void> {
  await client.query({
    name: "deliveries-mark-delivered",
    text: `INSERT INTO deliveries (delivery_id, event_id, event_type, order_id, channel, subscription_id,
                                  status, attempts)
           VALUES ($1, $2, $3, $4, $5, $6, 'DELIVERED', $7)
           ON CONFLICT (delivery_id) DO UPDATE
             SET status = 'DELIVERED', attempts = GREATEST(deliveries.attempts, EXCLUDED.attempts),
                 last_error = NULL, lease_until = NULL, updated_at = now()`,
    values: [
      key.deliveryId,
      key.eventId,
      key.eventType,
      key.orderId,
      key.channel,
      key.subscriptionId ?? null,
      attempt,
    ],
  });
}

/** Records a failed attempt; dead = the task is being dead-lettered now. */
export async function recordFailure(
  db: Queryable,
  key: DeliveryKey,
  attempt: number,
  error: string,
  dead: boolean,
): Promise<void> {
  await db.query(
    `INSERT INTO deliveries (delivery_id, event_id, event_type, order_id, channel, subscription_id,
                             status, attempts, last_error)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (delivery_id) DO UPDATE
       SET status = CASE WHEN deliveries.status = 'DELIVERED' THEN 'DELIVERED' ELSE EXCLUDED.status END,
           attempts = GREATEST(deliveries.attempts, EXCLUDED.attempts),
           last_error = EXCLUDED.last_error, lease_until = NULL, updated_at = now()`,
    [
      key.deliveryId,
      key.eventId,
      key.eventType,
      key.orderId,
      key.channel,
      key.subscriptionId ?? null,
      dead ? "DEAD_LETTERED" : "PENDING",
      attempt,
      error.slice(0, 1000),
    ],
  );
}

interface DeliveryRow {
  delivery_id: string;
  event_id: string;
  order_id: string;
  subscription_id: string | null;
  channel: TaskChannel;
  status: "PENDING" | "DELIVERED" | "DEAD_LETTERED";
  attempts: number;
  last_error: string | null;
}

const CHANNELS: Record<TaskChannel, Channel> = {
  email: Channel.EMAIL,
  webhook: Channel.WEBHOOK,
  analytics: Channel.ANALYTICS,
};
const STATUSES: Record<DeliveryRow["status"], DeliveryStatus> = {
  PENDING: DeliveryStatus.PENDING,
  DELIVERED: DeliveryStatus.DELIVERED,
  DEAD_LETTERED: DeliveryStatus.DEAD_LETTERED,
};

/**
 * The deliveries about one order in scope, oldest first: for an owner, the
 * webhook deliveries to its own subscriptions only (the emails and
 * analytics rows are about the customer, not the partner); for ops, all.
 */
export async function listDeliveries(db: Queryable, orderId: string, scope: OwnerScope): Promise<Delivery[]> {
  const { rows } = scope.all
    ? await db.query<DeliveryRow>(
        `SELECT delivery_id, event_id, order_id, subscription_id, channel, status, attempts, last_error
         FROM deliveries WHERE order_id = $1 ORDER BY created_at, delivery_id`,
        [orderId],
      )
    : await db.query<DeliveryRow>(
        `SELECT d.delivery_id, d.event_id, d.order_id, d.subscription_id, d.channel, d.status, d.attempts,
                d.last_error
         FROM deliveries d JOIN webhook_subscriptions s ON s.subscription_id = d.subscription_id
         WHERE d.order_id = $1 AND d.channel = 'webhook' AND s.owner_id = $2
         ORDER BY d.created_at, d.delivery_id`,
        [orderId, scope.ownerId],
      );
  return rows.map((r) =>
    create(DeliverySchema, {
      deliveryId: r.delivery_id,
      eventId: r.event_id,
      orderId: r.order_id,
      subscriptionId: r.subscription_id ?? "",
      channel: CHANNELS[r.channel],
      status: STATUSES[r.status],
      attempts: r.attempts,
      lastError: r.last_error ?? "",
    }),
  );
}

// ---------------------------------------------------------------- analytics

/** Records an event once; false when it was already there. */
export async function insertAnalyticsEvent(client: Queryable, task: AnalyticsTask): Promise<boolean> {
  const occurredAt = task.occurredAt ? timestampDate(task.occurredAt) : new Date();
  const result = await client.query(
    `INSERT INTO analytics_events (event_id, event_type, order_id, occurred_at)
     VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING`,
    [task.eventId, task.eventType, task.orderId, occurredAt],
  );
  return result.rowCount === 1;
}
