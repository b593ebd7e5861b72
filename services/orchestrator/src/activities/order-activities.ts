import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ApplicationFailure, Context } from "@temporalio/activity";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { FailureCode, type Order, OrderSchema, OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import type { TokenSource } from "#lib/auth/client-credentials.ts";
import { BreakerOpenError, type BreakerOptions, BreakerTimeoutError, createBreaker } from "#lib/breaker.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { runWithContext } from "#lib/observability/request-context.ts";
import { type RpcProtocol, rpcClient } from "#lib/rpc/clients.ts";

/** FailOrder's failure_code, as the workflow names it (the workflow bundle carries no generated code). */
export type FailureCategory = "OUT_OF_STOCK" | "PAYMENT_DECLINED" | "SHIPPING_FAILED" | "OTHER";

/**
 * The saga's activities: one per step and per compensation. Each passes the
 * idempotency key "order-<id>/<step>", so a retried attempt (or a replayed
 * saga) repeats the first outcome instead of acting twice.
 */
export interface OrderActivities {
  reserveInventory(order: JsonObject): Promise<{ reservationId: string }>;
  releaseInventory(orderId: string, reason: string): Promise<{ released: boolean }>;
  chargePayment(order: JsonObject): Promise<{ paymentId: string }>;
  refundPayment(orderId: string, reason: string): Promise<{ refunded: boolean }>;
  createShipment(order: JsonObject): Promise<{ shipmentId: string }>;
  cancelShipment(orderId: string, reason: string): Promise<{ cancelled: boolean }>;
  confirmOrder(orderId: string, paymentId: string, shipmentId: string): Promise<void>;
  failOrder(orderId: string, category: FailureCategory, reason: string): Promise<void>;
  markOrderCancelled(orderId: string): Promise<void>;
  markOrderDelivered(orderId: string): Promise<void>;
}

export function idempotencyKey(orderId: string, step: string): string {
  return `order-${orderId}/${step}`;
}

// ---------------------------------------------------------------- errors

/** Answers that prove the dependency works and that no retry can change. */
const BUSINESS_CODES = new Set<Code>([
  Code.InvalidArgument,
  Code.FailedPrecondition,
  Code.NotFound,
  Code.AlreadyExists,
]);

export function isBusinessError(error: unknown): boolean {
  return error instanceof ConnectError && BUSINESS_CODES.has(error.code);
}

/** The failure type of a charge refused because the order already has a payment of another amount. */
export const AMOUNT_CONFLICT = "AmountConflict";

/** Payments names the field it refuses first ("amount: ..."), as every field-level refusal does. */
function isAmountConflict(error: ConnectError): boolean {
  return error.rawMessage.startsWith("amount:");
}

/**
 * Maps a failed call to what Temporal should do with it: business refusals
 * become non-retryable ApplicationFailures typed by the Connect code name (the
 * workflow reads the type); everything else (Unavailable, DeadlineExceeded,
 * an open breaker, a breaker timeout, a network error) is retried with backoff.
 */
export function toActivityError(error: unknown, call: string): Error {
  if (error instanceof ConnectError) {
    const codeName = Code[error.code];
    const message = `${call}: ${error.rawMessage}`;
    if (call === "payments.Charge" && error.code === Code.FailedPrecondition && isAmountConflict(error)) {
      // Not a decline: the order already holds a payment of another amount
      // (made under another key). Typed apart so the workflow keeps the refund
      // step, and a failed order gives that money back instead of keeping it.
      return ApplicationFailure.nonRetryable(message, AMOUNT_CONFLICT);
    }
    if (BUSINESS_CODES.has(error.code)) return ApplicationFailure.nonRetryable(message, codeName);
    return ApplicationFailure.retryable(message, codeName);
  }
  if (error instanceof BreakerOpenError || error instanceof BreakerTimeoutError) {
    return ApplicationFailure.retryable(`${call}: ${error.message}`, error.name);
  }
  if (error instanceof Error) return error;
  return new Error(`${call}: ${String(error)}`);
}

// ---------------------------------------------------------------- activities

export interface OrderActivityDeps {
  urls: { orders: string; inventory: string; payments: string; shipping: string };
  protocol?: RpcProtocol;
  /** The orchestrator's own tokens: every activity calls as the orchestrator. */
  tokens: TokenSource;
  breaker: Pick<
    BreakerOptions,
    "timeoutMs" | "errorThresholdPercentage" | "resetTimeoutMs" | "volumeThreshold"
  >;
  logger: Logger;
}

type Call = (signal: AbortSignal) => Promise<unknown>;

export interface OrderActivitiesHandle {
  activities: OrderActivities;
  /** Breaker states per dependency, for logs and readiness. */
  breakerStates(): Record<string, string>;
  shutdown(): void;
}

/** The calling workflow's id inside an activity; undefined outside Temporal (tests). */
function currentWorkflowId(): string | undefined {
  try {
    return Context.current().info.workflowExecution?.workflowId;
  } catch {
    return undefined;
  }
}

export function createOrderActivities(deps: OrderActivityDeps): OrderActivitiesHandle {
  const protocol = deps.protocol ?? "connect-json";
  const as = (audience: string) => ({ tokens: deps.tokens, audience });
  const inventory = rpcClient(InventoryService, deps.urls.inventory, protocol, as("inventory"));
  const payments = rpcClient(PaymentService, deps.urls.payments, protocol, as("payments"));
  const shipping = rpcClient(ShippingService, deps.urls.shipping, protocol, as("shipping"));
  const orders = rpcClient(OrderService, deps.urls.orders, protocol, as("orders"));

  // One breaker per dependency: payments failing must not stop reservations.
  const breakers = Object.fromEntries(
    (["inventory", "payments", "shipping", "orders"] as const).map((name) => [
      name,
      createBreaker<[Call], unknown>(name, (signal, call) => call(signal), {
        ...deps.breaker,
        isBusinessError,
        logger: deps.logger,
      }),
    ]),
  ) as Record<
    "inventory" | "payments" | "shipping" | "orders",
    ReturnType<typeof createBreaker<[Call], unknown>>
  >;

  async function guarded<T>(
    dependency: keyof typeof breakers,
    method: string,
    call: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    try {
      // The saga's workflow id (order-<id>) is the correlation id of every call it makes.
      const workflowId = currentWorkflowId();
      const run = () => breakers[dependency].call(call) as Promise<T>;
      return workflowId
        ? await runWithContext({ correlationId: workflowId, orderId: workflowId.replace(/^order-/, "") }, run)
        : await run();
    } catch (error) {
      throw toActivityError(error, `${dependency}.${method}`);
    }
  }

  const activities: OrderActivities = {
    async reserveInventory(orderJson) {
      const order = parseOrder(orderJson);
      const res = await guarded("inventory", "Reserve", (signal) =>
        inventory.reserve(
          {
            idempotencyKey: idempotencyKey(order.orderId, "reserve"),
            orderId: order.orderId,
            items: order.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
          },
          { signal },
        ),
      );
      return { reservationId: res.reservationId };
    },

    async releaseInventory(orderId, reason) {
      const res = await guarded("inventory", "Release", (signal) =>
        inventory.release(
          { idempotencyKey: idempotencyKey(orderId, "release"), orderId, reason },
          { signal },
        ),
      );
      return { released: res.released };
    },

    async chargePayment(orderJson) {
      const order = parseOrder(orderJson);
      const res = await guarded("payments", "Charge", (signal) =>
        payments.charge(
          {
            idempotencyKey: idempotencyKey(order.orderId, "charge"),
            orderId: order.orderId,
            customerId: order.customerId,
            amount: order.total,
          },
          { signal },
        ),
      );
      if (!res.payment?.paymentId) {
        throw ApplicationFailure.nonRetryable("payments.Charge answered without a payment", "Internal");
      }
      return { paymentId: res.payment.paymentId };
    },

    async refundPayment(orderId, reason) {
      const res = await guarded("payments", "Refund", (signal) =>
        payments.refund({ idempotencyKey: idempotencyKey(orderId, "refund"), orderId, reason }, { signal }),
      );
      return { refunded: res.refunded };
    },

    async createShipment(orderJson) {
      const order = parseOrder(orderJson);
      const res = await guarded("shipping", "CreateShipment", (signal) =>
        shipping.createShipment(
          {
            idempotencyKey: idempotencyKey(order.orderId, "ship"),
            orderId: order.orderId,
            address: order.shippingAddress,
            items: order.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
          },
          { signal },
        ),
      );
      if (!res.shipment?.shipmentId) {
        throw ApplicationFailure.nonRetryable(
          "shipping.CreateShipment answered without a shipment",
          "Internal",
        );
      }
      return { shipmentId: res.shipment.shipmentId };
    },

    async cancelShipment(orderId, reason) {
      const res = await guarded("shipping", "CancelShipment", (signal) =>
        shipping.cancelShipment(
          { idempotencyKey: idempotencyKey(orderId, "cancel-shipment"), orderId, reason },
          { signal },
        ),
      );
      return { cancelled: res.cancelled };
    },

    async confirmOrder(orderId, paymentId, shipmentId) {
      await guarded("orders", "ConfirmOrder", (signal) =>
        orders.confirmOrder({ orderId, paymentId, shipmentId }, { signal }),
      );
    },

    async failOrder(orderId, category, reason) {
      await guarded("orders", "FailOrder", (signal) =>
        orders.failOrder({ orderId, failureCode: FailureCode[category], reason }, { signal }),
      );
    },

    async markOrderCancelled(orderId) {
      await guarded("orders", "MarkOrderCancelled", (signal) =>
        orders.markOrderCancelled({ orderId }, { signal }),
      );
    },

    async markOrderDelivered(orderId) {
      await guarded("orders", "MarkOrderDelivered", (signal) =>
        orders.markOrderDelivered({ orderId }, { signal }),
      );
    },
  };

  return {
    activities,
    breakerStates: () => Object.fromEntries(Object.entries(breakers).map(([name, b]) => [name, b.state])),
    shutdown() {
      for (const b of Object.values(breakers)) b.shutdown();
    },
  };
}

/** The workflow carries the order as protobuf JSON; bigints and enums come back here. */
function parseOrder(json: JsonObject): Order {
  try {
    return fromJson(OrderSchema, json);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw ApplicationFailure.nonRetryable(
      `order input is not a valid accord.orders.v1.Order: ${why}`,
      "InvalidArgument",
    );
  }
}
