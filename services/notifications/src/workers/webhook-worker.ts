import { toJsonString } from "@bufbuild/protobuf";
import { request } from "undici";
import {
  type WebhookPayload,
  WebhookPayloadSchema,
  WebhookTaskSchema,
} from "#gen/accord/notifications/v1/tasks_pb.js";
import { PoisonMessageError, type Task } from "#lib/messaging/rabbit.ts";
import { tagOrder } from "#lib/observability/tracing.ts";
import { isUuid } from "#lib/validation.ts";
import { getSubscriptionEndpoint } from "../db/notifications-repo.ts";
import { deliverableEventTypes, minimizedData } from "../domain/entitlement.ts";
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signPayload, TIMESTAMP_HEADER } from "../domain/signature.ts";
import { subscriptionMatches } from "../domain/subscription.ts";
import { decodeTask, deliverOnce, type WorkerDeps } from "./deliver.ts";

export const WEBHOOK_CONSUMER = "webhook-worker";

export class WebhookDeliveryError extends Error {
  override name = "WebhookDeliveryError";
}

/**
 * POSTs one WebhookTask's payload, signed, to its subscription's URL. The
 * subscription's entitlement and the payload's minimization are applied
 * again here, where the data leaves: a task queued before they existed, or
 * replayed from the DLQ, goes out under today's rules.
 */
export function createWebhookHandler(deps: WorkerDeps & { timeoutMs: number }) {
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
    await deliverOnce(deps, WEBHOOK_CONSUMER, task, key, async (client) => {
      const endpoint = await getSubscriptionEndpoint(client, hook.subscriptionId);
      // Deleted since dispatch: retrying cannot help.
      if (!endpoint) throw new PoisonMessageError(`subscription ${hook.subscriptionId} no longer exists`);
      const deliverable = deliverableEventTypes(endpoint.ownerRole, endpoint.eventTypes);
      if (!deliverable || !subscriptionMatches(deliverable, payload.eventType)) {
        throw new PoisonMessageError(
          `subscription ${hook.subscriptionId} is not entitled to ${payload.eventType} (or has no owner)`,
        );
      }
      const minimized: WebhookPayload = {
        ...payload,
        data: minimizedData(payload.eventType, payload.data ?? {}),
      };
      const body = toJsonString(WebhookPayloadSchema, minimized);
      const timestamp = Math.floor(Date.now() / 1000);
      // undici's request(): fetch's WHATWG streams and Response objects cost
      // about a quarter of this worker's CPU per delivery, for a status code.
      let status: number;
      try {
        const response = await request(endpoint.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            [EVENT_ID_HEADER]: payload.eventId,
            [TIMESTAMP_HEADER]: String(timestamp),
            [SIGNATURE_HEADER]: signPayload(endpoint.signingSecret, timestamp, body),
          },
          body,
          // No redirect is followed (request() never does): it would resend the signed body somewhere nobody subscribed.
          signal: AbortSignal.timeout(deps.timeoutMs),
        });
        status = response.statusCode;
        // The body is not needed; dumping it frees the connection for the next delivery.
        await response.body.dump().catch(() => {});
      } catch (err) {
        const why = isTimeout(err) ? `timed out after ${deps.timeoutMs} ms` : String(err);
        throw new WebhookDeliveryError(`POST failed: ${why}`);
      }
      if (status < 200 || status > 299) {
        throw new WebhookDeliveryError(`receiver answered HTTP ${status}`);
      }
    });
  };
}

function isTimeout(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  return name === "TimeoutError" || name === "HeadersTimeoutError" || name === "BodyTimeoutError";
}
