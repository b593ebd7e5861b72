import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import proto from "@temporalio/proto";
import {
  RunStatus,
  type SagaStatus,
  SagaStatusSchema,
  type SagaStep,
  SagaStepSchema,
  StepState,
} from "#gen/accord/orchestrator/v1/saga_pb.js";
import type { OrderActivities } from "../activities/order-activities.ts";
import type { OrderWorkflowStatus } from "../workflows/order.ts";

/** The activities that undo a step (the saga's compensations, workflows/order.ts). */
export const COMPENSATION_ACTIVITIES: ReadonlySet<string> = new Set([
  "releaseInventory",
  "refundPayment",
  "cancelShipment",
] satisfies (keyof OrderActivities)[]);

/** A number as Temporal's history carries it: a number, a decimal string (JSON) or a Long. */
type IntLike = number | string | { toString(): string } | null | undefined;
/** A time as the history carries it: an ISO string (JSON) or {seconds, nanos}. */
type TimeLike = string | { seconds?: IntLike; nanos?: number | null } | null | undefined;
interface Failure {
  failure?: { message?: string | null } | null;
  scheduledEventId?: IntLike;
}

/**
 * The parts of a history event this module reads, in the shape of both the
 * SDK's History objects (enum numbers, Longs) and the CLI's JSON export
 * (enum names, strings), so recorded histories test it as they are.
 */
export interface HistoryEventLike {
  eventId?: IntLike;
  eventType?: number | string | null;
  eventTime?: TimeLike;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
  activityTaskStartedEventAttributes?: { scheduledEventId?: IntLike; attempt?: number | null } | null;
  activityTaskCompletedEventAttributes?: { scheduledEventId?: IntLike } | null;
  activityTaskFailedEventAttributes?: Failure | null;
  activityTaskTimedOutEventAttributes?: Failure | null;
  activityTaskCanceledEventAttributes?: { scheduledEventId?: IntLike } | null;
}

// @temporalio/proto is CommonJS whose exports Node cannot name statically:
// a named import fails under plain Node (the services run that way), so take its default.
const { temporal } = proto;
const EventType = temporal.api.enums.v1.EventType;

function typeName(type: HistoryEventLike["eventType"]): string {
  if (typeof type === "number") return EventType[type] ?? "";
  return type ?? "";
}

const idOf = (value: IntLike): string => (value === null || value === undefined ? "" : String(value));

export function timestampOf(time: TimeLike): Timestamp | undefined {
  if (time === null || time === undefined) return undefined;
  if (typeof time === "string") {
    const date = new Date(time);
    return Number.isNaN(date.getTime()) ? undefined : timestampFromDate(date);
  }
  const seconds = Number(idOf(time.seconds) || "0");
  if (!Number.isFinite(seconds)) return undefined;
  return { $typeName: "google.protobuf.Timestamp", seconds: BigInt(seconds), nanos: time.nanos ?? 0 };
}

/**
 * The saga's steps from its history: one per scheduled activity, in the
 * order scheduled, each with the attempt that ran last and how it ended.
 * Temporal records an activity's start only with its final attempt, so a
 * step retrying right now shows as scheduled.
 */
export function sagaStepsFrom(events: readonly HistoryEventLike[]): SagaStep[] {
  const steps = new Map<string, SagaStep>();
  const step = (scheduledId: IntLike) => steps.get(idOf(scheduledId));
  for (const event of events) {
    const type = typeName(event.eventType);
    const at = timestampOf(event.eventTime);
    switch (type) {
      case "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED": {
        const activity = event.activityTaskScheduledEventAttributes?.activityType?.name ?? "";
        steps.set(
          idOf(event.eventId),
          create(SagaStepSchema, {
            activity,
            attempt: 1,
            state: StepState.SCHEDULED,
            ...(at ? { scheduledAt: at } : {}),
            compensation: COMPENSATION_ACTIVITIES.has(activity),
          }),
        );
        break;
      }
      case "EVENT_TYPE_ACTIVITY_TASK_STARTED": {
        const attrs = event.activityTaskStartedEventAttributes;
        const s = step(attrs?.scheduledEventId);
        if (!s) break;
        s.attempt = attrs?.attempt ?? s.attempt;
        if (s.state === StepState.SCHEDULED) s.state = StepState.STARTED;
        if (at) s.startedAt = at;
        break;
      }
      case "EVENT_TYPE_ACTIVITY_TASK_COMPLETED": {
        const s = step(event.activityTaskCompletedEventAttributes?.scheduledEventId);
        if (!s) break;
        s.state = StepState.COMPLETED;
        if (at) s.completedAt = at;
        break;
      }
      case "EVENT_TYPE_ACTIVITY_TASK_FAILED":
      case "EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT": {
        const attrs =
          type === "EVENT_TYPE_ACTIVITY_TASK_FAILED"
            ? event.activityTaskFailedEventAttributes
            : event.activityTaskTimedOutEventAttributes;
        const s = step(attrs?.scheduledEventId);
        if (!s) break;
        s.state = type === "EVENT_TYPE_ACTIVITY_TASK_FAILED" ? StepState.FAILED : StepState.TIMED_OUT;
        s.failureMessage = (attrs?.failure?.message ?? "").slice(0, 2000);
        if (at) s.failedAt = at;
        break;
      }
      case "EVENT_TYPE_ACTIVITY_TASK_CANCELED": {
        const s = step(event.activityTaskCanceledEventAttributes?.scheduledEventId);
        if (!s) break;
        s.state = StepState.CANCELED;
        if (at) s.failedAt = at;
        break;
      }
    }
  }
  return [...steps.values()];
}

const RUN_STATUSES: Readonly<Record<string, RunStatus>> = {
  RUNNING: RunStatus.RUNNING,
  COMPLETED: RunStatus.COMPLETED,
  FAILED: RunStatus.FAILED,
  CANCELLED: RunStatus.CANCELED,
  TERMINATED: RunStatus.TERMINATED,
  CONTINUED_AS_NEW: RunStatus.CONTINUED_AS_NEW,
  TIMED_OUT: RunStatus.TIMED_OUT,
};

/** The client's describe() status name ("RUNNING", "COMPLETED", ...) as the RPC's enum. */
export function runStatusOf(name: string): RunStatus {
  return RUN_STATUSES[name] ?? RunStatus.UNSPECIFIED;
}

/** The workflow's status query answer as the RPC's message. */
export function sagaStatusFrom(status: OrderWorkflowStatus): SagaStatus {
  return create(SagaStatusSchema, {
    step: status.step,
    outcome: status.outcome ?? "",
    failureReason: status.failureReason ?? "",
    compensated: [...status.compensated],
    paymentId: status.paymentId ?? "",
    shipmentId: status.shipmentId ?? "",
    cancelRequested: status.cancelRequested ?? false,
    lateCancelIgnored: status.lateCancelIgnored ?? false,
  });
}
