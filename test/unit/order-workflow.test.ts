import { Code, ConnectError } from "@connectrpc/connect";
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from "@temporalio/workflow";
import { describe, expect, it } from "vitest";
import { BreakerOpenError, BreakerTimeoutError } from "#lib/breaker.ts";
import {
  AMOUNT_CONFLICT,
  idempotencyKey,
  isBusinessError,
  toActivityError,
} from "#services/orchestrator/src/activities/order-activities.ts";
import { classifyFailure, DEFAULT_TUNING } from "#services/orchestrator/src/workflows/order.ts";

// Pure parts of the saga: how a failed call becomes a Temporal failure, and
// how a failed step becomes FailOrder's category. The saga's control flow is
// covered live (test/integration/orchestrator-workflow.test.ts) and by replay
// (test/unit/order-workflow-replay.test.ts).

/** A failure as the workflow sees it: the activity's error wrapped in an ActivityFailure. */
function fromActivity(cause: Error): ActivityFailure {
  return new ActivityFailure(
    "Activity task failed",
    "someActivity",
    "1",
    "NON_RETRYABLE_FAILURE",
    "worker",
    cause,
  );
}

describe("toActivityError", () => {
  it.each([
    [Code.InvalidArgument, "InvalidArgument"],
    [Code.FailedPrecondition, "FailedPrecondition"],
    [Code.NotFound, "NotFound"],
    [Code.AlreadyExists, "AlreadyExists"],
  ])("makes Connect %s a non-retryable business failure typed %s", (code, type) => {
    const error = toActivityError(new ConnectError("nope", code), "payments.Charge");
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ nonRetryable: true, type, message: "payments.Charge: nope" });
    expect(isBusinessError(new ConnectError("nope", code))).toBe(true);
  });

  it.each([
    Code.Unavailable,
    Code.DeadlineExceeded,
    Code.ResourceExhausted,
    Code.Aborted,
    Code.Internal,
    Code.Unknown,
    Code.Unimplemented,
  ])("makes Connect code %s retryable", (code) => {
    const error = toActivityError(new ConnectError("down", code), "inventory.Reserve");
    expect(error).toMatchObject({ nonRetryable: false, type: Code[code] });
    expect(isBusinessError(new ConnectError("down", code))).toBe(false);
  });

  it("types a charge refused for another amount already held apart from a decline, so the refund step stays", () => {
    const conflict = new ConnectError(
      "amount: order o-1 already has a payment of 1 EUR (minor units); a charge of 1250 EUR is refused",
      Code.FailedPrecondition,
    );
    const error = toActivityError(conflict, "payments.Charge");
    expect(error).toMatchObject({ nonRetryable: true, type: AMOUNT_CONFLICT });
    expect(classifyFailure(fromActivity(error as ApplicationFailure), "charge")).toMatchObject({
      category: "OTHER",
      definitiveRefusal: false,
    });
    // The same code for a decline stays a definitive refusal, and another call's "amount:" is not a conflict.
    expect(
      toActivityError(new ConnectError("card declined", Code.FailedPrecondition), "payments.Charge"),
    ).toMatchObject({
      type: "FailedPrecondition",
    });
    expect(toActivityError(conflict, "payments.Refund")).toMatchObject({ type: "FailedPrecondition" });
  });

  it("makes an open breaker and a breaker timeout retryable", () => {
    expect(toActivityError(new BreakerOpenError("payments"), "payments.Charge")).toMatchObject({
      nonRetryable: false,
      type: "BreakerOpenError",
    });
    expect(toActivityError(new BreakerTimeoutError("payments", 10), "payments.Charge")).toMatchObject({
      nonRetryable: false,
      type: "BreakerTimeoutError",
    });
    expect(isBusinessError(new BreakerOpenError("payments"))).toBe(false);
  });

  it("passes other errors through (retryable by default) and wraps non-errors", () => {
    const network = new TypeError("fetch failed");
    expect(toActivityError(network, "orders.ConfirmOrder")).toBe(network);
    expect(toActivityError("boom", "orders.ConfirmOrder").message).toBe("orders.ConfirmOrder: boom");
  });
});

describe("classifyFailure", () => {
  const refused = (message: string) =>
    fromActivity(ApplicationFailure.nonRetryable(message, "FailedPrecondition"));

  it("reads FailedPrecondition from reserve as OUT_OF_STOCK, a definitive refusal", () => {
    expect(classifyFailure(refused("inventory.Reserve: out of stock"), "reserve")).toEqual({
      step: "reserve",
      category: "OUT_OF_STOCK",
      reason: "inventory.Reserve: out of stock",
      definitiveRefusal: true,
    });
  });

  it("reads FailedPrecondition from charge as PAYMENT_DECLINED", () => {
    expect(classifyFailure(refused("declined"), "charge")).toMatchObject({
      category: "PAYMENT_DECLINED",
      definitiveRefusal: true,
    });
  });

  it("reads any business failure of ship as SHIPPING_FAILED; only FailedPrecondition proves nothing was done", () => {
    const invalid = fromActivity(ApplicationFailure.nonRetryable("bad address", "InvalidArgument"));
    expect(classifyFailure(invalid, "ship")).toMatchObject({
      category: "SHIPPING_FAILED",
      definitiveRefusal: false,
    });
    expect(classifyFailure(refused("carrier refused"), "ship")).toMatchObject({
      category: "SHIPPING_FAILED",
      definitiveRefusal: true,
    });
  });

  it("reads other business failures of reserve and charge as OTHER, keeping their compensation", () => {
    const invalid = fromActivity(ApplicationFailure.nonRetryable("items: empty", "InvalidArgument"));
    expect(classifyFailure(invalid, "reserve")).toMatchObject({
      category: "OTHER",
      definitiveRefusal: false,
    });
    expect(classifyFailure(invalid, "charge")).toMatchObject({ category: "OTHER", definitiveRefusal: false });
  });

  it("reads a step that ran out of time (retries exhausted) as OTHER, not definitive", () => {
    const timedOut = fromActivity(new TimeoutFailure("activity timeout", undefined, "SCHEDULE_TO_CLOSE"));
    const failure = classifyFailure(timedOut, "charge");
    expect(failure).toMatchObject({ category: "OTHER", definitiveRefusal: false });
    expect(failure.reason).toMatch(/^charge did not complete: /);
  });
});

describe("saga conventions", () => {
  it("keys each step order-<id>/<step>", () => {
    expect(idempotencyKey("0190a1b2", "cancel-shipment")).toBe("order-0190a1b2/cancel-shipment");
  });

  it("retries with backoff from 1 s to 30 s and gives a forward step an hour by default", () => {
    expect(DEFAULT_TUNING).toMatchObject({
      retryInitialIntervalMs: 1000,
      retryMaximumIntervalMs: 30_000,
      stepDeadlineMs: 3_600_000,
    });
  });
});
