import { randomUUID } from "node:crypto";
import { inTransaction, type Pool } from "#lib/db.ts";
import type {
  NewTrigger,
  TriggeredStatus,
  TriggeredWebhook,
  Webhook,
  WebhookEventName,
  WebhookExecution,
  WebhookInput,
  WebhookRequestTemplate,
} from "./model.ts";
import type { BrokerEvent } from "./triggers.ts";

// The SQL of webhooks (migration 002): the webhooks themselves, the outbox the
// publishing transactions fill, triggered webhooks (claimed with a lease so
// two runners never send the same one at once) and their executions.

export interface PendingEvent extends BrokerEvent {
  id: number;
}

export interface WebhookStore {
  list(): Promise<Webhook[]>;
  find(uuid: string): Promise<Webhook | undefined>;
  /** Creates it, or replaces the one with this uuid; true when it was new. */
  save(
    uuid: string,
    input: WebhookInput,
    ids: { consumerId: number | null; providerId: number | null },
  ): Promise<boolean>;
  remove(uuid: string): Promise<boolean>;

  /**
   * Takes up to `limit` unprocessed outbox events (locked, so a second runner
   * skips them), lets `decide` turn them into triggers, and stores those and
   * marks the events processed in the same transaction.
   */
  processEvents(limit: number, decide: (events: PendingEvent[]) => Promise<NewTrigger[]>): Promise<number>;
  /** Stores one trigger, due now (test executions are stored after they ran). */
  createTriggered(
    trigger: NewTrigger,
    state?: { status: TriggeredStatus; attemptsMade: number },
  ): Promise<string>;
  /** The next due triggered webhook, leased for leaseMs (its next attempt moves past the lease). */
  claimDue(leaseMs: number): Promise<TriggeredWebhook | undefined>;
  /** When the next triggered webhook is due (undefined: none pending). */
  nextDueAt(): Promise<Date | undefined>;
  recordAttempt(
    uuid: string,
    result: { success: boolean; logs: string },
    next: { status: TriggeredStatus; nextAttemptAt: Date | null },
  ): Promise<void>;
  triggered(filter: {
    uuid?: string;
    webhookUuid?: string;
    consumerId?: number;
    providerId?: number;
    consumerVersionId?: number;
    verificationId?: number;
  }): Promise<TriggeredWebhook[]>;
  executions(triggeredUuid: string): Promise<WebhookExecution[]>;
  /** Build URLs the snapshot does not carry. */
  versionBuildUrl(versionId: number): Promise<string | null>;
  verificationBuildUrl(verificationId: number): Promise<string | null>;
}

interface WebhookRow {
  uuid: string;
  description: string | null;
  consumer_id: number | null;
  provider_id: number | null;
  consumer_name: string | null;
  provider_name: string | null;
  enabled: boolean;
  events: string[];
  request: WebhookRequestTemplate;
  created_at: Date;
  updated_at: Date;
}

const WEBHOOK_SELECT = `
  SELECT w.uuid, w.description, w.consumer_id, w.provider_id, c.name AS consumer_name, p.name AS provider_name,
         w.enabled, w.events, w.request, w.created_at, w.updated_at
    FROM webhooks w
    LEFT JOIN pacticipants c ON c.id = w.consumer_id
    LEFT JOIN pacticipants p ON p.id = w.provider_id`;

