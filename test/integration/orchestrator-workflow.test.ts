import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { create, type JsonObject, toJson } from "@bufbuild/protobuf";
import { ApplicationFailure } from "@temporalio/activity";
import { type Client, WorkflowFailedError, type WorkflowHandle } from "@temporalio/client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { OrderSchema, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { createLogger } from "#lib/observability/logger.ts";
import { connectTemporalClient } from "#lib/temporal.ts";
import {
  AMOUNT_CONFLICT,
  type OrderActivities,
} from "#services/orchestrator/src/activities/order-activities.ts";
import { type OrchestratorWorker, startOrchestratorWorker } from "#services/orchestrator/src/worker.ts";
import {
  cancelOrderSignal,
  type OrderWorkflowTuning,
  orderDeliveredSignal,
  orderStatusQuery,
  orderWorkflow,
} from "#services/orchestrator/src/workflows/order.ts";

// The real OrderWorkflow on the real Temporal dev server, with its activities
// replaced by in-memory doubles that record calls: a test of the saga's logic.
const taskQueue = `test-orders-${randomUUID()}`;
const FIXTURES = new URL("../fixtures/", import.meta.url);
const TEMPORAL_CLI =
  process.env.TEMPORAL_CLI ??
  new URL("../../.accord/cache/temporal-v1.5.1/temporal", import.meta.url).pathname;
const FAST: OrderWorkflowTuning = {
  attemptTimeoutMs: 5000,
  retryInitialIntervalMs: 50,
  retryMaximumIntervalMs: 200,
  deliveryTimeoutMs: 60_000,
};

type Name = keyof OrderActivities;
interface RecordedCall {
  name: Name;
  args: unknown[];
}
type Behaviour = {
  [K in Name]?: (...args: Parameters<OrderActivities[K]>) => ReturnType<OrderActivities[K]>;
};

interface Scenario {
  calls: RecordedCall[];
  behaviour: Behaviour;
}

const scenarios = new Map<string, Scenario>();

const DEFAULTS: OrderActivities = {
  reserveInventory: async () => ({ reservationId: "res-1" }),
  releaseInventory: async () => ({ released: true }),
  chargePayment: async () => ({ paymentId: "pay-1" }),
  refundPayment: async () => ({ refunded: true }),
  createShipment: async () => ({ shipmentId: "shp-1" }),
  cancelShipment: async () => ({ cancelled: true }),
  confirmOrder: async () => undefined,
  failOrder: async () => undefined,
  markOrderCancelled: async () => undefined,
  markOrderDelivered: async () => undefined,
};

/** Every activity records its call under the order's scenario, then acts as that scenario says. */
function doubles(): OrderActivities {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of Object.keys(DEFAULTS) as Name[]) {
    out[name] = async (...args: unknown[]) => {
      const first = args[0];
      const orderId = typeof first === "string" ? first : String((first as JsonObject).orderId);
      const scenario = scenarios.get(orderId);
      if (!scenario) throw ApplicationFailure.nonRetryable(`no scenario for ${orderId}`, "TestSetup");
      scenario.calls.push({ name, args });
      const fn = (scenario.behaviour[name] ?? DEFAULTS[name]) as (...a: unknown[]) => Promise<unknown>;
      return fn(...args);
    };
  }
  return out as unknown as OrderActivities;
}

let client: Client;
const started = new Set<string>();
let worker: OrchestratorWorker;

beforeAll(async () => {
  const target = {
    address: process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233",
    namespace: process.env.TEMPORAL_NAMESPACE ?? "default",
  };
  client = await connectTemporalClient(target);
  worker = await startOrchestratorWorker({
    ...target,
    taskQueue,
    logger: createLogger("orchestrator-workflow-test", process.env.TEST_LOG_LEVEL ?? "error"),
    activities: doubles(),
  });
});

