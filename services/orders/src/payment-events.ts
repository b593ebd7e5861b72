import { create } from "@bufbuild/protobuf";
import type { Money } from "#gen/accord/common/v1/common_pb.js";
import { OrderRefundedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentRefundedSchema, RefundInitiator } from "#gen/accord/payments/v1/events_pb.js";
import { inTransaction, type Pool } from "#lib/db.ts";
import {
  type DecodedEvent,
  dlqTopicFor,
  encodeEvent,
  isEventOf,
  PoisonEventError,
  sourceFor,
} from "#lib/messaging/events.ts";
import { claimEvent } from "#lib/messaging/inbox.ts";
import {
  createIdempotentProducer,
  type EventHandler,
  type EventProducer,
  ensureTopics,
  type KafkaClient,
  type RunningConsumer,
  runEventConsumer,
} from "#lib/messaging/kafka.ts";
import { enqueueOutbox } from "#lib/messaging/outbox.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { isUuid } from "#lib/validation.ts";
import { getOrder, lockOrderStatus } from "./db/orders-repo.ts";
import { markOrderRefunded } from "./db/refunds-repo.ts";
import { planTransition, statusName } from "./domain/status.ts";

/** The inbox claims of this consumer (lib/messaging/inbox.ts). */
export const PAYMENT_EVENTS_CONSUMER = "orders-payment-events";

const SOURCE = sourceFor("orders");
/** An operator's reason is kept in the status history, cut to this. */
const REASON_LIMIT = 200;

/** An operator's refund, as the order takes it from PaymentRefunded. */
export interface OpsRefund {
  orderId: string;
  paymentId: string;
  amount: Money | undefined;
  /** For the status history, cut to REASON_LIMIT. */
  reason: string;
}

/**
 * What a payments event means for orders: an ops refund to apply, or
 * undefined for every other event (captures, declines, the saga's refunds,
 * UNSPECIFIED ones from before the initiator existed). Pure. Throws
 * PoisonEventError for an ops refund whose order id can never be an order's.
 */
export function opsRefundOf(event: DecodedEvent): OpsRefund | undefined {
  if (!isEventOf(event, PaymentRefundedSchema)) return undefined;
  const refund = event.message;
  if (refund.initiator !== RefundInitiator.OPS) return undefined;
  // The DLQ, not a retry loop on the uuid cast.
  if (!isUuid(refund.orderId)) {
    throw new PoisonEventError("rejected", `PaymentRefunded ${event.id}: order_id is not a UUID`);
  }
  return {
    orderId: refund.orderId,
    paymentId: refund.paymentId,
    amount: refund.amount,
    reason: refund.reason.slice(0, REASON_LIMIT),
  };
}

export interface PaymentEventsHandlerDeps {
  pool: Pool;
  logger: Logger;
  /** Where OrderRefunded goes: orders' own events topic, through its outbox. */
  ordersTopic: string;
}

/**
 * payments.events, as orders reads them: a PaymentRefunded that an operator
 * asked for (initiator OPS) moves a CONFIRMED or DELIVERED order to REFUNDED
 * and writes OrderRefunded to the outbox, with the inbox claim, in one
 * transaction. Refunds by the saga (SAGA, or UNSPECIFIED from before the
 * field) are the saga's to record, and every other payment event is too.
 */
export function createPaymentEventsHandler(deps: PaymentEventsHandlerDeps): EventHandler {
  const { pool, logger, ordersTopic } = deps;
  return async (event) => {
    const refund = opsRefundOf(event);
    if (!refund) {
      logger.debug(
        { eventId: event.id, type: event.type },
        "payment event not for orders (the saga drives those)",
      );
      return;
    }
    const { orderId } = refund;
    const outcome = await inTransaction(pool, async (client) => {
      if (!(await claimEvent(client, event.id, PAYMENT_EVENTS_CONSUMER)))
        return { kind: "duplicate" as const };
      const current = await lockOrderStatus(client, orderId, { all: true });
      if (current === undefined) {
        // Orders commits an order before its OrderPlaced can lead to any charge; a refund of an
        // order it never had is for a human to look at. The claim rolls back with the throw.
        throw new PoisonEventError("rejected", `PaymentRefunded ${event.id} for unknown order ${orderId}`);
      }
      const plan = planTransition(current, OrderStatus.REFUNDED);
      if (plan !== "apply") return { kind: plan, current };
      const why = refund.reason;
      await markOrderRefunded(
        client,
        orderId,
        `payment ${refund.paymentId} refunded by ops${why ? `: ${why}` : ""}`,
      );
      const order = await getOrder(client, orderId);
      if (!order) throw new Error("order vanished inside its own transaction");
      const refunded = create(OrderRefundedSchema, {
        orderId,
        customerId: order.customerId,
        customerEmail: order.customerEmail,
        // What was given back, as payments recorded it (one amount per order: the order's total).
        amount: refund.amount,
        paymentId: refund.paymentId,
      });
      await enqueueOutbox(
        client,
        ordersTopic,
        encodeEvent(OrderRefundedSchema, refunded, { source: SOURCE, key: orderId }),
      );
      return { kind: "apply" as const, current };
    });

    switch (outcome.kind) {
      case "apply":
        logger.info(
          { orderId, paymentId: refund.paymentId, from: statusName(outcome.current) },
          "order refunded by ops",
        );
        return;
      case "duplicate":
        logger.info({ eventId: event.id, orderId }, "duplicate PaymentRefunded skipped");
        return;
      case "already":
        logger.info({ orderId }, "order already REFUNDED");
        return;
      case "refuse":
        // Pending, cancelling, failed or cancelled: the saga owns those orders' money and status.
        logger.warn(
          { orderId, paymentId: refund.paymentId, status: statusName(outcome.current) },
          "ops refund of an order that is not confirmed or delivered; status left as it is",
        );
        return;
    }
  };
}

