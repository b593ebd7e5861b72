import { create, type JsonObject, toJson } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { v5 as uuidv5 } from "uuid";
import {
  type AnalyticsTask,
  AnalyticsTaskSchema,
  type EmailTask,
  EmailTaskSchema,
  WebhookPayloadSchema,
  type WebhookTask,
  WebhookTaskSchema,
} from "#gen/accord/notifications/v1/tasks_pb.js";
import { type DecodedEvent, PoisonEventError } from "#lib/messaging/events.ts";
import { emailFor } from "./email.ts";
import { minimizedData } from "./entitlement.ts";
import { subscriptionMatches } from "./subscription.ts";

export type TaskChannel = "email" | "webhook" | "analytics";

export interface SubscriptionTarget {
  subscriptionId: string;
  eventTypes: readonly string[];
}

export type PlannedTask =
  | { channel: "email"; taskId: string; task: EmailTask }
  | { channel: "webhook"; taskId: string; subscriptionId: string; task: WebhookTask }
  | { channel: "analytics"; taskId: string; task: AnalyticsTask };

export interface DispatchPlan {
  eventId: string;
  eventType: string;
  orderId: string;
  tasks: PlannedTask[];
}

// Task ids are name-based UUIDs of (event, channel, subscription): an event
// dispatched twice (a commit lost after publishing) yields the same ids, which
// workers deduplicate.
const TASK_NAMESPACE = "6f1c2a4e-9b7d-4c35-8e21-3a5d7b9c0f14";

export function taskIdFor(eventId: string, channel: TaskChannel, subscriptionId = ""): string {
  return uuidv5(`${eventId}/${channel}/${subscriptionId}`, TASK_NAMESPACE);
}

/**
 * Every event: one analytics task and one webhook task per matching
 * subscription (the targets' event types are already cut down to what their
 * owners are entitled to), its data minimized (domain/entitlement.ts).
 * OrderConfirmed / OrderFailed / OrderCancelled / OrderRefunded also email
 * the customer (domain/email.ts). Throws PoisonEventError ("rejected") for an
 * event that can never be dispatched: no order id, or an email event without
 * a recipient.
 */
export function planTasks(event: DecodedEvent, subscriptions: readonly SubscriptionTarget[]): DispatchPlan {
  const orderId = orderIdOf(event);
  if (!orderId) throw new PoisonEventError("rejected", `${event.type} ${event.id} carries no order_id`);
  const occurredAt = timestampFromDate(new Date(event.time));
  const tasks: PlannedTask[] = [];

  const email = emailFor(event);
  if (email) {
    if (!/^[^\s@]+@[^\s@]+$/.test(email.to)) {
      throw new PoisonEventError("rejected", `${event.type} ${event.id} has no valid customer_email`);
    }
    const taskId = taskIdFor(event.id, "email");
    tasks.push({
      channel: "email",
      taskId,
      task: create(EmailTaskSchema, {
        taskId,
        eventId: event.id,
        orderId,
        to: email.to,
        subject: email.subject,
        textBody: email.text,
      }),
    });
  }

  const matching = subscriptions.filter((s) => subscriptionMatches(s.eventTypes, event.type));
  if (matching.length > 0) {
    const payload = create(WebhookPayloadSchema, {
      eventId: event.id,
      eventType: event.type,
      occurredAt,
      orderId,
      // Minimized here, so the queue never holds what partners may not receive.
      data: minimizedData(event.type, toJson(event.schema, event.message) as JsonObject),
    });
    for (const { subscriptionId } of matching) {
      const taskId = taskIdFor(event.id, "webhook", subscriptionId);
      tasks.push({
        channel: "webhook",
        taskId,
        subscriptionId,
        task: create(WebhookTaskSchema, { taskId, subscriptionId, payload }),
      });
    }
  }

  tasks.push({
    channel: "analytics",
    taskId: taskIdFor(event.id, "analytics"),
    task: create(AnalyticsTaskSchema, { eventId: event.id, eventType: event.type, orderId, occurredAt }),
  });
  return { eventId: event.id, eventType: event.type, orderId, tasks };
}

/** order_id of any event: a top-level field, or inside the order (OrderPlaced). */
export function orderIdOf(event: DecodedEvent): string | undefined {
  const message = event.message as { orderId?: unknown; order?: { orderId?: unknown } };
  const id = typeof message.orderId === "string" ? message.orderId : message.order?.orderId;
  return typeof id === "string" && id !== "" ? id : undefined;
}
