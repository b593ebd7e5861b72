import type { JsonObject } from "@bufbuild/protobuf";
import {
  ActivityCancellationType,
  ActivityFailure,
  type ActivityOptions,
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
} from "@temporalio/workflow";
import type { FailureCategory, OrderActivities } from "../activities/order-activities.ts";

/*
 * The order saga. Workflow code must be deterministic: no I/O, no clocks, no
 * randomness, no generated protobuf code (the order travels as its protobuf
 * JSON mapping and only the activities turn it back into messages).
 *
 * Customers are not notified from here: orders writes OrderConfirmed /
 * OrderFailed / OrderCancelled / OrderDelivered to its outbox when the saga
 * calls the matching transition, and notifications reacts to those events.
 */

// ---------------------------------------------------------------- contract

/** Timings the saga runs with; all optional, milliseconds, so tests can shrink them. */
export interface OrderWorkflowTuning {
  /** How long to wait for the "delivered" signal after confirming; then finish as CONFIRMED. */
  deliveryTimeoutMs?: number;
  /** Limit of one activity attempt; a bit above the activities' breaker timeout. */
  attemptTimeoutMs?: number;
  /** How long a forward step (reserve, charge, ship) keeps retrying before the saga gives up. */
  stepDeadlineMs?: number;
  retryInitialIntervalMs?: number;
  retryMaximumIntervalMs?: number;
}

export interface OrderWorkflowInput {
  orderId: string;
  /** The order as accepted, in the protobuf JSON mapping (toJson(OrderSchema, order)). */
  order: JsonObject;
  tuning?: OrderWorkflowTuning;
}

export type OrderStep =
  | "started"
  | "reserve"
  | "charge"
  | "ship"
  | "confirm"
  | "awaiting-delivery"
  | "mark-delivered"
  | "compensating"
  | "fail-order"
  | "mark-cancelled"
  | "done";

export type OrderOutcome = "confirmed" | "delivered" | "failed" | "cancelled";

/** Compensations, named by their idempotency-key step. */
export type CompensationName = "release" | "refund" | "cancel-shipment";

export interface OrderWorkflowStatus {
  step: OrderStep;
  outcome?: OrderOutcome;
  failureReason?: string;
  /** Compensations that finished, in the order they ran. */
  compensated: CompensationName[];
  paymentId?: string;
  shipmentId?: string;
  /** True once a cancel signal was accepted (before the shipment existed). */
  cancelRequested?: boolean;
  /** True once a cancel signal arrived after the shipment existed (ignored). */
  lateCancelIgnored?: boolean;
}

export interface CancelSignalArgs {
  reason?: string;
}

/**
 * Sent with signal-with-start by bridges before eager start (ADR 0022); kept
 * so sagas started that way, and their recorded histories, still find it.
 */
export const orderPlacedSignal = defineSignal<[]>("placed");
export const cancelOrderSignal = defineSignal<[CancelSignalArgs?]>("cancel");
export const orderDeliveredSignal = defineSignal<[]>("delivered");
export const orderStatusQuery = defineQuery<OrderWorkflowStatus>("status");

export const DEFAULT_TUNING: Required<OrderWorkflowTuning> = {
  deliveryTimeoutMs: 30 * 24 * 60 * 60 * 1000,
  attemptTimeoutMs: 15_000,
  stepDeadlineMs: 60 * 60 * 1000,
  retryInitialIntervalMs: 1000,
  retryMaximumIntervalMs: 30_000,
};

// ---------------------------------------------------------------- workflow

/** Ends a forward step because a cancel signal won; never leaves the workflow. */
class CancelRequested extends Error {
  override name = "CancelRequested";
}

const CANCEL_WON = "cancel-won" as const;

interface Compensation {
  name: CompensationName;
  /** The step whose effect it undoes. */
  step: "reserve" | "charge" | "ship";
  run: () => Promise<unknown>;
}

