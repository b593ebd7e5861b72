import type { Pool, PoolClient } from "#lib/db.ts";
import type { Logger } from "#lib/observability/logger.ts";
import type { BrokerData } from "../domain/model.ts";
import { type ExecutionSettings, executeWebhook } from "./execute.ts";
import type { TriggeredStatus, TriggeredWebhook } from "./model.ts";
import type { WebhookStore } from "./store.ts";
import { type EventDetails, triggersFor } from "./triggers.ts";

// The webhook runner: after a publication or verification commits, its outbox
// row (written by a trigger in that transaction) becomes visible; the runner
// wakes on the NOTIFY that comes with the commit, or on its poll, turns the
// event into triggered webhooks and sends them, retrying failures on the
// retry schedule. Nothing runs inside the request that caused it.

export interface WebhookSettings extends ExecutionSettings {
  /** Seconds to wait before each retry; its length is the number of retries. */
  retrySchedule: readonly number[];
  /** Longest sleep between two looks at the outbox and the due webhooks. */
  pollMs: number;
  /** Base of the links in the template parameters (no request to take it from). */
  baseUrl: string;
}

export interface WebhookRunner {
  start(): Promise<void>;
  /** Look now (after a test execution, or when told by a NOTIFY). */
  wake(): void;
  /** Stops looking and waits for the requests in flight. */
  stop(): Promise<void>;
}

const CHANNEL = "pact_broker_events";
const EVENTS_PER_ROUND = 20;
const PARALLEL = 4;

/** What the next state of a triggered webhook is after an attempt. */
export function nextState(
  success: boolean,
  attemptsMade: number,
  retrySchedule: readonly number[],
  now = Date.now(),
): { status: TriggeredStatus; nextAttemptAt: Date | null } {
  if (success) return { status: "success", nextAttemptAt: null };
  const delay = retrySchedule[attemptsMade - 1];
  if (delay === undefined) return { status: "failure", nextAttemptAt: null };
  return { status: "retrying", nextAttemptAt: new Date(now + delay * 1000) };
}

export function createWebhookRunner(options: {
  pool: Pool;
  webhooks: WebhookStore;
  data: () => Promise<BrokerData>;
  settings: WebhookSettings;
  logger: Logger;
}): WebhookRunner {
  const { pool, webhooks, data, settings, logger } = options;
  let stopping = false;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let listener: PoolClient | undefined;
  const inFlight = new Set<Promise<void>>();
  // A lease longer than any attempt, so a second runner does not send it too.
  const leaseMs = settings.timeoutMs + 60_000;

  const decide = async (events: { kind: "pact_publication" | "verification"; refId: number }[]) => {
    const hooks = await webhooks.list();
    if (hooks.length === 0) return [];
    const d = await data();
    const triggers = [];
    for (const event of events) {
      const details: EventDetails = {};
      if (event.kind === "pact_publication") {
        const pub = d.s.publications.find((p) => p.id === event.refId);
        if (pub) details.consumerVersionBuildUrl = await webhooks.versionBuildUrl(pub.consumerVersionId);
      } else {
        details.verificationBuildUrl = await webhooks.verificationBuildUrl(event.refId);
      }
      triggers.push(...triggersFor(d, event, hooks, settings.baseUrl, details));
    }
    if (triggers.length > 0)
      logger.info({ events: events.length, triggered: triggers.length }, "webhooks triggered");
    return triggers;
  };

  const attempt = async (t: TriggeredWebhook) => {
    const webhook = await webhooks.find(t.webhookUuid);
    const attemptNo = t.attemptsMade + 1;
    const result = webhook
      ? await executeWebhook(webhook.request, t.parameters, settings, {
          triggeredWebhook: t.uuid,
          webhook: t.webhookUuid,
          event_name: t.eventName,
          attempt: attemptNo,
          base_url: settings.baseUrl,
        })
      : { success: false, logs: "Webhook was deleted before it could run\n" };
    const next = nextState(result.success, attemptNo, settings.retrySchedule);
    const logs =
      next.status === "retrying" && next.nextAttemptAt
        ? `${result.logs}Retrying in ${settings.retrySchedule[attemptNo - 1]} s (attempt ${attemptNo + 1} of ${settings.retrySchedule.length + 1})\n`
        : result.logs;
    await webhooks.recordAttempt(t.uuid, { success: result.success, logs }, next);
    logger.info(
      {
        webhook: t.webhookUuid,
        triggered: t.uuid,
        event: t.eventName,
        attempt: attemptNo,
        status: next.status,
      },
      "webhook executed",
    );
  };

  const drainDue = async () => {
    for (;;) {
      if (stopping) return;
      const claimed: TriggeredWebhook[] = [];
      while (claimed.length < PARALLEL) {
        const t = await webhooks.claimDue(leaseMs);
        if (!t) break;
        claimed.push(t);
      }
      if (claimed.length === 0) return;
      await Promise.all(
        claimed.map((t) => {
          const p = attempt(t).catch((error: unknown) =>
            logger.error({ err: error, triggered: t.uuid }, "webhook attempt not recorded"),
          );
          inFlight.add(p);
          return p.finally(() => inFlight.delete(p));
        }),
      );
    }
  };

  const listen = async () => {
    if (listener || stopping) return;
    try {
      const client = await pool.connect();
      client.on("notification", () => wake());
      client.on("error", () => {
        if (listener === client) listener = undefined;
        client.release(true);
      });
      await client.query(`LISTEN ${CHANNEL}`);
      listener = client;
    } catch (error) {
      logger.warn({ err: error }, "webhook runner cannot LISTEN; polling only");
    }
  };

  const schedule = async () => {
    if (stopping) return;
    let delay = settings.pollMs;
    try {
      const due = await webhooks.nextDueAt();
      if (due) delay = Math.max(0, Math.min(delay, due.getTime() - Date.now()));
    } catch {
      // the poll comes anyway
    }
    if (stopping) return;
    clearTimeout(timer);
    timer = setTimeout(wake, delay);
    timer.unref();
  };

  const round = async () => {
    do {
      again = false;
      await listen();
      while (!stopping && (await webhooks.processEvents(EVENTS_PER_ROUND, decide)) > 0) {
        // more may be waiting
      }
      await drainDue();
    } while (again && !stopping);
  };

  function wake() {
    if (stopping) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = (async () => {
      try {
        await round();
      } catch (error) {
        logger.warn({ err: error }, "webhook runner round failed");
      }
      running = undefined;
      // Woken while finishing: look again at once; otherwise sleep until due.
      if (again) wake();
      else await schedule();
    })();
  }

  return {
    async start() {
      await listen();
      wake();
    },
    wake,
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await running;
      await Promise.all([...inFlight]);
      if (listener) {
        const client = listener;
        listener = undefined;
        await client.query(`UNLISTEN ${CHANNEL}`).catch(() => {});
        client.release();
      }
    },
  };
}