export interface PaymentEventsConsumerOptions extends PaymentEventsHandlerDeps {
  kafka: KafkaClient;
  /** payments.events (under the run's prefix). */
  paymentsTopic: string;
  groupId: string;
  /** KAFKA_COMMIT_INTERVAL_MS (lib/messaging/kafka.ts). */
  commitIntervalMs?: number;
}

export interface PaymentEventsConsumer {
  /** Whether the consumer has joined its group (false while Kafka is unreachable). */
  running(): boolean;
  /** Stops intake, lets the event in hand commit, leaves the group, closes the DLQ producer. */
  stop(): Promise<void>;
}

/** A consumer that ran this long before kafkajs gave it up starts again after the shortest pause. */
const RESTART_RESET_MS = 60_000;

/** The pause before the nth restart in a row: 1 s, doubling up to 30 s. */
function restartDelayMs(restarts: number): number {
  return Math.min(30_000, 1_000 * 2 ** Math.max(0, restarts - 1));
}

/**
 * Starts the consumer in the background and keeps trying while Kafka is
 * unreachable: checkout never waits for Kafka, so orders starts, serves and
 * stays ready without it, and the refunds wait on the topic meanwhile.
 */
export function startPaymentEventsConsumer(options: PaymentEventsConsumerOptions): PaymentEventsConsumer {
  const { kafka, logger, paymentsTopic, groupId } = options;
  let stopping = false;
  let consumer: RunningConsumer | undefined;
  let dlqProducer: EventProducer | undefined;
  // Times kafkajs gave the consumer up in a row, and when it last started.
  let restarts = 0;
  let runningSince = 0;

  const connect = async () => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await ensureTopics(kafka, [paymentsTopic, dlqTopicFor(paymentsTopic)]);
        dlqProducer ??= await createIdempotentProducer(kafka);
        if (stopping) return;
        consumer = await runEventConsumer({
          kafka,
          groupId,
          topics: [paymentsTopic],
          handle: createPaymentEventsHandler(options),
          logger,
          dlqProducer,
          commitIntervalMs: options.commitIntervalMs,
          // Checkout goes on without it: a consumer kafkajs gave up is started
          // again here, after a pause that doubles while it keeps being given
          // up (a refusal that lasts, an ACL say, would otherwise loop at once).
          onStoppedForGood: (error) => {
            const stopped = consumer;
            consumer = undefined;
            if (stopping) return;
            restarts = Date.now() - runningSince > RESTART_RESET_MS ? 1 : restarts + 1;
            const delayMs = restartDelayMs(restarts);
            logger.warn(
              { err: error, topic: paymentsTopic, groupId, restarts, delayMs },
              "payment events consumer stopped; starting it again",
            );
            setup = (async () => {
              await stopped?.stop().catch(() => undefined);
              await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
              await connect();
            })();
          },
        });
        runningSince = Date.now();
        logger.info({ topic: paymentsTopic, groupId }, "payment events consumer running");
        return;
      } catch (error) {
        if (attempt === 1 || attempt % 10 === 0) {
          logger.warn(
            { err: error, attempt },
            "kafka not reachable yet; ops refunds wait on payments.events",
          );
        }
        await dlqProducer?.disconnect().catch(() => undefined);
        dlqProducer = undefined;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * attempt)));
      }
    }
  };

  let setup = connect();
  return {
    running: () => consumer !== undefined,
    async stop() {
      stopping = true;
      // A connect still in progress may take a while to give up; do not wait for it forever.
      await Promise.race([setup, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      await consumer?.stop();
      await dlqProducer?.disconnect().catch(() => undefined);
    },
  };
}
