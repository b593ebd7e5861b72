import { randomUUID } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { type Client, Connection, Client as TemporalClient } from "@temporalio/client";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { OrderCancellationRequestedSchema, OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { OrderSchema, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { ShipmentDeliveredSchema } from "#gen/accord/shipping/v1/events_pb.js";
import {
  decodeEvent,
  dlqTopicFor,
  type EncodedEvent,
  encodeEvent,
  eventRegistry,
  sourceFor,
} from "#lib/messaging/events.ts";
import {
  createIdempotentProducer,
  deleteTopics,
  type EventProducer,
  ensureTopics,
  type KafkaClient,
  publishEvents,
  type RunningConsumer,
} from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { connectTemporalClient } from "#lib/temporal.ts";
import type { OrderActivities } from "#services/orchestrator/src/activities/order-activities.ts";
import { createBridgeHandler, orderWorkflowId, startBridge } from "#services/orchestrator/src/bridge.ts";
import { type OrchestratorWorker, startOrchestratorWorker } from "#services/orchestrator/src/worker.ts";
import { orderStatusQuery } from "#services/orchestrator/src/workflows/order.ts";
import { testKafka } from "#test/support/kafka.ts";
import { bundleWorkflows, removeWorkflowBundle } from "#test/support/platform.ts";
import { freePort } from "#test/support/service-process.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// Real Kafka and real Temporal: events published on a test topic, consumed by
// the bridge, become one saga per order id however often they are delivered.
const logger = createLogger("orchestrator-bridge-test", process.env.TEST_LOG_LEVEL ?? "silent");
const suffix = randomUUID();
const ordersTopic = `test.orders.events.${suffix}`;
const shippingTopic = `test.shipping.events.${suffix}`;
const allTopics = [ordersTopic, shippingTopic];
const groupId = `test-orchestrator-${suffix}`;
const taskQueue = `test-bridge-${suffix}`;
const processTaskQueue = `test-bridge-proc-${suffix}`;
const WAIT = { timeout: 20_000, interval: 100 };

// The bridge's log lines, to see what the server answered a start (eagerlyStarted).
const bridgeLines: { msg?: string; workflowId?: string; eagerlyStarted?: boolean }[] = [];
const bridgeLogger = pino(
  { level: "info" },
  new Writable({
    write(chunk, _encoding, done) {
      bridgeLines.push(JSON.parse(String(chunk)) as (typeof bridgeLines)[number]);
      done();
    },
  }),
);

let kafka: KafkaClient;
let producer: EventProducer;
let client: Client;
let worker: OrchestratorWorker;
let bridge: RunningConsumer;
const activityCalls: { name: string; orderId: string }[] = [];
const workflowIds: string[] = [];

/** Activities that always succeed: this file tests delivery into Temporal, not the saga. */
function okActivities(): OrderActivities {
  const ok =
    <R>(name: string, result: R) =>
    async (first: unknown): Promise<R> => {
      const orderId = typeof first === "string" ? first : String((first as { orderId: unknown }).orderId);
      activityCalls.push({ name, orderId });
      return result;
    };
  return {
    reserveInventory: ok("reserveInventory", { reservationId: "res" }),
    releaseInventory: ok("releaseInventory", { released: true }),
    chargePayment: ok("chargePayment", { paymentId: "pay" }),
    refundPayment: ok("refundPayment", { refunded: true }),
    createShipment: ok("createShipment", { shipmentId: "shp" }),
    cancelShipment: ok("cancelShipment", { cancelled: true }),
    confirmOrder: ok("confirmOrder", undefined),
    failOrder: ok("failOrder", undefined),
    markOrderCancelled: ok("markOrderCancelled", undefined),
    markOrderDelivered: ok("markOrderDelivered", undefined),
  };
}

beforeAll(async () => {
  const target = {
    address: process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233",
    namespace: process.env.TEMPORAL_NAMESPACE ?? "default",
  };
  kafka = testKafka("orchestrator-bridge-test");
  // One partition each, so committed offsets read as "events handled so far".
  await ensureTopics(kafka, [...allTopics, ...allTopics.map((t) => dlqTopicFor(t))], 1);
  producer = await createIdempotentProducer(kafka);
  client = await connectTemporalClient(target);
  worker = await startOrchestratorWorker({ ...target, taskQueue, logger, activities: okActivities() });
  bridge = await startBridge({
    kafka,
    dlqProducer: producer,
    groupId,
    topics: [ordersTopic, shippingTopic],
    // As the orchestrator runs it: on the worker's own connection, starts requested eagerly.
    client: worker.client,
    eagerStart: true,
    taskQueue,
    logger: bridgeLogger,
    tuning: { retryInitialIntervalMs: 50, retryMaximumIntervalMs: 200, deliveryTimeoutMs: 60_000 },
  });
});

afterAll(async () => {
  await bridge?.stop();
  await Promise.all(
    workflowIds.map((id) =>
      client?.workflow
        .getHandle(id)
        .terminate("test cleanup")
        .catch(() => undefined),
    ),
  );
  await worker?.shutdown();
  await client?.connection.close();
  await producer?.disconnect();
  if (!kafka) return;
  await deleteTopics(kafka, [...allTopics, ...allTopics.map((t) => dlqTopicFor(t))]);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteGroups([groupId]).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
});

function orderPlaced(orderId: string): EncodedEvent {
  const order = create(OrderSchema, {
    orderId,
    customerId: "cust-bridge",
    customerEmail: "bridge@example.com",
    lines: [{ sku: "SKU-1", quantity: 1, unitPrice: { currencyCode: "EUR", amountMinor: 999n } }],
    total: { currencyCode: "EUR", amountMinor: 999n },
    shippingAddress: { line1: "Main St 1", city: "Berlin", postalCode: "10115", countryCode: "DE" },
    status: OrderStatus.PENDING,
  });
  return encodeEvent(OrderPlacedSchema, create(OrderPlacedSchema, { order }), {
    source: sourceFor("orders"),
    key: orderId,
  });
}

async function committed(group: string, topic: string): Promise<string | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [result] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return result?.partitions.find((p) => p.partition === 0)?.offset;
  } finally {
    await admin.disconnect();
  }
}

