import type { Client } from "@temporalio/client";
import { dlqTopicFor } from "#lib/messaging/events.ts";
import { createIdempotentProducer, createKafka, ensureTopics, parseBrokers } from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { connectTemporalClient } from "#lib/temporal.ts";
import { createOrderActivities } from "./activities/order-activities.ts";
import { startBridge } from "./bridge.ts";
import { loadOrchestratorConfig } from "./config.ts";
import { startHealthServer } from "./health-server.ts";
import { type OrchestratorWorker, startOrchestratorWorker } from "./worker.ts";
import type { OrderWorkflowTuning } from "./workflows/order.ts";

// Composition root of the orchestrator: Temporal worker (the order saga and
// its activities) plus the Kafka bridge that starts and signals sagas.
const logger = createLogger("orchestrator");

/** The activity attempt outlives the breaker's own timeout, so the breaker answers first. */
const ATTEMPT_MARGIN_MS = 5000;

async function main() {
  const config = loadOrchestratorConfig();
  const target = { address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE };

  let client: Client | undefined;
  let worker: OrchestratorWorker | undefined;
  let consumerRunning = false;
  let stopping = false;
  // Starts first so /healthz answers while the worker bundles the workflow code.
  const health = await startHealthServer({
    host: config.ORCHESTRATOR_HOST,
    port: config.ORCHESTRATOR_PORT,
    readyz: async () => {
      if (stopping) throw new Error("shutting down");
      const temporal = client;
      if (!temporal || !worker || !consumerRunning) throw new Error("starting");
      if (worker.worker.getState() !== "RUNNING")
        throw new Error(`temporal worker ${worker.worker.getState()}`);
      await temporal.connection.withDeadline(Date.now() + 2000, () =>
        temporal.workflowService.getSystemInfo({}),
      );
    },
  });
  logger.info({ port: health.port }, "orchestrator health endpoints listening");

  const kafka = createKafka({
    clientId: "orchestrator",
    brokers: parseBrokers(config.KAFKA_BROKERS),
    logger,
  });
  const topics = [config.ORCHESTRATOR_ORDERS_TOPIC, config.ORCHESTRATOR_SHIPPING_TOPIC];
  await ensureTopics(kafka, [...topics, ...topics.map((t) => dlqTopicFor(t))]);

  client = await connectTemporalClient(target);
  const activities = createOrderActivities({
    urls: {
      orders: config.ORDERS_URL,
      inventory: config.INVENTORY_URL,
      payments: config.PAYMENTS_URL,
      shipping: config.SHIPPING_URL,
    },
    protocol: config.ORCHESTRATOR_RPC_PROTOCOL,
    breaker: {
      timeoutMs: config.ORCHESTRATOR_BREAKER_TIMEOUT_MS,
      errorThresholdPercentage: config.ORCHESTRATOR_BREAKER_ERROR_PERCENT,
      resetTimeoutMs: config.ORCHESTRATOR_BREAKER_RESET_MS,
      volumeThreshold: config.ORCHESTRATOR_BREAKER_VOLUME,
    },
    logger,
  });
  worker = await startOrchestratorWorker({
    ...target,
    taskQueue: config.ORDERS_TASK_QUEUE,
    logger,
    activities: activities.activities,
  });

  const tuning: OrderWorkflowTuning = {
    deliveryTimeoutMs: config.ORCHESTRATOR_DELIVERY_TIMEOUT_MS,
    attemptTimeoutMs: config.ORCHESTRATOR_BREAKER_TIMEOUT_MS + ATTEMPT_MARGIN_MS,
    stepDeadlineMs: config.ORCHESTRATOR_STEP_DEADLINE_MS,
    retryInitialIntervalMs: config.ORCHESTRATOR_RETRY_INITIAL_MS,
    retryMaximumIntervalMs: config.ORCHESTRATOR_RETRY_MAX_MS,
  };
  const dlqProducer = await createIdempotentProducer(kafka);
  const consumer = await startBridge({
    kafka,
    dlqProducer,
    groupId: config.ORCHESTRATOR_GROUP_ID,
    topics,
    client,
    taskQueue: config.ORDERS_TASK_QUEUE,
    logger,
    tuning,
  });
  consumerRunning = true;
  logger.info(
    { topics, groupId: config.ORCHESTRATOR_GROUP_ID, taskQueue: config.ORDERS_TASK_QUEUE },
    "orchestrator running",
  );

  const running = { client, worker };
  const shutdown = async (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, "shutting down");
    try {
      // Intake first: no new saga starts or signals while the worker drains.
      await consumer.stop();
      consumerRunning = false;
      await running.worker.shutdown();
      await dlqProducer.disconnect();
      await running.client.connection.close();
      activities.shutdown();
      await health.close();
    } catch (error) {
      logger.error({ err: error }, "unclean shutdown");
      code = code || 1;
    }
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM", 0));
  process.on("SIGINT", () => void shutdown("SIGINT", 0));
  // A dead worker runs no saga: exit so the supervisor restarts the process.
  running.worker.run.catch(() => void shutdown("temporal worker failed", 1));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "orchestrator failed to start");
  process.exit(1);
});
