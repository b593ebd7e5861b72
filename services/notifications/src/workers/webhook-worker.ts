import { toJsonString } from "@bufbuild/protobuf";
import type { ConfirmChannel } from "amqplib";
import { type Dispatcher, request } from "undici";
import {
  type WebhookPayload,
  WebhookPayloadSchema,
  WebhookTaskSchema,
} from "#gen/accord/notifications/v1/tasks_pb.js";
import { isDatabaseUnavailable } from "#lib/db.ts";
import {
  ATTEMPT_HEADER,
  DependencyUnavailableError,
  nextRoute,
  PoisonMessageError,
  publishTask,
  type Task,
  type TaskTopologyNames,
} from "#lib/messaging/rabbit.ts";
import { tagOrder } from "#lib/observability/tracing.ts";
import { isUuid } from "#lib/validation.ts";
import { type DeliveryKey, recordFailure } from "../db/notifications-repo.ts";
import { claimWebhookDelivery, completeWebhookDelivery } from "../db/webhook-claims.ts";
import { deliverableEventTypes, minimizedData } from "../domain/entitlement.ts";
import type { SecretBox } from "../domain/secret-box.ts";
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signPayload, TIMESTAMP_HEADER } from "../domain/signature.ts";
import { subscriptionMatches } from "../domain/subscription.ts";
import { failureCategory, httpStatusCategory } from "../egress/failure-category.ts";
import type { EgressGuard } from "../egress/guard.ts";
import { decodeTask, type WorkerDeps } from "./deliver.ts";

export const WEBHOOK_CONSUMER = "webhook-worker";

/** A failed POST; the message is the category partners see (failure-category.ts), never socket text. */
export class WebhookDeliveryError extends Error {
  override name = "WebhookDeliveryError";
}

export interface WebhookWorkerDeps extends WorkerDeps {
  /** The whole exchange (connect, send, answer) within this. */
  timeoutMs: number;
  guard: EgressGuard;
  /** guardedDispatcher(guard): connects only to addresses the guard checked. */
  dispatcher: Dispatcher;
  box: SecretBox;
  /** Deliveries of one subscription posting at once; more wait (deferred), other subscriptions do not. */
  maxInFlightPerSubscription: number;
  /** At most this much of a receiver's answer is read. */
  maxResponseBytes: number;
  /** Where a deferred task waits before it comes back (the topology's first delay queue). */
  defer: { channel: ConfirmChannel; names: TaskTopologyNames; queue: string };
}

/**
 * POSTs one WebhookTask's payload, signed, to its subscription's URL, with
 * no database transaction open during the POST. The subscription's
 * entitlement and the payload's minimization are applied again here, where
 * the data leaves, and so is the egress guard: the URL's addresses are
 * checked at every send and the connection goes to the checked address.
 */
