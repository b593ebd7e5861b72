import { type DescMessage, fromJson, type JsonObject } from "@bufbuild/protobuf";
import { type DispatchPlan, planTasks } from "#services/notifications/src/domain/routing.ts";
import { decodedEvent } from "./orchestrator-bridge.ts";

/** The part of a pact message the consumer test reads. */
export interface PactMessageContents {
  contents: { content: unknown };
}

export const SUBSCRIPTION_ID = "0190f1a8-6666-7666-8666-666666666666";

/**
 * Decodes a pact message with the generated schema, as the dispatcher's
 * decodeEvent would from the binary, and runs the notifications service's
 * real routing on it, with one catch-all webhook subscription.
 */
export function planFor<Desc extends DescMessage>(schema: Desc, m: PactMessageContents): DispatchPlan {
  const message = fromJson(schema, m.contents.content as JsonObject);
  return planTasks(decodedEvent(schema, message), [{ subscriptionId: SUBSCRIPTION_ID, eventTypes: [] }]);
}

/** The channels of a plan, e.g. ["email", "webhook", "analytics"]. */
export function channels(plan: DispatchPlan): string[] {
  return plan.tasks.map((t) => t.channel);
}

/** The webhook payload's data: the event as protobuf JSON, which partners receive. */
export function webhookData(plan: DispatchPlan): unknown {
  const task = plan.tasks.find((t) => t.channel === "webhook");
  return task?.channel === "webhook" ? task.task.payload?.data : undefined;
}