export async function orderWorkflow(input: OrderWorkflowInput): Promise<OrderWorkflowStatus> {
  const { orderId, order } = input;
  const tuning = { ...DEFAULT_TUNING, ...input.tuning };
  const retry = {
    initialInterval: tuning.retryInitialIntervalMs,
    backoffCoefficient: 2,
    maximumInterval: tuning.retryMaximumIntervalMs,
  };
  // Forward steps retry transient failures for a long while (payments down for
  // a while: the order waits and completes when it returns), then give up.
  const forwardOptions: ActivityOptions = {
    startToCloseTimeout: tuning.attemptTimeoutMs,
    scheduleToCloseTimeout: tuning.stepDeadlineMs,
    retry,
    // A cancelled step is only given up once the server says the activity is
    // no longer running, so a compensation never races its own step.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  };
  // Compensations and order transitions must finish: unlimited attempts.
  const untilDoneOptions: ActivityOptions = {
    startToCloseTimeout: tuning.attemptTimeoutMs,
    retry,
  };
  const forward = proxyActivities<OrderActivities>(forwardOptions);
  const untilDone = proxyActivities<OrderActivities>(untilDoneOptions);

  const status: OrderWorkflowStatus = { step: "started", compensated: [] };
  let cancel: CancelSignalArgs | undefined;
  let shipped = false;
  let delivered = false;

  setHandler(orderStatusQuery, () => status);
  setHandler(orderPlacedSignal, () => {
    // A redelivered OrderPlaced while the saga runs: nothing to do.
  });
  setHandler(cancelOrderSignal, (args?: CancelSignalArgs) => {
    if (shipped) {
      // The shipment exists and the order is (being) confirmed: too late to cancel.
      status.lateCancelIgnored = true;
      log.info("cancel signal after shipping ignored", { orderId });
      return;
    }
    cancel ??= { reason: args?.reason ?? "cancelled by customer" };
    status.cancelRequested = true;
  });
  setHandler(orderDeliveredSignal, () => {
    delivered = true;
  });

  const compensations: Compensation[] = [];
  /** Why compensations run; passed to the services, which store it. */
  let undoReason = "order saga compensation";

  /**
   * Runs a forward step, raced with the cancel signal: when cancel wins, the
   * step's activity is cancelled and awaited (it may still have taken effect;
   * its compensation is registered already, so it is undone either way).
   */
  async function forwardStep<T>(step: "reserve" | "charge" | "ship", fn: () => Promise<T>): Promise<T> {
    if (cancel) throw new CancelRequested();
    status.step = step;
    const stepScope = new CancellationScope();
    const watchScope = new CancellationScope();
    const running = stepScope.run(fn);
    // Rejects only when the scope is torn down; then the step's own outcome decides.
    const cancelWon = watchScope
      .run(() => condition(() => cancel !== undefined))
      .then(
        () => CANCEL_WON,
        () => new Promise<never>(() => undefined),
      );
    try {
      const winner = await Promise.race([running.then((value) => ({ value })), cancelWon]);
      if (winner === CANCEL_WON) {
        stepScope.cancel();
        await running.catch(() => undefined);
        throw new CancelRequested();
      }
      return winner.value;
    } finally {
      watchScope.cancel();
    }
  }

  async function compensate(): Promise<string[]> {
    status.step = "compensating";
    const errors: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const c of [...compensations].reverse()) {
        try {
          await c.run();
          status.compensated.push(c.name);
        } catch (err) {
          // Retried until done already; what reaches here is a refusal that no
          // retry can fix. Go on with the others, then fail the run visibly.
          const message = `${c.name} failed: ${describe(err)}`;
          log.error("compensation could not finish", { orderId, compensation: c.name, error: message });
          errors.push(message);
        }
      }
    });
    return errors;
  }

  function surface(errors: string[]): void {
    if (errors.length === 0) return;
    throw ApplicationFailure.nonRetryable(
      `order ${orderId}: compensation could not finish: ${errors.join("; ")}`,
      "CompensationFailed",
    );
  }

  try {
    // Each compensation is registered before its step: a step that timed out
    // may still have taken effect, and compensations are harmless when there
    // is nothing to undo.
    compensations.push({
      name: "release",
      step: "reserve",
      run: () => untilDone.releaseInventory(orderId, undoReason),
    });
    await forwardStep("reserve", () => forward.reserveInventory(order));

    compensations.push({
      name: "refund",
      step: "charge",
      run: () => untilDone.refundPayment(orderId, undoReason),
    });
    const { paymentId } = await forwardStep("charge", () => forward.chargePayment(order));
    status.paymentId = paymentId;

    compensations.push({
      name: "cancel-shipment",
      step: "ship",
      run: () => untilDone.cancelShipment(orderId, undoReason),
    });
    const { shipmentId } = await forwardStep("ship", () => forward.createShipment(order));
    status.shipmentId = shipmentId;
    shipped = true;
    if (cancel) status.lateCancelIgnored = true; // arrived as the shipment was created

    status.step = "confirm";
    await untilDone.confirmOrder(orderId, paymentId, shipmentId);
    status.outcome = "confirmed";
  } catch (err) {
    if (err instanceof CancelRequested) {
      undoReason = `cancelled: ${cancel?.reason ?? "cancel requested"}`;
      const errors = await compensate();
      status.step = "mark-cancelled";
      await CancellationScope.nonCancellable(() => untilDone.markOrderCancelled(orderId));
      status.outcome = "cancelled";
      status.failureReason = cancel?.reason;
      status.step = "done";
      surface(errors);
      return status;
    }
    if (isCancellation(err)) {
      // The workflow itself was cancelled (operator): undo and record it, then end cancelled.
      undoReason = "order workflow cancelled";
      await compensate();
      await CancellationScope.nonCancellable(() => untilDone.markOrderCancelled(orderId));
      status.outcome = "cancelled";
      status.step = "done";
      throw err;
    }
    const failure = classifyFailure(err, status.step);
    if (failure.definitiveRefusal) {
      // The service refused outright (out of stock, declined, no shipment):
      // the step did nothing, so its own compensation has nothing to undo.
      const i = compensations.findIndex((c) => c.step === failure.step);
      if (i >= 0) compensations.splice(i, 1);
    }
    status.failureReason = failure.reason;
    undoReason = `order failed: ${failure.reason}`;
    const errors = await compensate();
    status.step = "fail-order";
    await CancellationScope.nonCancellable(() =>
      untilDone.failOrder(orderId, failure.category, failure.reason),
    );
    status.outcome = "failed";
    status.step = "done";
    surface(errors);
    return status;
  }

  // Confirmed. Wait durably for the carrier's delivery; a timeout leaves the order CONFIRMED.
  status.step = "awaiting-delivery";
  if (await condition(() => delivered, tuning.deliveryTimeoutMs)) {
    status.step = "mark-delivered";
    await untilDone.markOrderDelivered(orderId);
    status.outcome = "delivered";
  }
  status.step = "done";
  return status;
}

// ---------------------------------------------------------------- failures

export interface ClassifiedFailure {
  step: OrderStep;
  category: FailureCategory;
  reason: string;
  /** FailedPrecondition from the step's own service: it did nothing. */
  definitiveRefusal: boolean;
}

/** What a failed step means for the order: FailOrder's category and reason, and whether the step did nothing. */
export function classifyFailure(err: unknown, step: OrderStep): ClassifiedFailure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const business = cause instanceof ApplicationFailure && cause.nonRetryable;
  const code = business ? (cause.type ?? "Unknown") : undefined;
  const reason = business ? cause.message : `${step} did not complete: ${describe(err)}`;
  const refused = code === "FailedPrecondition";
  let category: FailureCategory = "OTHER";
  if (step === "reserve" && refused) category = "OUT_OF_STOCK";
  else if (step === "charge" && refused) category = "PAYMENT_DECLINED";
  else if (step === "ship") category = "SHIPPING_FAILED";
  return { step, category, reason, definitiveRefusal: refused };
}

function describe(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