export function createWebhookHandler(deps: WebhookWorkerDeps) {
  const { pool, logger, retryDelaysMs } = deps;
  const deferDelayMs = retryDelaysMs[0] ?? 1_000;
  const leaseMs = deps.timeoutMs + 15_000;

  return async (task: Task): Promise<void> => {
    const hook = decodeTask(WebhookTaskSchema, task);
    const payload = hook.payload;
    if (!isUuid(hook.taskId) || !isUuid(hook.subscriptionId) || !payload || payload.eventId === "") {
      throw new PoisonMessageError("webhook task without task_id, subscription_id or payload");
    }
    tagOrder(payload.orderId);
    const key = {
      deliveryId: hook.taskId,
      eventId: payload.eventId,
      eventType: payload.eventType,
      orderId: payload.orderId,
      channel: "webhook" as const,
      subscriptionId: hook.subscriptionId,
    };
    const log = logger.child({
      consumer: WEBHOOK_CONSUMER,
      deliveryId: key.deliveryId,
      eventId: key.eventId,
      subscriptionId: key.subscriptionId,
      attempt: task.attempt,
    });

    let claim: Awaited<ReturnType<typeof claimWebhookDelivery>>;
    try {
      claim = await claimWebhookDelivery(pool, key, WEBHOOK_CONSUMER, task.attempt, {
        leaseMs,
        maxInFlight: deps.maxInFlightPerSubscription,
        box: deps.box,
      });
    } catch (err) {
      if (isDatabaseUnavailable(err))
        throw new DependencyUnavailableError(`database unavailable: ${describe(err)}`);
      throw err;
    }
    if (claim.kind === "duplicate") {
      log.info("duplicate task skipped");
      return;
    }
    if (claim.kind === "gone") {
      // Deleted since dispatch: retrying cannot help.
      return await fail(key, task, new PoisonMessageError("subscription no longer exists"));
    }
    if (claim.kind === "in flight" || claim.kind === "capped") {
      // Back later on the delay queue, same attempt: waiting here would hold a prefetch slot that another
      // subscription's delivery could use.
      await publishTask(deps.defer.channel, deps.defer.names.retryExchange, deps.defer.queue, task.body, {
        messageId: task.messageId ?? key.deliveryId,
        headers: { ...task.headers, [ATTEMPT_HEADER]: task.attempt },
        contentType: task.message.properties.contentType as string | undefined,
      } as Parameters<typeof publishTask>[4]);
      log.info({ why: claim.kind, retryInMs: deferDelayMs }, "webhook delivery deferred");
      return;
    }
    if (claim.kind !== "claimed") return;
    const endpoint = claim.endpoint;

    const deliverable = deliverableEventTypes(endpoint.ownerRole, endpoint.eventTypes);
    if (!deliverable || !subscriptionMatches(deliverable, payload.eventType)) {
      return await fail(
        key,
        task,
        new PoisonMessageError(`not entitled to ${payload.eventType} (or no owner)`),
      );
    }
    const minimized: WebhookPayload = {
      ...payload,
      data: minimizedData(payload.eventType, payload.data ?? {}),
    };
    const body = toJsonString(WebhookPayloadSchema, minimized);
    const timestamp = Math.floor(Date.now() / 1000);

    let status: number;
    try {
      // Every send: scheme and every resolved address checked before any socket exists.
      const target = await deps.guard.check(endpoint.url);
      // undici's request(): fetch's WHATWG streams and Response objects cost
      // about a quarter of this worker's CPU per delivery, for a status code.
      const response = await request(target.url, {
        method: "POST",
        dispatcher: deps.dispatcher,
        headers: {
          "content-type": "application/json",
          [EVENT_ID_HEADER]: payload.eventId,
          [TIMESTAMP_HEADER]: String(timestamp),
          // During a rotation's overlap both signatures: a receiver with either secret verifies.
          [SIGNATURE_HEADER]: endpoint.secrets.map((s) => signPayload(s, timestamp, body)).join(","),
        },
        body,
        // No redirect is followed (request() never does): it would resend the signed body somewhere nobody
        // subscribed, past the guard.
        signal: AbortSignal.timeout(deps.timeoutMs),
      });
      status = response.statusCode;
      // The body is not needed: read at most maxResponseBytes, which also frees the connection.
      await response.body.dump({ limit: deps.maxResponseBytes }).catch(() => {});
    } catch (err) {
      const category = failureCategory(err);
      log.warn(
        { category, err: { name: (err as Error)?.name, code: (err as { code?: string })?.code } },
        "webhook POST failed",
      );
      return await fail(key, task, new WebhookDeliveryError(category));
    }
    if (status < 200 || status > 299) {
      return await fail(key, task, new WebhookDeliveryError(httpStatusCategory(status)));
    }
    try {
      await completeWebhookDelivery(pool, key, WEBHOOK_CONSUMER, task.attempt);
    } catch (err) {
      // Posted, not recorded: the lease runs out and a redelivery posts again (at least once, same event id).
      if (isDatabaseUnavailable(err))
        throw new DependencyUnavailableError(`database unavailable: ${describe(err)}`);
      throw err;
    }
    log.info("delivered");
  };

  /**
   * Records the failed attempt (DEAD_LETTERED when lib/rabbit is about to
   * dead-letter it) and ends the lease, then throws for consumeTasks to
   * retry or dead-letter. A ledger that cannot record a dead-lettering puts
   * the task back instead (DependencyUnavailableError), as deliverOnce does.
   */
  async function fail(key: DeliveryKey, task: Task, err: Error): Promise<never> {
    const dead =
      err instanceof PoisonMessageError || nextRoute(task.attempt, retryDelaysMs).kind === "dead-letter";
    try {
      await recordFailure(pool, key, task.attempt, err.message, dead);
    } catch (dbErr) {
      logger.error({ err: dbErr, deliveryId: key.deliveryId }, "could not record the failed attempt");
      // Never dead-letter what the ledger cannot show: wait for the database.
      if (dead)
        throw new DependencyUnavailableError(`could not record the dead-lettering: ${describe(dbErr)}`);
    }
    throw err;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
