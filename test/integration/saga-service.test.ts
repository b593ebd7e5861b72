import { randomUUID } from "node:crypto";
import { create, type JsonObject, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ApplicationFailure } from "@temporalio/activity";
import type { Client } from "@temporalio/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunStatus, SagaService, StepState } from "#gen/accord/orchestrator/v1/saga_pb.js";
import { OrderSchema, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { createLogger } from "#lib/observability/logger.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { connectTemporalClient } from "#lib/temporal.ts";
import type { OrderActivities } from "#services/orchestrator/src/activities/order-activities.ts";
import { type OrchestratorWorker, startOrchestratorWorker } from "#services/orchestrator/src/worker.ts";
import { orderWorkflow } from "#services/orchestrator/src/workflows/order.ts";
import { callerAs } from "#test/support/identity.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// SagaService.GetSaga on the real orchestrator process, and through the real
// console's same-origin forwarding, with real tokens. The saga itself is the
// real OrderWorkflow on the Temporal dev server, run by a worker in this
// file whose activities are scripted (reserve succeeds, the charge is
// declined), so its history has a completed step, a failed one and a
// compensation; the orchestrator process polls a queue of its own and only
// answers the RPC (its query is answered by this file's worker).
const taskQueue = `test-saga-${randomUUID()}`;
const declined = "payments.Charge: card declined";

const activities: OrderActivities = {
  reserveInventory: async () => ({ reservationId: "res-1" }),
  releaseInventory: async () => ({ released: true }),
  chargePayment: async () => {
    throw ApplicationFailure.nonRetryable(declined, "FailedPrecondition");
  },
  refundPayment: async () => ({ refunded: true }),
  createShipment: async () => ({ shipmentId: "shp-1" }),
  cancelShipment: async () => ({ cancelled: true }),
  confirmOrder: async () => undefined,
  failOrder: async () => undefined,
  markOrderCancelled: async () => undefined,
  markOrderDelivered: async () => undefined,
};

let temporal: Client;
let worker: OrchestratorWorker;
let orchestrator: ServiceUnderTest<"orchestrator">;
let consoleProcess: ServiceUnderTest<"console">;
let orderId: string;

function orderJson(id: string): JsonObject {
  const order = create(OrderSchema, {
    orderId: id,
    customerId: "cust-1",
    customerEmail: "ada@example.com",
    lines: [{ sku: "SKU-1", quantity: 1, unitPrice: { currencyCode: "EUR", amountMinor: 900n } }],
    total: { currencyCode: "EUR", amountMinor: 900n },
    shippingAddress: { line1: "Main St 1", city: "Berlin", postalCode: "10115", countryCode: "DE" },
    status: OrderStatus.PENDING,
  });
  return toJson(OrderSchema, order) as JsonObject;
}

beforeAll(async () => {
  const target = {
    address: process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233",
    namespace: process.env.TEMPORAL_NAMESPACE ?? "default",
  };
  temporal = await connectTemporalClient(target);
  worker = await startOrchestratorWorker({
    ...target,
    taskQueue,
    logger: createLogger("saga-service-test", process.env.TEST_LOG_LEVEL ?? "error"),
    activities,
  });
  orchestrator = await startServiceUnderTest("orchestrator", {
    tag: "saga",
    env: { ORDERS_TASK_QUEUE: `test-saga-idle-${randomUUID()}` },
    timeoutMs: 60_000,
  });
  consoleProcess = await startServiceUnderTest("console", {
    tag: "saga",
    env: { ORCHESTRATOR_URL: orchestrator.url },
  });

  orderId = randomUUID();
  const handle = await temporal.workflow.start(orderWorkflow, {
    taskQueue,
    workflowId: `order-${orderId}`,
    workflowExecutionTimeout: "2 minutes",
    args: [
      {
        orderId,
        order: orderJson(orderId),
        tuning: { attemptTimeoutMs: 5000, retryInitialIntervalMs: 50, retryMaximumIntervalMs: 200 },
      },
    ],
  });
  await handle.result();
}, 120_000);

afterAll(async () => {
  await consoleProcess?.stop();
  await orchestrator?.stop();
  await worker?.shutdown();
  await temporal?.connection.close();
});

describe("SagaService.GetSaga", () => {
  it("answers the status query, the run status and every step with its failure and compensation", async () => {
    const saga = await orchestrator.client.getSaga({ orderId });
    expect(saga.workflowId).toBe(`order-${orderId}`);
    expect(saga.runId).not.toBe("");
    expect(saga.runStatus).toBe(RunStatus.COMPLETED);
    expect(saga.startedAt).toBeDefined();
    expect(saga.closedAt).toBeDefined();
    expect(saga.status).toMatchObject({ step: "done", outcome: "failed", compensated: ["release"] });
    expect(saga.status?.failureReason).toContain("card declined");
    expect(saga.steps.map((s) => [s.activity, s.state, s.compensation])).toEqual([
      ["reserveInventory", StepState.COMPLETED, false],
      ["chargePayment", StepState.FAILED, false],
      ["releaseInventory", StepState.COMPLETED, true],
      ["failOrder", StepState.COMPLETED, false],
    ]);
    const charge = saga.steps[1];
    expect(charge?.failureMessage).toBe(declined);
    expect(charge?.attempt).toBe(1);
    expect(charge?.failedAt).toBeDefined();
    expect(charge?.completedAt).toBeUndefined();
  });

  it("is the same answer through the console's forwarding, with the operator's token", async () => {
    const viaConsole = rpcClient(
      SagaService,
      consoleProcess.url,
      "connect-json",
      callerAs("olivia", "orchestrator"),
    );
    const saga = await viaConsole.getSaga({ orderId });
    expect(saga.runStatus).toBe(RunStatus.COMPLETED);
    expect(saga.steps.map((s) => s.activity)).toContain("releaseInventory");
  });

  it("refuses a customer (through the console too), an anonymous caller, a bad id, and finds no unknown order", async () => {
    const alice = orchestrator.clientAs("alice");
    await expect(alice.getSaga({ orderId })).rejects.toMatchObject({ code: Code.PermissionDenied });
    const aliceViaConsole = rpcClient(
      SagaService,
      consoleProcess.url,
      "connect-json",
      callerAs("alice", "orchestrator"),
    );
    await expect(aliceViaConsole.getSaga({ orderId })).rejects.toMatchObject({ code: Code.PermissionDenied });
    const anonymous = rpcClient(SagaService, consoleProcess.url);
    await expect(anonymous.getSaga({ orderId })).rejects.toMatchObject({ code: Code.Unauthenticated });

    const bad = await orchestrator.client.getSaga({ orderId: "not-a-uuid" }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConnectError);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).rawMessage).toContain("order_id");
    await expect(orchestrator.client.getSaga({ orderId: randomUUID() })).rejects.toMatchObject({
      code: Code.NotFound,
    });
  });
});
