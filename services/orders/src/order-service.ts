import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { v7 as uuidv7 } from "uuid";
import { OrderPlacedSchema } from "../../../gen/accord/orders/v1/events_pb.js";
import { type OrderService, OrderStatus } from "../../../gen/accord/orders/v1/orders_pb.js";
import { inTransaction, type Pool } from "../../../lib/db.js";
import { encodeEvent, topicFor } from "../../../lib/events.js";
import type { Logger } from "../../../lib/logger.js";
import { enqueueOutbox } from "../../../lib/outbox.js";
import {
  findByIdempotencyKey,
  getOrder,
  insertOrder,
  type ListCursor,
  listOrders,
} from "./db/orders-repo.js";
import { requestFingerprint, type Violation, validatePlaceOrder } from "./domain/place-order.js";

export const ORDERS_TOPIC = topicFor("orders");
const SOURCE = "/accord/orders";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createOrderService(deps: {
  pool: Pool;
  logger: Logger;
}): Partial<ServiceImpl<typeof OrderService>> {
  const { pool, logger } = deps;
  return {
    async placeOrder(req, ctx) {
      const checked = validatePlaceOrder(req);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const requestHash = requestFingerprint(req);
      const orderId = uuidv7();
      const traceparent = ctx.requestHeader.get("traceparent") ?? undefined;

      // Order row and OrderPlaced outbox row commit together or not at all.
      const placed = await inTransaction(pool, async (client) => {
        if (!(await insertOrder(client, orderId, checked.draft, req.idempotencyKey, requestHash)))
          return undefined;
        const order = await getOrder(client, orderId);
        if (!order) throw new Error("order vanished inside its own transaction");
        const event = encodeEvent(OrderPlacedSchema, create(OrderPlacedSchema, { order }), {
          source: SOURCE,
          key: orderId,
          traceparent,
        });
        await enqueueOutbox(client, ORDERS_TOPIC, event);
        return order;
      });
      if (placed) {
        logger.info({ orderId, customerId: placed.customerId }, "order placed");
        return { order: placed, replayed: false };
      }

      const earlier = await findByIdempotencyKey(pool, req.idempotencyKey);
      if (!earlier)
        throw new ConnectError("idempotency key is held by a concurrent request; retry", Code.Aborted);
      if (earlier.requestHash !== requestHash) {
        throw new ConnectError(
          "idempotency_key: already used for a different request; use a new key for a new order",
          Code.AlreadyExists,
        );
      }
      return { order: earlier.order, replayed: true };
    },

    async getOrder(req) {
      requireUuid(req.orderId, "order_id");
      const order = await getOrder(pool, req.orderId);
      if (!order) throw new ConnectError(`order ${req.orderId} not found`, Code.NotFound);
      return { order };
    },

    async listOrders(req) {
      if (req.pageSize < 0 || req.pageSize > 100) {
        throw invalidArgument([{ field: "page_size", message: "must be between 0 and 100" }]);
      }
      if (req.status && !(req.status in OrderStatus)) {
        throw invalidArgument([{ field: "status", message: "unknown order status" }]);
      }
      const page = await listOrders(pool, {
        customerId: req.customerId || undefined,
        status: req.status || undefined,
        limit: req.pageSize || 20,
        after: req.pageToken ? decodePageToken(req.pageToken) : undefined,
      });
      return { orders: page.orders, nextPageToken: page.next ? encodePageToken(page.next) : "" };
    },
  };
}

function invalidArgument(violations: Violation[]): ConnectError {
  const text = violations.map((v) => `${v.field}: ${v.message}`).join("; ");
  return new ConnectError(text, Code.InvalidArgument);
}

function requireUuid(value: string, field: string) {
  if (!UUID.test(value)) throw invalidArgument([{ field, message: "must be a UUID" }]);
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
      UUID.test(orderId) &&
      !Number.isNaN(Date.parse(createdAt))
    ) {
      return { createdAt, orderId };
    }
  } catch {
    // fall through to the error below
  }
  throw invalidArgument([{ field: "page_token", message: "is not a token this service issued" }]);
}