afterAll(async () => {
  // A failed test may leave its saga running; end it so nothing lingers on the server.
  await Promise.all(
    [...started].map((id) =>
      client?.workflow
        .getHandle(id)
        .terminate("test cleanup")
        .catch(() => undefined),
    ),
  );
  await worker?.shutdown();
  await client?.connection.close();
});

function orderJson(orderId: string): JsonObject {
  const order = create(OrderSchema, {
    orderId,
    customerId: "cust-1",
    customerEmail: "ada@example.com",
    lines: [{ sku: "SKU-1", quantity: 2, unitPrice: { currencyCode: "EUR", amountMinor: 1250n } }],
    total: { currencyCode: "EUR", amountMinor: 2500n },
    shippingAddress: { line1: "Main St 1", city: "Berlin", postalCode: "10115", countryCode: "DE" },
    status: OrderStatus.PENDING,
  });
  return toJson(OrderSchema, order) as JsonObject;
}

async function startSaga(behaviour: Behaviour = {}, tuning: OrderWorkflowTuning = {}) {
  const orderId = randomUUID();
  const scenario: Scenario = { calls: [], behaviour };
  scenarios.set(orderId, scenario);
  const handle = await client.workflow.start(orderWorkflow, {
    taskQueue,
    workflowId: `order-${orderId}`,
    workflowExecutionTimeout: "2 minutes",
    args: [{ orderId, order: orderJson(orderId), tuning: { ...FAST, ...tuning } }],
  });
  started.add(handle.workflowId);
  return { orderId, scenario, handle };
}

const names = (s: Scenario) => s.calls.map((c) => c.name);

const WAIT = { timeout: 15_000, interval: 50 };

/** The saga's status query, polled until it matches. */
function statusOf(handle: WorkflowHandle<typeof orderWorkflow>) {
  return expect.poll(() => handle.query(orderStatusQuery), WAIT);
}

/** Waits until the scenario's activity was called (at least once). */
async function calledAlready(scenario: Scenario, name: Name): Promise<void> {
  await vi.waitFor(() => expect(names(scenario)).toContain(name), { ...WAIT, interval: 20 });
}

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

/**
 * Writes a closed run's history as the fixture the replay unit test replays
 * (RECORD_ORDER_HISTORY=1). The CLI writes the same JSON as every Temporal
 * tool; the SDK's historyToJSON trips over duplicated protobufjs under vitest.
 */
async function recordHistory(workflowId: string, fixture: string): Promise<void> {
  const { stdout } = await promisify(execFile)(TEMPORAL_CLI, [
    "workflow",
    "show",
    "--workflow-id",
    workflowId,
    "--output",
    "json",
    "--address",
    process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233",
  ]);
  await writeFile(new URL(fixture, FIXTURES), stdout.endsWith("\n") ? stdout : `${stdout}\n`);
}

const business = (message: string, code = "FailedPrecondition") =>
  ApplicationFailure.nonRetryable(message, code);

