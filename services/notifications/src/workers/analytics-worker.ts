import { AnalyticsTaskSchema } from "#gen/accord/notifications/v1/tasks_pb.js";
import { PoisonMessageError, type Task } from "#lib/messaging/rabbit.ts";
import { insertAnalyticsEvent } from "../db/notifications-repo.ts";
import { taskIdFor } from "../domain/routing.ts";
import { decodeTask, deliverOnce, type WorkerDeps } from "./deliver.ts";

export const ANALYTICS_CONSUMER = "analytics-worker";

/** Records one AnalyticsTask; analytics_events is keyed by event id, so a duplicate adds nothing. */
export function createAnalyticsHandler(deps: WorkerDeps) {
  return async (task: Task): Promise<void> => {
    const analytics = decodeTask(AnalyticsTaskSchema, task);
    if (analytics.eventId === "" || analytics.eventType === "" || analytics.orderId === "") {
      throw new PoisonMessageError("analytics task without event_id, event_type or order_id");
    }
    const key = {
      deliveryId: taskIdFor(analytics.eventId, "analytics"),
      eventId: analytics.eventId,
      eventType: analytics.eventType,
      orderId: analytics.orderId,
      channel: "analytics" as const,
    };
    await deliverOnce(deps, ANALYTICS_CONSUMER, task, key, async (client) => {
      await insertAnalyticsEvent(client, analytics);
    });
  };
}
