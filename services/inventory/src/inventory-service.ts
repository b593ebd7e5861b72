import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { v7 as uuidv7 } from "uuid";
import {
  InventoryReleasedSchema,
  InventoryReservationRejectedSchema,
  InventoryReservedSchema,
} from "#gen/accord/inventory/v1/events_pb.js";
import { type InventoryService, ReservationStatus } from "#gen/accord/inventory/v1/inventory_pb.js";
import { inTransaction, type Pool, type PoolClient } from "#lib/db.ts";
import { encodeEvent, sourceFor } from "#lib/messaging/events.ts";
import { enqueueOutbox } from "#lib/messaging/outbox.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { traceparentOf } from "#lib/observability/request-context.ts";
import { invalidArgument } from "#lib/rpc/errors.ts";
import {
  findReservationByKey,
  findReservationByOrder,
  findReservationByReleaseKey,
  getStock,
  insertReservation,
  insertReservationItems,
  lockReservationByOrder,
  markReleased,
  type ReservationRecord,
  returnStock,
  setStock,
  takeStock,
} from "./db/inventory-repo.ts";
import {
  outOfStockMessage,
  type ReservationPlan,
  validateGetStock,
  validateRelease,
  validateReserve,
  validateSetStock,
} from "./domain/reservation.ts";

const SOURCE = sourceFor("inventory");
const UNIQUE_VIOLATION = "23505";

type ReserveOutcome =
  | { kind: "reserved"; reservationId: string }
  | { kind: "short"; shortSkus: string[] }
  | { kind: "conflict" };

/**
 * The InventoryService handlers.
 *
 * Reserve: all items or none, in one transaction; the same key returns the
 * first reservation (even when stock changed since), the same key with other
 * items is AlreadyExists. An order holds at most one reservation: a second
 * Reserve for the same order under ANOTHER key is FailedPrecondition (it would
 * otherwise hide a mismatch between the two requests). A refused Reserve
 * stores nothing, so its retry is evaluated afresh (and writes another
 * InventoryReservationRejected).
 *
 * Release: gives back the order's reservation once. The same key again
 * answers released=true without touching stock; a Release that finds nothing
 * to give back (no reservation yet, or released under another key) answers
 * released=false and records nothing. So a Release that arrives before its
 * Reserve does not block that Reserve, and a retry of the same Release after
 * a late Reserve still frees the stock.
 */
