import { SagaService } from "#gen/accord/orchestrator/v1/saga_pb.js";
import { breakerOptionsFrom } from "#lib/breaker.ts";
import { runService } from "#lib/host/service-host.ts";
import { dlqTopicFor } from "#lib/messaging/events.ts";
import { createIdempotentProducer, ensureTopics } from "#lib/messaging/kafka.ts";
import { watchConsumerLag } from "#lib/observability/kafka-lag.ts";
import { createOrderActivities } from "./activities/order-activities.ts";
import { sagaAuthorization } from "./authorization.ts";
import { startBridge } from "./bridge.ts";
import { loadOrchestratorConfig } from "./config.ts";
import { createSagaService } from "./saga/saga-service.ts";
import { startOrchestratorWorker } from "./worker.ts";
import type { OrderWorkflowTuning } from "./workflows/order.ts";

/** The activity attempt outlives the breaker's own timeout, so the breaker answers first. */
const ATTEMPT_MARGIN_MS = 5000;

// The orchestrator: the Temporal worker running the order saga and its
// activities, and the Kafka bridge that starts and signals sagas. Its one
// RPC service, SagaService, shows operators a saga's status and history.
await runService({
  name: "orchestrator",
  loadConfig: loadOrchestratorConfig,
  listen: (config) => ({ host: config.ORCHESTRATOR_HOST, port: config.ORCHESTRATOR_PORT }),
  async compose(host, config) {
    const { logger } = host;
    const target = { address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE };
    const kafka = host.kafka(config.KAFKA_BROKERS);
    const topics = [config.ORCHESTRATOR_ORDERS_TOPIC, config.ORCHESTRATOR_SHIPPING_TOPIC];
    await ensureTopics(kafka, [...topics, ...topics.map((t) => dlqTopicFor(t))]);

    const tokens = host.tokens();
    // The callees' tokens before the first saga step, so that step's breaker
    // does not time a token fetch (later renewals happen in the background).
    await Promise.all(["orders", "inventory", "payments", "shipping"].map((a) => tokens.token(a))).catch(
      (err: unknown) => logger.warn({ err }, "tokens not fetched yet; the first calls will fetch them"),
    );
    const activities = createOrderActivities({
      urls: {
        orders: config.ORDERS_URL,
        inventory: config.INVENTORY_URL,
        payments: config.PAYMENTS_URL,
        shipping: config.SHIPPING_URL,
      },
      protocol: config.ORCHESTRATOR_RPC_PROTOCOL,
      tokens,
      breaker: breakerOptionsFrom(config, "ORCHESTRATOR"),
      logger,
    });
    host.onShutdown("activity breakers", () => activities.shutdown());
    const worker = await startOrchestratorWorker({
      ...target,
      taskQueue: config.ORDERS_TASK_QUEUE,
      logger,
      activities: activities.activities,
      workflowStackTraces: config.ORCHESTRATOR_WORKFLOW_STACK_TRACES,
      grpcCompression: config.TEMPORAL_GRPC_COMPRESSION,
      workflowBundlePath: config.ORCHESTRATOR_WORKFLOW_BUNDLE,
    });
    host.onShutdown("temporal worker", () => worker.shutdown());
    // One connection to Temporal: the worker's. The bridge starts and signals
    // sagas through it, SagaService reads them through it, readiness asks it.
    const { client } = worker;
    host.ready("temporal", () =>
      client.connection.withDeadline(Date.now() + 2000, () => client.workflowService.getSystemInfo({})),
    );
    host.ready("temporal worker", () => {
      const state = worker.worker.getState();
      if (state !== "RUNNING") throw new Error(state);
    });
    // A dead worker runs no saga: exit so the supervisor restarts the process.
    worker.run.catch((err: unknown) => host.fail("temporal worker failed", err));

    const tuning: OrderWorkflowTuning = {
      deliveryTimeoutMs: config.ORCHESTRATOR_DELIVERY_TIMEOUT_MS,
      attemptTimeoutMs: config.ORCHESTRATOR_BREAKER_TIMEOUT_MS + ATTEMPT_MARGIN_MS,
      stepDeadlineMs: config.ORCHESTRATOR_STEP_DEADLINE_MS,
      retryInitialIntervalMs: config.ORCHESTRATOR_RETRY_INITIAL_MS,
      retryMaximumIntervalMs: config.ORCHESTRATOR_RETRY_MAX_MS,
    };
    const dlqProducer = await createIdempotentProducer(kafka);
    host.onShutdown("kafka dlq producer", () => dlqProducer.disconnect());
    // Intake stops first: no new saga starts or signals while the worker drains.
    const bridge = await startBridge({
      kafka,
      dlqProducer,
      groupId: config.ORCHESTRATOR_GROUP_ID,
      topics,
      commitIntervalMs: config.KAFKA_COMMIT_INTERVAL_MS,
      onStoppedForGood: (err) => host.fail("kafka bridge stopped", err),
      // The worker's own connection: sagas start eagerly on this process's worker.
      client,
      eagerStart: true,
      taskQueue: config.ORDERS_TASK_QUEUE,
      logger,
      tuning,
    });
    host.onShutdown("kafka bridge", () => bridge.stop());
    host.onShutdown(
      "consumer lag gauge",
      watchConsumerLag({ kafka, groupId: config.ORCHESTRATOR_GROUP_ID, topics }).stop,
    );
    host.serve(SagaService, createSagaService({ client, logger }), sagaAuthorization);
    logger.info(
      { topics, groupId: config.ORCHESTRATOR_GROUP_ID, taskQueue: config.ORDERS_TASK_QUEUE },
      "orchestrator running",
    );
  },
});
