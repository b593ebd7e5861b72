import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { RunStatus, StepState } from "#gen/accord/orchestrator/v1/saga_pb.js";
import {
  type HistoryEventLike,
  runStatusOf,
  sagaStepsFrom,
} from "#services/orchestrator/src/saga/saga-steps.ts";

async function events(file: string): Promise<HistoryEventLike[]> {
  const json = JSON.parse(await readFile(new URL(`../fixtures/${file}`, import.meta.url), "utf8"));
  return json.events;
}

describe("saga steps from a recorded history", () => {
  it("lists the happy path's activities in order, each completed on its first attempt", async () => {
    const steps = sagaStepsFrom(await events("order-workflow-history.json"));
    expect(steps.map((s) => [s.activity, s.state, s.attempt, s.compensation])).toEqual([
      ["reserveInventory", StepState.COMPLETED, 1, false],
      ["chargePayment", StepState.COMPLETED, 1, false],
      ["createShipment", StepState.COMPLETED, 1, false],
      ["confirmOrder", StepState.COMPLETED, 1, false],
      ["markOrderDelivered", StepState.COMPLETED, 1, false],
    ]);
    const first = steps[0];
    expect(first?.scheduledAt && first.startedAt && first.completedAt).toBeTruthy();
    expect(Number(first?.completedAt?.seconds)).toBeGreaterThanOrEqual(Number(first?.scheduledAt?.seconds));
  });

  it("marks the compensations of a cancelled order", async () => {
    const steps = sagaStepsFrom(await events("order-workflow-cancel-history.json"));
    expect(steps.filter((s) => s.compensation).map((s) => s.activity)).toEqual([
      "refundPayment",
      "releaseInventory",
    ]);
  });

  it("reads a failed attempt's message and its attempt number, from SDK-shaped events too", () => {
    const steps = sagaStepsFrom([
      {
        eventId: 5,
        eventType: 10, // EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        eventTime: { seconds: 100, nanos: 0 },
        activityTaskScheduledEventAttributes: { activityType: { name: "chargePayment" } },
      },
      {
        eventId: 6,
        eventType: "EVENT_TYPE_ACTIVITY_TASK_STARTED",
        eventTime: "1970-01-01T00:01:50Z",
        activityTaskStartedEventAttributes: { scheduledEventId: "5", attempt: 3 },
      },
      {
        eventId: 7,
        eventType: "EVENT_TYPE_ACTIVITY_TASK_FAILED",
        eventTime: "1970-01-01T00:02:00Z",
        activityTaskFailedEventAttributes: { scheduledEventId: 5, failure: { message: "payment declined" } },
      },
    ]);
    expect(steps).toHaveLength(1);
    expect(steps[0]?.state).toBe(StepState.FAILED);
    expect(steps[0]?.attempt).toBe(3);
    expect(steps[0]?.failureMessage).toBe("payment declined");
    expect(Number(steps[0]?.failedAt?.seconds)).toBe(120);
  });

  it("maps the client's run status names", () => {
    expect(runStatusOf("RUNNING")).toBe(RunStatus.RUNNING);
    expect(runStatusOf("CANCELLED")).toBe(RunStatus.CANCELED);
    expect(runStatusOf("whatever")).toBe(RunStatus.UNSPECIFIED);
  });
});