describe("OrderWorkflow saga", () => {
  it("reserves, charges, ships, confirms, then marks delivered on the delivered signal", async () => {
    const { orderId, scenario, handle } = await startSaga({
      chargePayment: async () => ({ paymentId: "pay-happy" }),
      createShipment: async () => ({ shipmentId: "shp-happy" }),
    });

    await statusOf(handle).toMatchObject({ step: "awaiting-delivery" });
    expect(await handle.query(orderStatusQuery)).toEqual({
      step: "awaiting-delivery",
      outcome: "confirmed",
      compensated: [],
      paymentId: "pay-happy",
      shipmentId: "shp-happy",
    });
    expect(names(scenario)).toEqual(["reserveInventory", "chargePayment", "createShipment", "confirmOrder"]);
    expect(scenario.calls[3]?.args).toEqual([orderId, "pay-happy", "shp-happy"]);

    await handle.signal(orderDeliveredSignal);
    const result = await handle.result();
    expect(result).toMatchObject({ step: "done", outcome: "delivered", compensated: [] });
    expect(names(scenario).at(-1)).toBe("markOrderDelivered");
    // The query is answered after the run closed, too (replayed from history).
    expect(await handle.query(orderStatusQuery)).toMatchObject({ step: "done", outcome: "delivered" });

    const history = await handle.fetchHistory();
    const types = (history.events ?? []).map(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name,
    );
    expect(types.filter(Boolean)).toEqual([
      "reserveInventory",
      "chargePayment",
      "createShipment",
      "confirmOrder",
      "markOrderDelivered",
    ]);
    if (process.env.RECORD_ORDER_HISTORY === "1")
      await recordHistory(handle.workflowId, "order-workflow-history.json");
  });

  it("finishes with the order CONFIRMED when no delivery arrives before the timeout", async () => {
    const { scenario, handle } = await startSaga({}, { deliveryTimeoutMs: 300 });
    const result = await handle.result();
    expect(result).toMatchObject({ step: "done", outcome: "confirmed" });
    expect(names(scenario)).toEqual(["reserveInventory", "chargePayment", "createShipment", "confirmOrder"]);
  });

  it("out of stock: fails the order with OUT_OF_STOCK and nothing to undo", async () => {
    const { orderId, scenario, handle } = await startSaga({
      reserveInventory: async () => {
        throw business("inventory.Reserve: out of stock: SKU-1");
      },
    });
    const result = await handle.result();
    expect(names(scenario)).toEqual(["reserveInventory", "failOrder"]);
    expect(scenario.calls[1]?.args).toEqual([
      orderId,
      "OUT_OF_STOCK",
      "inventory.Reserve: out of stock: SKU-1",
    ]);
    expect(result).toMatchObject({ outcome: "failed", compensated: [], failureReason: expect.any(String) });
  });

  it("payment declined: releases the stock (retried until done), then PAYMENT_DECLINED", async () => {
    let releaseAttempts = 0;
    const { orderId, scenario, handle } = await startSaga({
      chargePayment: async () => {
        throw business("payments.Charge: card declined");
      },
      releaseInventory: async () => {
        releaseAttempts += 1;
        if (releaseAttempts < 3) throw ApplicationFailure.retryable("inventory down", "Unavailable");
        return { released: true };
      },
    });
    const result = await handle.result();
    expect(names(scenario)).toEqual([
      "reserveInventory",
      "chargePayment",
      "releaseInventory",
      "releaseInventory",
      "releaseInventory",
      "failOrder",
    ]);
    expect(scenario.calls.at(-1)?.args).toEqual([
      orderId,
      "PAYMENT_DECLINED",
      "payments.Charge: card declined",
    ]);
    expect(result).toMatchObject({ outcome: "failed", compensated: ["release"] });
  });

  it("charge refused because the order already holds another amount: refunds what is held, releases, then OTHER", async () => {
    const { orderId, scenario, handle } = await startSaga({
      chargePayment: async () => {
        throw business(
          "payments.Charge: amount: the order already has a payment of 1 EUR (minor units)",
          AMOUNT_CONFLICT,
        );
      },
    });
    const result = await handle.result();
    expect(names(scenario)).toEqual([
      "reserveInventory",
      "chargePayment",
      "refundPayment",
      "releaseInventory",
      "failOrder",
    ]);
    expect(scenario.calls.find((c) => c.name === "refundPayment")?.args[0]).toBe(orderId);
    expect(scenario.calls.at(-1)?.args[1]).toBe("OTHER");
    expect(result).toMatchObject({ outcome: "failed", compensated: ["refund", "release"] });
  });

  it("shipping fails: refunds, then releases, then SHIPPING_FAILED", async () => {
    const { orderId, scenario, handle } = await startSaga({
      createShipment: async () => {
        throw business("shipping.CreateShipment: address not deliverable", "InvalidArgument");
      },
    });
    const result = await handle.result();
    expect(names(scenario)).toEqual([
      "reserveInventory",
      "chargePayment",
      "createShipment",
      // A refusal other than FailedPrecondition may have left something behind: undone too.
      "cancelShipment",
      "refundPayment",
      "releaseInventory",
      "failOrder",
    ]);
    expect(scenario.calls.at(-1)?.args[1]).toBe("SHIPPING_FAILED");
    expect(scenario.calls.find((c) => c.name === "refundPayment")?.args[0]).toBe(orderId);
    expect(result).toMatchObject({
      outcome: "failed",
      compensated: ["cancel-shipment", "refund", "release"],
    });
  });

  it("shipping refused (FailedPrecondition): refund and release only", async () => {
    const { scenario, handle } = await startSaga({
      createShipment: async () => {
        throw business("shipping.CreateShipment: carrier refused the parcel");
      },
    });
    const result = await handle.result();
    expect(names(scenario)).toEqual([
      "reserveInventory",
      "chargePayment",
      "createShipment",
      "refundPayment",
      "releaseInventory",
      "failOrder",
    ]);
    expect(result).toMatchObject({ outcome: "failed", compensated: ["refund", "release"] });
  });

  it("retries transient failures (breaker open, Unavailable) and completes", async () => {
    let reserves = 0;
    let charges = 0;
    const { scenario, handle } = await startSaga(
      {
        reserveInventory: async () => {
          reserves += 1;
          if (reserves === 1)
            throw ApplicationFailure.retryable("circuit breaker inventory is open", "BreakerOpenError");
          return { reservationId: "res-1" };
        },
        chargePayment: async () => {
          charges += 1;
          if (charges < 3) throw ApplicationFailure.retryable("payments.Charge: unavailable", "Unavailable");
          return { paymentId: "pay-late" };
        },
      },
      { deliveryTimeoutMs: 100 },
    );
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: "confirmed", paymentId: "pay-late", compensated: [] });
    expect(names(scenario)).toEqual([
      "reserveInventory",
      "reserveInventory",
      "chargePayment",
      "chargePayment",
      "chargePayment",
      "createShipment",
      "confirmOrder",
    ]);
  });

  it("cancel while the charge runs: waits for it, refunds, releases, marks the order cancelled", async () => {
    const charging = gate();
    const { orderId, scenario, handle } = await startSaga({
      chargePayment: async () => {
        await charging.opened;
        return { paymentId: "pay-raced" };
      },
    });
    await calledAlready(scenario, "chargePayment");
    await handle.signal(cancelOrderSignal, { reason: "changed my mind" });
    await statusOf(handle).toMatchObject({ cancelRequested: true });
    // The charge went through after all: it is refunded, because refund was registered before it ran.
    charging.open();
    const result = await handle.result();
    expect(names(scenario)).toEqual([
      "reserveInventory",
      "chargePayment",
      "refundPayment",
      "releaseInventory",
      "markOrderCancelled",
    ]);
    expect(scenario.calls.find((c) => c.name === "releaseInventory")?.args).toEqual([
      orderId,
      "cancelled: changed my mind",
    ]);
    expect(result).toMatchObject({
      outcome: "cancelled",
      failureReason: "changed my mind",
      compensated: ["refund", "release"],
    });
    if (process.env.RECORD_ORDER_HISTORY === "1") {
      await recordHistory(handle.workflowId, "order-workflow-cancel-history.json");
    }
  });

  it("cancel while payments is down: stops retrying the charge at once and compensates", async () => {
    const { scenario, handle } = await startSaga(
      {
        chargePayment: async () => {
          throw ApplicationFailure.retryable("payments.Charge: unavailable", "Unavailable");
        },
      },
      { retryInitialIntervalMs: 1000, retryMaximumIntervalMs: 1000 },
    );
    await calledAlready(scenario, "chargePayment");
    await handle.signal(cancelOrderSignal, { reason: "too slow" });
    const result = await handle.result();
    const after = names(scenario).slice(names(scenario).lastIndexOf("chargePayment") + 1);
    expect(after).toEqual(["refundPayment", "releaseInventory", "markOrderCancelled"]);
    expect(names(scenario)).not.toContain("createShipment");
    expect(result).toMatchObject({ outcome: "cancelled", compensated: ["refund", "release"] });
  });

  it("ignores a cancel that arrives after the shipment was created", async () => {
    const { scenario, handle } = await startSaga();
    await statusOf(handle).toMatchObject({ step: "awaiting-delivery" });
    await handle.signal(cancelOrderSignal, { reason: "too late" });
    await statusOf(handle).toMatchObject({ lateCancelIgnored: true });
    await handle.signal(orderDeliveredSignal);
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: "delivered", compensated: [] });
    expect(names(scenario)).toEqual([
      "reserveInventory",
      "chargePayment",
      "createShipment",
      "confirmOrder",
      "markOrderDelivered",
    ]);
  });

  it("a compensation that cannot finish fails the run visibly after the others ran", async () => {
    const { scenario, handle } = await startSaga({
      createShipment: async () => {
        throw business("shipping.CreateShipment: refused");
      },
      refundPayment: async () => {
        throw business("payments.Refund: payment is disputed");
      },
    });
    const failed = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect((failed as WorkflowFailedError).cause).toMatchObject({
      type: "CompensationFailed",
      message: expect.stringContaining("refund failed: payments.Refund: payment is disputed"),
    });
    expect(names(scenario)).toEqual([
      "reserveInventory",
      "chargePayment",
      "createShipment",
      "refundPayment",
      "releaseInventory",
      "failOrder",
    ]);
    expect(await handle.query(orderStatusQuery)).toMatchObject({
      outcome: "failed",
      compensated: ["release"],
    });
  });
});

