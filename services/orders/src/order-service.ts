import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { v7 as uuidv7 } from "uuid";
import {
  OrderCancellationRequestedSchema,
  OrderCancelledSchema,
  OrderConfirmedSchema,
  OrderDeliveredSchema,
  OrderFailedSchema,
  OrderPlacedSchema,
} from "#gen/accord/orders/v1/events_pb.js";
import { FailureCode, type Order, type OrderService, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { type OwnerScope, ownerScope, principalOf } from "#lib/auth/principal.ts";
import { inTransaction, type Pool } from "#lib/db.ts";
import { type EncodedEvent, encodeEvent } from "#lib/messaging/events.ts";
import { enqueueOutbox } from "#lib/messaging/outbox.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { processMetrics } from "#lib/observability/metrics.ts";
import { traceparentOf } from "#lib/observability/request-context.ts";
import { invalidArgument, requireUuid } from "#lib/rpc/errors.ts";
import { isUuid } from "#lib/validation.ts";
import type { CatalogPrices } from "./catalog-prices.ts";
import {
  findByIdempotencyKey,
  getOrder,
  insertOrder,
  type ListCursor,
  listOrders,
  lockOrderStatus,
  type StatusChange,
  updateOrderStatus,
} from "./db/orders-repo.ts";
import { requestFingerprint, validatePlaceOrder } from "./domain/place-order.ts";
import { type Pricing, priceChangedError, priceOrder, skusToPrice } from "./domain/pricing.ts";
import { planTransition, statusName } from "./domain/status.ts";

const SOURCE = "/accord/orders";

/** The saga's transitions reach every order (the table lets only the orchestrator call them). */
const EVERY_ORDER: OwnerScope = { all: true };

/** Customers see and act on their own orders; ops and the services the table lets in, on all. */
const scopeOf = (ctx: Parameters<typeof principalOf>[0]) => ownerScope(principalOf(ctx), ["customer"]);

/**
 * The customer a call is about. A customer's is their token's subject: the
 * request may leave customer_id empty or repeat it (older clients send it),
 * and naming anyone else is refused. A caller seeing all names the customer
 * (or none, where that means every customer).
 */
function customerFor(requested: string, scope: OwnerScope): string {
  if (scope.all) return requested;
  if (requested !== "" && requested !== scope.ownerId) {
    throw new ConnectError(
      "customer_id: a customer may only name themselves; leave it empty or send your own id",
      Code.PermissionDenied,
    );
  }
  return scope.ownerId;
}

export function createOrderService(deps: {
  pool: Pool;
  logger: Logger;
  /** The topic the outbox rows are written for (the relay publishes them there). */
  topic: string;
  /** Where checkout's prices come from (catalog-prices.ts). */
  catalog: Pick<CatalogPrices, "lookup">;
}): ServiceImpl<typeof OrderService> {
  const { pool, logger } = deps;

  /**
   * Moves an order to another status under a row lock and writes the event
   * of the change in the same transaction. Repeating a change the order
   * already went through returns the order without a second event, so saga
   * steps can be retried freely.
   */
  async function changeStatus(
    orderId: string,
    change: StatusChange,
    eventOf: (order: Order) => EncodedEvent,
    scope: OwnerScope = EVERY_ORDER,
  ): Promise<Order> {
    requireUuid(orderId, "order_id");
    const result = await inTransaction(pool, async (client) => {
      // Another owner's order is not found, the same answer as a missing one.
      const current = await lockOrderStatus(client, orderId, scope);
      if (current === undefined) throw new ConnectError(`order ${orderId} not found`, Code.NotFound);
      const plan = planTransition(current, change.status);
      if (plan === "refuse") {
        throw new ConnectError(
          `order ${orderId} is ${statusName(current)} and cannot become ${statusName(change.status)}`,
          Code.FailedPrecondition,
        );
      }
      if (plan === "apply") await updateOrderStatus(client, orderId, change);
      const order = await getOrder(client, orderId);
      if (!order) throw new Error("order vanished inside its own transaction");
      if (plan === "apply") await enqueueOutbox(client, deps.topic, eventOf(order));
      return { order, applied: plan === "apply" };
    });
    if (result.applied) {
      logger.info({ orderId, status: statusName(change.status) }, "order status changed");
      recordSagaOutcome(result.order);
    }
    return result.order;
  }

  const event = <T extends DescMessage>(schema: T, init: MessageInitShape<T>, key: string) =>
    encodeEvent(schema, create(schema, init), { source: SOURCE, key });

  return {
    async placeOrder(received, ctx) {
      const customerId = customerFor(received.customerId, scopeOf(ctx));
      // Validated and fingerprinted as placed for that customer, so a
      // customer's request with customer_id empty and with their own id
      // replay each other.
      const req = received.customerId === customerId ? received : { ...received, customerId };
      const checked = validatePlaceOrder(req);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const requestHash = requestFingerprint(req);

      /** The order an earlier request with this key placed, or AlreadyExists when its body differed. */
      const replay = async () => {
        const earlier = await findByIdempotencyKey(pool, customerId, req.idempotencyKey);
        if (earlier && earlier.requestHash !== requestHash) {
          throw new ConnectError(
            "idempotency_key: already used for a different request; use a new key for a new order",
            Code.AlreadyExists,
          );
        }
        return earlier && { order: earlier.order, replayed: true };
      };

      // Prices before the transaction, never inside it: a slow catalog must
      // not hold a connection of the pool. A first placement pays no extra
      // read for its key; a refusal does. A replay is answered with the order
      // as first accepted even when its prices have changed, its SKU was
      // withdrawn or the catalog is down since: the order exists at the
      // prices it was accepted at, and a retry after a lost answer must not
      // turn into an error the client cannot resolve.
      let pricing: Pricing;
      try {
        const quotes = await deps.catalog.lookup(skusToPrice(checked.order), checked.order.currencyCode);
        pricing = priceOrder(checked.order, quotes);
      } catch (error) {
        // No prices now; a replay needs none. A key that cannot be read
        // (the database failing too) leaves the catalog's answer standing.
        const earlier = await replay().catch((e: unknown) =>
          e instanceof ConnectError && e.code === Code.AlreadyExists ? Promise.reject(e) : undefined,
        );
        if (earlier) return earlier;
        throw error;
      }
      if (pricing.kind !== "priced") {
        const earlier = await replay();
        if (earlier) return earlier;
        if (pricing.kind === "invalid") throw invalidArgument(pricing.violations);
        if (pricing.kind === "changed") throw priceChangedError(pricing.changes);
        logger.error({ reason: pricing.reason }, "catalog answer cannot price an order");
        throw new ConnectError("prices cannot be determined now; retry later", Code.Unavailable);
      }
      const orderId = uuidv7();
      const traceparent = traceparentOf(ctx);

      // Order row and OrderPlaced outbox row commit together or not at all.
      const placed = await inTransaction(pool, async (client) => {
        const order = await insertOrder(client, orderId, pricing.draft, req.idempotencyKey, requestHash);
        if (!order) return undefined;
        const event = encodeEvent(OrderPlacedSchema, create(OrderPlacedSchema, { order }), {
          source: SOURCE,
          key: orderId,
          traceparent,
        });
        await enqueueOutbox(client, deps.topic, event);
        return order;
      });
      if (placed) {
        logger.info({ orderId, customerId: placed.customerId }, "order placed");
        return { order: placed, replayed: false };
      }

      const earlier = await replay();
      if (!earlier)
        throw new ConnectError("idempotency key is held by a concurrent request; retry", Code.Aborted);
      return earlier;
    },

    async getOrder(req, ctx) {
      requireUuid(req.orderId, "order_id");
      const order = await getOrder(pool, req.orderId, scopeOf(ctx));
      if (!order) throw new ConnectError(`order ${req.orderId} not found`, Code.NotFound);
      return { order };
    },

    async listOrders(req, ctx) {
      // A customer's filter naming someone else is refused rather than
      // ignored: answering it with the caller's own orders would read as that
      // other customer's orders to the client.
      const customerId = customerFor(req.customerId, scopeOf(ctx));
      if (req.pageSize < 0 || req.pageSize > 100) {
        throw invalidArgument([{ field: "page_size", message: "must be between 0 and 100" }]);
      }
      if (req.status && !(req.status in OrderStatus)) {
        throw invalidArgument([{ field: "status", message: "unknown order status" }]);
      }
      const page = await listOrders(pool, {
        customerId: customerId || undefined,
        status: req.status || undefined,
        limit: req.pageSize || 20,
        after: req.pageToken ? decodePageToken(req.pageToken) : undefined,
      });
      return { orders: page.orders, nextPageToken: page.next ? encodePageToken(page.next) : "" };
    },

    async cancelOrder(req, ctx) {
      if (req.reason.length > 500)
        throw invalidArgument([{ field: "reason", message: "must be at most 500 characters" }]);
      const reason = req.reason || "cancelled by customer";
      const order = await changeStatus(
        req.orderId,
        { status: OrderStatus.CANCELLING, reason },
        (o) => event(OrderCancellationRequestedSchema, { orderId: o.orderId, reason }, o.orderId),
        scopeOf(ctx),
      );
      return { order };
    },

    async confirmOrder(req) {
      if (!req.paymentId) throw invalidArgument([{ field: "payment_id", message: "is required" }]);
      if (!req.shipmentId) throw invalidArgument([{ field: "shipment_id", message: "is required" }]);
      const order = await changeStatus(
        req.orderId,
        { status: OrderStatus.CONFIRMED, paymentId: req.paymentId, shipmentId: req.shipmentId },
        (o) =>
          event(
            OrderConfirmedSchema,
            {
              orderId: o.orderId,
              customerId: o.customerId,
              customerEmail: o.customerEmail,
              total: o.total,
              paymentId: req.paymentId,
              shipmentId: req.shipmentId,
            },
            o.orderId,
          ),
      );
      return { order };
    },

    async failOrder(req) {
      if (!(req.failureCode in FailureCode) || req.failureCode === FailureCode.UNSPECIFIED) {
        throw invalidArgument([{ field: "failure_code", message: "must name a failure code" }]);
      }
      const reason = req.reason.slice(0, 500) || "order failed";
      const order = await changeStatus(
        req.orderId,
        { status: OrderStatus.FAILED, failureCode: req.failureCode, reason },
        (o) =>
          event(
            OrderFailedSchema,
            {
              orderId: o.orderId,
              customerId: o.customerId,
              customerEmail: o.customerEmail,
              failureCode: req.failureCode,
              reason,
            },
            o.orderId,
          ),
      );
      return { order };
    },

    async markOrderCancelled(req) {
      const order = await changeStatus(req.orderId, { status: OrderStatus.CANCELLED }, (o) =>
        event(
          OrderCancelledSchema,
          {
            orderId: o.orderId,
            customerId: o.customerId,
            customerEmail: o.customerEmail,
            reason: o.failureReason || "cancelled",
          },
          o.orderId,
        ),
      );
      return { order };
    },

    async markOrderDelivered(req) {
      const order = await changeStatus(req.orderId, { status: OrderStatus.DELIVERED }, (o) =>
        event(OrderDeliveredSchema, { orderId: o.orderId, customerId: o.customerId }, o.orderId),
      );
      return { order };
    },
  };
}

/**
 * The saga's outcome is counted here, where it is committed: an order reaches
 * CONFIRMED, FAILED or CANCELLED exactly once (status.ts allows each only from
 * PENDING or CANCELLING, and a repeated step is "already"), whereas the
 * workflow cannot emit metrics and its activities run again on retries.
 * The duration runs from placement (created_at) to that commit.
 */
const SAGA_RESULTS: Partial<Record<OrderStatus, string>> = {
  [OrderStatus.CONFIRMED]: "confirmed",
  [OrderStatus.FAILED]: "failed",
  [OrderStatus.CANCELLED]: "cancelled",
};

function recordSagaOutcome(order: Order): void {
  const result = SAGA_RESULTS[order.status];
  if (!result) return;
  const { sagaOutcomes, sagaDuration } = processMetrics();
  sagaOutcomes.inc({ result });
  if (order.createdAt) {
    const placedMs = Number(order.createdAt.seconds) * 1000 + order.createdAt.nanos / 1e6;
    sagaDuration.observe({ result }, Math.max(0, (Date.now() - placedMs) / 1000));
  }
}

function encodePageToken(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.orderId])).toString("base64url");
}

function decodePageToken(token: string): ListCursor {
  try {
    const [createdAt, orderId] = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown[];
    if (
      typeof createdAt === "string" &&
      typeof orderId === "string" &&
      isUuid(orderId) &&
      !Number.isNaN(Date.parse(createdAt))
    ) {
      return { createdAt, orderId };
    }
  } catch {
    // fall through to the error below
  }
  throw invalidArgument([{ field: "page_token", message: "is not a token this service issued" }]);
}