async function runsOf(workflowId: string): Promise<string[]> {
  const runs: string[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs.push(wf.runId);
  return runs;
}

describe("orchestrator bridge (Kafka -> Temporal)", () => {
  it("starts exactly one saga per order, however often OrderPlaced is delivered, also after it finished", async () => {
    const orderId = randomUUID();
    const workflowId = orderWorkflowId(orderId);
    workflowIds.push(workflowId);
    const placed = orderPlaced(orderId);

    // The same event twice (a redelivery): one run; the second start is refused as already started.
    await publishEvents(producer, ordersTopic, [placed, placed]);
    await vi.waitFor(async () => expect(await committed(groupId, ordersTopic)).toBe("2"), WAIT);
    const handle = client.workflow.getHandle(workflowId);
    await vi.waitFor(
      async () => expect((await handle.query(orderStatusQuery)).step).toBe("awaiting-delivery"),
      WAIT,
    );
    const firstRun = (await handle.describe()).runId;
    // Started eagerly: the server handed the first workflow task to this worker in its answer.
    expect(bridgeLines.filter((l) => l.workflowId === workflowId && l.msg === "order saga started")).toEqual([
      expect.objectContaining({ eagerlyStarted: true }),
    ]);
    expect(activityCalls.filter((c) => c.orderId === orderId).map((c) => c.name)).toEqual([
      "reserveInventory",
      "chargePayment",
      "createShipment",
      "confirmOrder",
    ]);

    // ShipmentDelivered on the shipping topic becomes the "delivered" signal: the saga completes.
    await publishEvents(producer, shippingTopic, [
      encodeEvent(ShipmentDeliveredSchema, create(ShipmentDeliveredSchema, { orderId, shipmentId: "shp" }), {
        source: sourceFor("shipping"),
        key: orderId,
      }),
    ]);
    expect(await handle.result()).toMatchObject({ outcome: "delivered" });

    // Redelivered after completion: REJECT_DUPLICATE refuses a new run and the event is still committed.
    await publishEvents(producer, ordersTopic, [placed]);
    await vi.waitFor(async () => expect(await committed(groupId, ordersTopic)).toBe("3"), WAIT);
    const described = await handle.describe();
    expect(described.runId).toBe(firstRun);
    expect(described.status.name).toBe("COMPLETED");
    await vi.waitFor(async () => expect(await runsOf(workflowId)).toEqual([firstRun]), WAIT);

    const history = await handle.fetchHistory();
    const signals = (history.events ?? [])
      .map((e) => e.workflowExecutionSignaledEventAttributes?.signalName)
      .filter(Boolean);
    expect(signals).toEqual(["delivered"]);
    expect(
      activityCalls.filter((c) => c.orderId === orderId && c.name === "markOrderDelivered"),
    ).toHaveLength(1);
  });

  it("commits a cancellation or delivery for an order without a saga (logged, not retried forever)", async () => {
    const before = Number((await committed(groupId, ordersTopic)) ?? "0");
    const orderId = randomUUID();
    await publishEvents(producer, ordersTopic, [
      encodeEvent(
        OrderCancellationRequestedSchema,
        create(OrderCancellationRequestedSchema, { orderId, reason: "never placed" }),
        { source: sourceFor("orders"), key: orderId },
      ),
    ]);
    await vi.waitFor(
      async () => expect(Number(await committed(groupId, ordersTopic))).toBe(before + 1),
      WAIT,
    );

    const shippingBefore = Number((await committed(groupId, shippingTopic)) ?? "0");
    await publishEvents(producer, shippingTopic, [
      encodeEvent(
        ShipmentDeliveredSchema,
        create(ShipmentDeliveredSchema, { orderId, shipmentId: "shp-x" }),
        {
          source: sourceFor("shipping"),
          key: orderId,
        },
      ),
    ]);
    await vi.waitFor(
      async () => expect(Number(await committed(groupId, shippingTopic))).toBe(shippingBefore + 1),
      WAIT,
    );
  });

  it("throws when Temporal does not answer, so the offset is not committed", async () => {
    // A lazy connection to a port nobody listens on: every call fails as unavailable.
    const deadClient = new TemporalClient({
      connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }),
    });
    const handle = createBridgeHandler({ client: deadClient, taskQueue, logger });
    const encoded = orderPlaced(randomUUID());
    const event = decodeEvent(eventRegistry, encoded);
    const record = {
      topic: ordersTopic,
      partition: 0,
      offset: "0",
      key: encoded.key,
      timestamp: "0",
      headers: {},
    };
    await expect(
      deadClient.connection.withDeadline(Date.now() + 2000, () => handle(event, record)),
    ).rejects.toThrow();
    await deadClient.connection.close();
  });

  it("runs as its own process (node services/orchestrator/src/main.ts) on a bundle built ahead: ready, starts sagas, stops cleanly", async () => {
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    let service: ServiceUnderTest<"orchestrator"> | undefined;
    const workflowBundle = path.join(os.tmpdir(), `accord-workflows-${randomUUID()}.js`);
    try {
      // As scripts/services.sh does: the bundle first, for the settings of the environment the worker gets.
      await bundleWorkflows({ ...process.env, ORCHESTRATOR_WORKFLOW_BUNDLE: workflowBundle });
      // Its own topic prefix: it reads <prefix>orders.events and <prefix>shipping.events as group <prefix>orchestrator.
      service = await startServiceUnderTest("orchestrator", {
        env: {
          ORDERS_TASK_QUEUE: processTaskQueue,
          ORCHESTRATOR_WORKFLOW_BUNDLE: workflowBundle,
          // Nothing listens there: the saga's first step keeps failing as Unavailable and is retried.
          INVENTORY_URL: deadUrl,
          ORDERS_URL: deadUrl,
          PAYMENTS_URL: deadUrl,
          SHIPPING_URL: deadUrl,
          ORCHESTRATOR_RETRY_INITIAL_MS: "100",
          ORCHESTRATOR_RETRY_MAX_MS: "200",
        },
        timeoutMs: 60_000,
      });
      expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
      // It loaded the file: a worker that could not would say so and bundle by itself.
      expect(service.output()).not.toMatch(/bundling the workflow code at start/);

      const orderId = randomUUID();
      const workflowId = orderWorkflowId(orderId);
      workflowIds.push(workflowId);
      await publishEvents(producer, `${service.topicPrefix}orders.events`, [orderPlaced(orderId)]);
      const handle = client.workflow.getHandle(workflowId);
      await vi.waitFor(async () => {
        const { raw, taskQueue: queue } = await handle.describe();
        expect(queue).toBe(processTaskQueue);
        const pending = raw.pendingActivities?.[0];
        expect(pending?.activityType?.name).toBe("reserveInventory");
        // Retried, not failed: a dependency being down is transient.
        expect(pending?.attempt ?? 0).toBeGreaterThan(1);
        expect(pending?.lastFailure?.message).toMatch(/^inventory\.Reserve: /);
      }, WAIT);
      expect((await handle.describe()).status.name).toBe("RUNNING");
      await handle.terminate("test cleanup");
    } finally {
      const code = await service?.stop();
      await removeWorkflowBundle(workflowBundle);
      if (service) expect(code, service.output()).toBe(0);
    }
  }, 120_000);

  it("bundles at start, and says why, when the bundle built ahead was made for other settings", async () => {
    const workflowBundle = path.join(os.tmpdir(), `accord-workflows-${randomUUID()}.js`);
    let service: ServiceUnderTest<"orchestrator"> | undefined;
    try {
      await bundleWorkflows({
        ...process.env,
        ORCHESTRATOR_WORKFLOW_BUNDLE: workflowBundle,
        ORCHESTRATOR_WORKFLOW_STACK_TRACES: "true",
      });
      service = await startServiceUnderTest("orchestrator", {
        env: {
          ORDERS_TASK_QUEUE: `${processTaskQueue}-other`,
          ORCHESTRATOR_WORKFLOW_BUNDLE: workflowBundle,
          ORCHESTRATOR_WORKFLOW_STACK_TRACES: "false",
        },
        timeoutMs: 60_000,
      });
      expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
      expect(service.output()).toMatch(/was built for other settings; bundling the workflow code at start/);
    } finally {
      const code = await service?.stop();
      await removeWorkflowBundle(workflowBundle);
      if (service) expect(code, service.output()).toBe(0);
    }
  }, 120_000);
});