describe("the SDK's per-promise workflow stack traces (ADR 0023)", () => {
  // A second worker, on its own task queue, with the stack traces kept: the
  // same saga, blocked at the same point, is asked for its stack on both.
  const tracedQueue = `${taskQueue}-stack-traces`;
  let tracedWorker: OrchestratorWorker | undefined;

  beforeAll(async () => {
    tracedWorker = await startOrchestratorWorker({
      address: process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233",
      namespace: process.env.TEMPORAL_NAMESPACE ?? "default",
      taskQueue: tracedQueue,
      logger: createLogger("orchestrator-workflow-test", process.env.TEST_LOG_LEVEL ?? "error"),
      activities: doubles(),
      workflowStackTraces: true,
    });
  });
  afterAll(async () => {
    await tracedWorker?.shutdown();
  });

  async function stackWhileAwaitingDelivery(queue: string): Promise<string> {
    const orderId = randomUUID();
    scenarios.set(orderId, { calls: [], behaviour: {} });
    const handle = await client.workflow.start(orderWorkflow, {
      taskQueue: queue,
      workflowId: `order-${orderId}`,
      workflowExecutionTimeout: "2 minutes",
      args: [{ orderId, order: orderJson(orderId), tuning: FAST }],
    });
    started.add(handle.workflowId);
    await statusOf(handle).toMatchObject({ step: "awaiting-delivery" });
    return handle.query<string>("__stack_trace");
  }

  it("are off by default: the stack query names no frame, the status query still says where the saga waits", async () => {
    const stack = await stackWhileAwaitingDelivery(taskQueue);
    // (What is left of each trace is the bare "Error" the SDK's hook made.)
    expect(stack).not.toMatch(/^\s+at /m);
    expect(stack).not.toMatch(/order\.ts/);
  });

  it("are kept with workflowStackTraces: the stack query points into the saga's source", async () => {
    const stack = await stackWhileAwaitingDelivery(tracedQueue);
    expect(stack).toMatch(/orderWorkflow.*order\.ts:\d+/s);
  });
});