export function createInventoryService(deps: {
  pool: Pool;
  logger: Logger;
  /** The topic the outbox rows are written for (the relay publishes them there). */
  topic: string;
}): ServiceImpl<typeof InventoryService> {
  const { pool, logger, topic } = deps;

  return {
    async reserve(req, ctx) {
      const checked = validateReserve(req);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const { plan } = checked;
      const traceparent = traceparentOf(ctx);

      // Fast path for replays: no transaction, no stock row touched.
      const earlier = await findReservationByKey(pool, plan.idempotencyKey);
      if (earlier) return replay(earlier, plan);

      const outcome = await inTransaction(pool, (client) => reserveInTx(client, topic, plan, traceparent));
      if (outcome.kind === "reserved") {
        logger.info({ orderId: plan.orderId, reservationId: outcome.reservationId }, "stock reserved");
        return { reservationId: outcome.reservationId, status: ReservationStatus.RESERVED };
      }
      if (outcome.kind === "short") {
        logger.info({ orderId: plan.orderId, shortSkus: outcome.shortSkus }, "reservation rejected");
        throw new ConnectError(outOfStockMessage(outcome.shortSkus), Code.FailedPrecondition);
      }

      // The key or the order was taken by a transaction that committed meanwhile.
      const byKey = await findReservationByKey(pool, plan.idempotencyKey);
      if (byKey) return replay(byKey, plan);
      const byOrder = await findReservationByOrder(pool, plan.orderId);
      if (byOrder) throw orderAlreadyReserved(byOrder);
      throw new ConnectError("reservation is held by a concurrent request; retry", Code.Aborted);
    },

    async release(req, ctx) {
      const checked = validateRelease(req);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const { plan } = checked;
      const traceparent = traceparentOf(ctx);

      const sameKey = await findReservationByReleaseKey(pool, plan.idempotencyKey);
      if (sameKey) return releaseReplay(sameKey, plan.orderId);

      try {
        const released = await inTransaction(pool, async (client) => {
          const reservation = await lockReservationByOrder(client, plan.orderId);
          if (!reservation) return false;
          // A concurrent Release with this key committed while we waited for the lock.
          if (reservation.releaseKey === plan.idempotencyKey) return true;
          if (reservation.status !== ReservationStatus.RESERVED) return false;
          await markReleased(client, reservation.reservationId, plan.idempotencyKey, plan.reason);
          await returnStock(client, reservation.items);
          const event = create(InventoryReleasedSchema, {
            orderId: plan.orderId,
            reservationId: reservation.reservationId,
            items: reservation.items,
            reason: plan.reason,
          });
          await enqueueOutbox(
            client,
            topic,
            encodeEvent(InventoryReleasedSchema, event, { source: SOURCE, key: plan.orderId, traceparent }),
          );
          logger.info(
            { orderId: plan.orderId, reservationId: reservation.reservationId, reason: plan.reason },
            "reservation released",
          );
          return true;
        });
        return { released };
      } catch (error) {
        // The key was used meanwhile to release another order's reservation.
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
        const holder = await findReservationByReleaseKey(pool, plan.idempotencyKey);
        if (holder) return releaseReplay(holder, plan.orderId);
        throw error;
      }
    },

    async getStock(req) {
      const violations = validateGetStock(req);
      if (violations.length > 0) throw invalidArgument(violations);
      const stock = await getStock(pool, req.sku);
      if (!stock) throw new ConnectError(`sku ${req.sku} not found`, Code.NotFound);
      return { stock };
    },

    async setStock(req) {
      const violations = validateSetStock(req);
      if (violations.length > 0) throw invalidArgument(violations);
      const stock = await setStock(pool, req.sku, req.available);
      logger.info({ sku: stock.sku, available: stock.available.toString() }, "stock set");
      return { stock };
    },
  };
}

async function reserveInTx(
  client: PoolClient,
  topic: string,
  plan: ReservationPlan,
  traceparent: string | undefined,
): Promise<ReserveOutcome> {
  // The savepoint lets a refusal undo the header and any units already taken
  // while keeping the transaction for the rejection event.
  await client.query("SAVEPOINT reserve");
  const reservationId = uuidv7();
  if (
    !(await insertReservation(client, reservationId, plan.orderId, plan.idempotencyKey, plan.requestHash))
  ) {
    return { kind: "conflict" };
  }
  const shortSkus = await takeStock(client, plan.items);
  if (shortSkus.length > 0) {
    await client.query("ROLLBACK TO SAVEPOINT reserve");
    const event = create(InventoryReservationRejectedSchema, { orderId: plan.orderId, shortSkus });
    await enqueueOutbox(
      client,
      topic,
      encodeEvent(InventoryReservationRejectedSchema, event, {
        source: SOURCE,
        key: plan.orderId,
        traceparent,
      }),
    );
    return { kind: "short", shortSkus };
  }
  await insertReservationItems(client, reservationId, plan.items);
  const event = create(InventoryReservedSchema, { orderId: plan.orderId, reservationId, items: plan.items });
  await enqueueOutbox(
    client,
    topic,
    encodeEvent(InventoryReservedSchema, event, { source: SOURCE, key: plan.orderId, traceparent }),
  );
  return { kind: "reserved", reservationId };
}

function replay(earlier: ReservationRecord, plan: ReservationPlan) {
  if (earlier.requestHash !== plan.requestHash) {
    throw new ConnectError(
      "idempotency_key: already used for a different reservation; use a new key for a new request",
      Code.AlreadyExists,
    );
  }
  return { reservationId: earlier.reservationId, status: earlier.status };
}

function releaseReplay(earlier: ReservationRecord, orderId: string) {
  if (earlier.orderId !== orderId) {
    throw new ConnectError(
      "idempotency_key: already used to release another order; use a new key for a new request",
      Code.AlreadyExists,
    );
  }
  return { released: true };
}

function orderAlreadyReserved(existing: ReservationRecord): ConnectError {
  return new ConnectError(
    `order_id: order ${existing.orderId} already has reservation ${existing.reservationId} under another idempotency key`,
    Code.FailedPrecondition,
  );
}
