import { toJson } from "@bufbuild/protobuf";
import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
} from "@temporalio/client";
import { OrderCancellationRequestedSchema, OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { OrderSchema } from "#gen/accord/orders/v1/orders_pb.js";
import { ShipmentDeliveredSchema } from "#gen/accord/shipping/v1/events_pb.js";
import { isEventOf, PoisonEventError } from "#lib/messaging/events.ts";
import {
  type EventHandler,
  type EventProducer,
  type KafkaClient,
  type RunningConsumer,
  runEventConsumer,
} from "#lib/messaging/kafka.ts";
import type { Logger } from "#lib/observability/logger.ts";
import {
  cancelOrderSignal,
  type OrderWorkflowInput,
  type OrderWorkflowTuning,
  orderDeliveredSignal,
  orderWorkflow,
} from "./workflows/order.ts";

/** Workflow id of an order's saga: one order, one saga, whatever Kafka redelivers. */
export function orderWorkflowId(orderId: string): string {
  return `order-${orderId}`;
}

export interface BridgeHandlerOptions {
  client: Client;
  taskQueue: string;
  logger: Logger;
  /** Timings passed to every saga started (short in tests). */
  tuning?: OrderWorkflowTuning;
  /**
   * Ask the server to hand the saga's first workflow task straight back in
   * the start's answer (eager workflow start), sparing Temporal a dispatch
   * through its matching service. Needs a client on the worker's own native
   * connection (TemporalWorker.client): the SDK refuses it otherwise.
   */
  eagerStart?: boolean;
}

/**
 * Turns order and shipping events into Temporal calls. Resolves only once
 * Temporal accepted the call (the consumer commits the offset next); any
 * Temporal error is thrown, so the event is delivered again.
 */
export function createBridgeHandler(options: BridgeHandlerOptions): EventHandler {
  const { client, taskQueue, logger, tuning, eagerStart = false } = options;

  return async (event, record) => {
    if (isEventOf(event, OrderPlacedSchema)) {
      const order = event.message.order;
      if (!order?.orderId) throw new PoisonEventError("rejected", "OrderPlaced without order.order_id");
      const workflowId = orderWorkflowId(order.orderId);
      // Plain JSON: protobuf messages carry bigints, which the payload converter cannot encode.
      const input: OrderWorkflowInput = {
        orderId: order.orderId,
        order: toJson(OrderSchema, order) as OrderWorkflowInput["order"],
        ...(tuning ? { tuning } : {}),
      };
      try {
        // A plain start, not signal-with-start: only a start can be eager, and
        // a redelivery finds the saga running or done either way.
        const handle = await client.workflow.start(orderWorkflow, {
          workflowId,
          taskQueue,
          args: [input],
          // A redelivery after the saga finished must not run it again.
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          requestEagerStart: eagerStart,
        });
        logger.info(
          {
            workflowId,
            runId: handle.firstExecutionRunId,
            eagerlyStarted: handle.eagerlyStarted,
            eventId: event.id,
          },
          "order saga started",
        );
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        logger.info(
          { workflowId, eventId: event.id },
          "order saga already started; redelivered OrderPlaced ignored",
        );
      }
      return;
    }

    if (isEventOf(event, OrderCancellationRequestedSchema)) {
      const { orderId, reason } = event.message;
      await signalOrIgnore(orderId, "cancel", (handle) => handle.signal(cancelOrderSignal, { reason }));
      return;
    }

    if (isEventOf(event, ShipmentDeliveredSchema)) {
      const { orderId } = event.message;
      await signalOrIgnore(orderId, "delivered", (handle) => handle.signal(orderDeliveredSignal));
      return;
    }
    // Every other fact on these topics is someone else's business.
    logger.debug(
      { type: event.type, topic: record.topic, offset: record.offset },
      "event not for the bridge",
    );
  };

  async function signalOrIgnore(
    orderId: string,
    signal: string,
    send: (handle: ReturnType<Client["workflow"]["getHandle"]>) => Promise<void>,
  ): Promise<void> {
    if (!orderId) throw new PoisonEventError("rejected", `${signal} event without order_id`);
    const workflowId = orderWorkflowId(orderId);
    try {
      await send(client.workflow.getHandle(workflowId));
      logger.info({ workflowId, signal }, "order saga signalled");
    } catch (error) {
      // No saga (never started, or already finished): nothing is left to tell it.
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      logger.warn({ workflowId, signal }, "no running order saga for signal; ignored");
    }
  }
}

export interface BridgeOptions extends BridgeHandlerOptions {
  kafka: KafkaClient;
  dlqProducer: EventProducer;
  groupId: string;
  topics: readonly string[];
  /** KAFKA_COMMIT_INTERVAL_MS (lib/messaging/kafka.ts). */
  commitIntervalMs?: number;
  /** kafkajs gave the consumer up (EventConsumerOptions.onStoppedForGood). */
  onStoppedForGood?: (error: unknown) => void;
}

/** Consumes the topics in one group and feeds the handler; stop() the result to leave the group. */
export function startBridge(options: BridgeOptions): Promise<RunningConsumer> {
  return runEventConsumer({
    kafka: options.kafka,
    groupId: options.groupId,
    topics: options.topics,
    handle: createBridgeHandler(options),
    logger: options.logger,
    dlqProducer: options.dlqProducer,
    commitIntervalMs: options.commitIntervalMs,
    onStoppedForGood: options.onStoppedForGood,
  });
}
