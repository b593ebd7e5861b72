import { type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { ConfirmChannel } from "amqplib";
import {
  AnalyticsTaskSchema,
  EmailTaskSchema,
  WebhookTaskSchema,
} from "#gen/accord/notifications/v1/tasks_pb.js";
import { inTransaction, type Pool } from "#lib/db.ts";
import type { DecodedEvent } from "#lib/messaging/events.ts";
import { claimEvent } from "#lib/messaging/inbox.ts";
import type { ConsumedRecord } from "#lib/messaging/kafka.ts";
import { publishTask, type TaskTopologyNames } from "#lib/messaging/rabbit.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { insertDeliveries, listSubscriptionTargets } from "./db/notifications-repo.ts";
import { type PlannedTask, planTasks } from "./domain/routing.ts";

export const DISPATCHER_CONSUMER = "notifications-dispatcher";
export const TASK_CONTENT_TYPE = "application/protobuf";

export interface DispatcherDeps {
  pool: Pool;
  channel: ConfirmChannel;
  names: TaskTopologyNames;
  logger: Logger;
}

/**
 * The Kafka handler. One transaction per event: inbox claim, delivery rows,
 * then the tasks published with confirms, then commit. A publish failure
 * rolls everything back and the event is delivered again; a commit failing
 * after the publishes can only duplicate tasks, and their ids are derived
 * from the event id, so workers drop the copies.
 */
export function createDispatcher(deps: DispatcherDeps) {
  const { pool, channel, names, logger } = deps;
  return async function dispatch(event: DecodedEvent, record: ConsumedRecord): Promise<void> {
    const outcome = await inTransaction(pool, async (client) => {
      if (!(await claimEvent(client, event.id, DISPATCHER_CONSUMER))) return undefined;
      // planTasks throws PoisonEventError for unusable events: the claim rolls back with it.
      const plan = planTasks(event, await listSubscriptionTargets(client));
      await insertDeliveries(client, plan);
      await Promise.all(plan.tasks.map((t) => publish(t, event)));
      return plan;
    });
    if (!outcome) {
      logger.info({ eventId: event.id, type: event.type, topic: record.topic }, "duplicate event skipped");
      return;
    }
    logger.info(
      {
        eventId: event.id,
        type: event.type,
        orderId: outcome.orderId,
        tasks: outcome.tasks.map((t) => t.channel),
      },
      "event dispatched",
    );
  };

  function publish(planned: PlannedTask, event: DecodedEvent): Promise<void> {
    const body =
      planned.channel === "email"
        ? encode(EmailTaskSchema, planned.task)
        : planned.channel === "webhook"
          ? encode(WebhookTaskSchema, planned.task)
          : encode(AnalyticsTaskSchema, planned.task);
    const headers: Record<string, unknown> = { "event-id": event.id, "event-type": event.type };
    if (event.traceparent) headers.traceparent = event.traceparent;
    return publishTask(channel, names.tasksExchange, names.queue(planned.channel), body, {
      messageId: planned.taskId,
      contentType: TASK_CONTENT_TYPE,
      headers,
    });
  }
}

function encode<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Buffer {
  const bytes = toBinary(schema, message);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