function webhookOf(r: WebhookRow): Webhook {
  return {
    uuid: r.uuid,
    ...(r.description === null ? {} : { description: r.description }),
    ...(r.consumer_name === null ? {} : { consumerName: r.consumer_name }),
    ...(r.provider_name === null ? {} : { providerName: r.provider_name }),
    consumerId: r.consumer_id,
    providerId: r.provider_id,
    enabled: r.enabled,
    events: r.events as WebhookEventName[],
    request: { ...r.request, headers: r.request.headers ?? {} },
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const TRIGGERED_COLUMNS = `uuid, webhook_uuid AS "webhookUuid", trigger_type AS "triggerType", event_name AS "eventName",
  status, consumer_id AS "consumerId", provider_id AS "providerId", consumer_version_id AS "consumerVersionId",
  pact_version_id AS "pactVersionId", verification_id AS "verificationId", parameters,
  attempts_made AS "attemptsMade", next_attempt_at AS "nextAttemptAt", created_at AS "createdAt", updated_at AS "updatedAt"`;

export function createWebhookStore(pool: Pool): WebhookStore {
  const insertTriggered = async (
    q: (sql: string, params: unknown[]) => Promise<unknown>,
    t: NewTrigger,
    state: { status: TriggeredStatus; attemptsMade: number } = { status: "not_run", attemptsMade: 0 },
  ) => {
    const uuid = randomUUID();
    await q(
      `INSERT INTO triggered_webhooks (uuid, webhook_uuid, trigger_type, event_name, status, consumer_id, provider_id,
         consumer_version_id, pact_version_id, verification_id, parameters, attempts_made, next_attempt_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $5 IN ('not_run', 'retrying') THEN clock_timestamp() END)`,
      [
        uuid,
        t.webhookUuid,
        t.triggerType,
        t.eventName,
        state.status,
        t.consumerId,
        t.providerId,
        t.consumerVersionId,
        t.pactVersionId,
        t.verificationId,
        JSON.stringify(t.parameters),
        state.attemptsMade,
      ],
    );
    return uuid;
  };

  return {
    async list() {
      return (await pool.query<WebhookRow>(`${WEBHOOK_SELECT} ORDER BY w.created_at, w.uuid`)).rows.map(
        webhookOf,
      );
    },

    async find(uuid) {
      const r = await pool.query<WebhookRow>(`${WEBHOOK_SELECT} WHERE w.uuid = $1`, [uuid]);
      const row = r.rows[0];
      return row ? webhookOf(row) : undefined;
    },

    async save(uuid, input, ids) {
      const r = await pool.query<{ inserted: boolean }>(
        `INSERT INTO webhooks (uuid, description, consumer_id, provider_id, enabled, events, request)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (uuid) DO UPDATE SET description = EXCLUDED.description, consumer_id = EXCLUDED.consumer_id,
           provider_id = EXCLUDED.provider_id, enabled = EXCLUDED.enabled, events = EXCLUDED.events,
           request = EXCLUDED.request, updated_at = clock_timestamp()
         RETURNING (xmax = 0) AS inserted`,
        [
          uuid,
          input.description ?? null,
          ids.consumerId,
          ids.providerId,
          input.enabled,
          input.events,
          JSON.stringify(input.request),
        ],
      );
      return r.rows[0]?.inserted === true;
    },

    async remove(uuid) {
      return ((await pool.query("DELETE FROM webhooks WHERE uuid = $1", [uuid])).rowCount ?? 0) > 0;
    },

    async processEvents(limit, decide) {
      return inTransaction(pool, async (client) => {
        const events = (
          await client.query<PendingEvent>(
            `SELECT id, kind, ref_id AS "refId" FROM broker_events WHERE processed_at IS NULL
              ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
            [limit],
          )
        ).rows;
        if (events.length === 0) return 0;
        const triggers = await decide(events);
        const q = (sql: string, params: unknown[]) => client.query(sql, params);
        for (const t of triggers) await insertTriggered(q, t);
        await client.query("UPDATE broker_events SET processed_at = clock_timestamp() WHERE id = ANY($1)", [
          events.map((e) => e.id),
        ]);
        // Processed events are kept a day (to look at), then dropped.
        await client.query(
          "DELETE FROM broker_events WHERE processed_at < clock_timestamp() - interval '1 day'",
        );
        return events.length;
      });
    },

    createTriggered(trigger, state) {
      return insertTriggered((sql, params) => pool.query(sql, params), trigger, state);
    },

    async claimDue(leaseMs) {
      const r = await pool.query<TriggeredWebhook>(
        `UPDATE triggered_webhooks SET next_attempt_at = clock_timestamp() + make_interval(secs => $1::float8 / 1000)
          WHERE uuid = (
            SELECT uuid FROM triggered_webhooks
             WHERE status IN ('not_run', 'retrying') AND next_attempt_at <= clock_timestamp()
             ORDER BY next_attempt_at, created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
          RETURNING ${TRIGGERED_COLUMNS}`,
        [leaseMs],
      );
      return r.rows[0];
    },

    async nextDueAt() {
      const r = await pool.query<{ at: Date | null }>(
        "SELECT min(next_attempt_at) AS at FROM triggered_webhooks WHERE status IN ('not_run', 'retrying')",
      );
      return r.rows[0]?.at ?? undefined;
    },

    async recordAttempt(uuid, result, next) {
      await inTransaction(pool, async (client) => {
        await client.query(
          "INSERT INTO webhook_executions (triggered_webhook_uuid, success, logs) VALUES ($1, $2, $3)",
          [uuid, result.success, result.logs],
        );
        await client.query(
          `UPDATE triggered_webhooks SET status = $2, next_attempt_at = $3, attempts_made = attempts_made + 1,
             updated_at = clock_timestamp() WHERE uuid = $1`,
          [uuid, next.status, next.nextAttemptAt],
        );
      });
    },

    async triggered(filter) {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (column: string, value: unknown) => {
        params.push(value);
        where.push(`${column} = $${params.length}`);
      };
      if (filter.uuid !== undefined) add("uuid", filter.uuid);
      if (filter.webhookUuid !== undefined) add("webhook_uuid", filter.webhookUuid);
      if (filter.consumerId !== undefined) add("consumer_id", filter.consumerId);
      if (filter.providerId !== undefined) add("provider_id", filter.providerId);
      if (filter.consumerVersionId !== undefined) add("consumer_version_id", filter.consumerVersionId);
      if (filter.verificationId !== undefined) add("verification_id", filter.verificationId);
      const r = await pool.query<TriggeredWebhook>(
        `SELECT ${TRIGGERED_COLUMNS} FROM triggered_webhooks
          ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, uuid`,
        params,
      );
      return r.rows;
    },

    async executions(triggeredUuid) {
      const r = await pool.query<WebhookExecution>(
        `SELECT id, triggered_webhook_uuid AS "triggeredWebhookUuid", success, logs, created_at AS "createdAt"
           FROM webhook_executions WHERE triggered_webhook_uuid = $1 ORDER BY id`,
        [triggeredUuid],
      );
      return r.rows;
    },

    async versionBuildUrl(versionId) {
      const r = await pool.query<{ url: string | null }>(
        "SELECT build_url AS url FROM versions WHERE id = $1",
        [versionId],
      );
      return r.rows[0]?.url ?? null;
    },

    async verificationBuildUrl(verificationId) {
      const r = await pool.query<{ url: string | null }>(
        "SELECT build_url AS url FROM verifications WHERE id = $1",
        [verificationId],
      );
      return r.rows[0]?.url ?? null;
    },
  };
}
