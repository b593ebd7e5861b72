import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { v7 as uuidv7 } from "uuid";
import {
  ShipmentCancelledSchema,
  ShipmentCreatedSchema,
  ShipmentDeliveredSchema,
} from "#gen/accord/shipping/v1/events_pb.js";
import type { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import { type Breaker, BreakerOpenError } from "#lib/breaker.ts";
import { inTransaction, type Pool } from "#lib/db.ts";
import { encodeEvent, sourceFor } from "#lib/messaging/events.ts";
import { enqueueOutbox } from "#lib/messaging/outbox.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { traceparentOf } from "#lib/observability/request-context.ts";
import { invalidArgument } from "#lib/rpc/errors.ts";
import type { CarrierBooking, CarrierClient } from "./carrier-client.ts";
import {
  cancelUnsent,
  findByCancelKey,
  findById,
  findByKey,
  findCurrentForOrder,
  insertPending,
  markAttempt,
  markCancelled,
  markCreated,
  markDelivered,
  markRejected,
  type ShipmentRow,
  toShipment,
} from "./db/shipments-repo.ts";
import { CarrierRejectedError, carrierErrorToConnect } from "./domain/carrier-errors.ts";
import {
  planCancel,
  planCreate,
  planDelivery,
  requestFingerprint,
  toCarrierBooking,
  validateCancelShipment,
  validateCreateShipment,
  validateShipmentId,
} from "./domain/shipment.ts";

const SOURCE = sourceFor("shipping");

/** One breaker for every carrier call; the operation receives the call's own AbortSignal. */
export type CarrierBreaker = Breaker<[(signal: AbortSignal) => Promise<CarrierBooking>], CarrierBooking>;

export interface ShippingDeps {
  pool: Pool;
  logger: Logger;
  carrier: CarrierClient;
  breaker: CarrierBreaker;
  topic: string;
}

export function createShippingService(deps: ShippingDeps): ServiceImpl<typeof ShippingService> {
  const { pool, logger, carrier, breaker, topic } = deps;

  /**
   * Asks the carrier for the booking of a PENDING row, always with the row's
   * own key, so a booking made by a timed-out earlier call is found, not
   * repeated. Returns the row in its new state; throws Unavailable when the
   * outcome is still unknown.
   */
  async function resolvePending(row: ShipmentRow, traceparent?: string): Promise<ShipmentRow> {
    // Open breaker: answer at once, and leave carrier_attempts alone (the carrier never heard of it).
    if (breaker.state === "open") throw carrierErrorToConnect(new BreakerOpenError("carrier"));
    const attempted = await markAttempt(pool, row.shipmentId);
    if (!attempted) return mustFind(row.shipmentId);
    let booking: CarrierBooking;
    try {
      booking = await breaker.call((signal) =>
        carrier.book(signal, row.idempotencyKey, toCarrierBooking(row.orderId, row.address, row.items)),
      );
    } catch (error) {
      if (error instanceof CarrierRejectedError) {
        logger.info({ shipmentId: row.shipmentId, reason: error.reason }, "carrier refused the shipment");
        return (await markRejected(pool, row.shipmentId, error.reason)) ?? mustFind(row.shipmentId);
      }
      logger.warn({ err: error, shipmentId: row.shipmentId, orderId: row.orderId }, "carrier booking failed");
      throw carrierErrorToConnect(error);
    }
    const created = await inTransaction(pool, async (client) => {
      const updated = await markCreated(client, row.shipmentId, booking);
      if (!updated) return undefined;
      const event = create(ShipmentCreatedSchema, {
        shipmentId: updated.shipmentId,
        orderId: updated.orderId,
        carrier: booking.carrier,
        trackingNumber: booking.trackingNumber,
      });
      await enqueueOutbox(
        client,
        topic,
        encodeEvent(ShipmentCreatedSchema, event, { source: SOURCE, key: updated.orderId, traceparent }),
      );
      return updated;
    });
    if (created) {
      logger.info(
        { shipmentId: created.shipmentId, orderId: created.orderId, tracking: booking.trackingNumber },
        "shipment booked",
      );
      return created;
    }
    // Another call (a concurrent replay or a cancel) moved the row on first.
    return mustFind(row.shipmentId);
  }

  async function mustFind(shipmentId: string): Promise<ShipmentRow> {
    const row = await findById(pool, shipmentId);
    if (!row) throw new Error(`shipment ${shipmentId} vanished`);
    return row;
  }

  return {
    async createShipment(req, ctx) {
      const checked = validateCreateShipment(req);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const { draft } = checked;
      const hash = requestFingerprint(req);

      const outcome = await insertPending(pool, uuidv7(), req.idempotencyKey, hash, draft);
      if (outcome === "order-busy") {
        const active = await findCurrentForOrder(pool, draft.orderId);
        throw new ConnectError(
          `order_id: order ${draft.orderId} already has shipment ${active?.shipmentId ?? "(unknown)"} ` +
            "under another idempotency key",
          Code.AlreadyExists,
        );
      }
      let row = await findByKey(pool, req.idempotencyKey);
      if (!row)
        throw new ConnectError("idempotency key is held by a concurrent request; retry", Code.Aborted);
      if (row.requestHash !== hash) {
        throw new ConnectError(
          "idempotency_key: already used for a different shipment request; use a new key",
          Code.AlreadyExists,
        );
      }

      let plan = planCreate(row);
      if (plan.kind === "call-carrier") {
        row = await resolvePending(row, traceparentOf(ctx));
        plan = planCreate(row);
        if (plan.kind === "call-carrier") {
          throw new ConnectError("shipment outcome still unknown; retry", Code.Unavailable);
        }
      }
      if (plan.kind === "rejected") {
        throw new ConnectError(`carrier refused: ${plan.reason}`, Code.FailedPrecondition);
      }
      return { shipment: toShipment(row) };
    },

    async cancelShipment(req, ctx) {
      const violations = validateCancelShipment(req);
      if (violations.length > 0) throw invalidArgument(violations);
      const orderId = req.orderId.toLowerCase();
      const traceparent = traceparentOf(ctx);

      const earlier = await findByCancelKey(pool, req.idempotencyKey);
      if (earlier) {
        if (earlier.orderId !== orderId) {
          throw new ConnectError(
            "idempotency_key: already used to cancel another order's shipment",
            Code.AlreadyExists,
          );
        }
        return { shipment: toShipment(earlier), cancelled: true };
      }

      // A few rounds: each one moves the row on (resolve, cancel) or finds another call did.
      for (let round = 0; round < 4; round++) {
        const row = await findCurrentForOrder(pool, orderId);
        const plan = planCancel(row, req.idempotencyKey);
        if (!row || plan.kind === "nothing") return { cancelled: false };
        switch (plan.kind) {
          case "already-cancelled-by-this-key":
            return { shipment: toShipment(row), cancelled: true };
          case "already-cancelled":
            return { shipment: toShipment(row), cancelled: false };
          case "refuse":
            throw new ConnectError(plan.reason, Code.FailedPrecondition);
          case "cancel-locally": {
            // The carrier never saw it: nothing to undo there, so no ShipmentCancelled event either.
            const done = await cancelUnsent(pool, row.shipmentId, req.idempotencyKey, req.reason);
            if (done) {
              logger.info({ shipmentId: row.shipmentId, orderId }, "unsent shipment cancelled");
              return { shipment: toShipment(done), cancelled: true };
            }
            continue;
          }
          case "resolve-then-cancel":
            await resolvePending(row, traceparent);
            continue;
          case "cancel-at-carrier": {
            const ref = row.carrierRef ?? "";
            try {
              await breaker.call((signal) => carrier.cancel(signal, ref, req.idempotencyKey));
            } catch (error) {
              logger.warn({ err: error, shipmentId: row.shipmentId, orderId }, "carrier cancellation failed");
              throw carrierErrorToConnect(error);
            }
            const cancelled = await inTransaction(pool, async (client) => {
              const updated = await markCancelled(client, row.shipmentId, req.idempotencyKey, req.reason);
              if (!updated) return undefined;
              const event = create(ShipmentCancelledSchema, {
                shipmentId: updated.shipmentId,
                orderId,
                reason: req.reason,
              });
              await enqueueOutbox(
                client,
                topic,
                encodeEvent(ShipmentCancelledSchema, event, { source: SOURCE, key: orderId, traceparent }),
              );
              return updated;
            });
            if (cancelled) {
              logger.info({ shipmentId: row.shipmentId, orderId }, "shipment cancelled");
              return { shipment: toShipment(cancelled), cancelled: true };
            }
            continue;
          }
        }
      }
      throw new ConnectError("shipment changed concurrently; retry", Code.Aborted);
    },

    async getShipment(req) {
      const violations = validateShipmentId(req.shipmentId);
      if (violations.length > 0) throw invalidArgument(violations);
      const row = await findById(pool, req.shipmentId);
      // PENDING and REJECTED rows are not shipments: nothing was booked.
      if (!row || row.status === "PENDING" || row.status === "REJECTED") {
        throw new ConnectError(`shipment ${req.shipmentId} not found`, Code.NotFound);
      }
      return { shipment: toShipment(row) };
    },

    async confirmDelivery(req, ctx) {
      const violations = validateShipmentId(req.shipmentId);
      if (violations.length > 0) throw invalidArgument(violations);
      const traceparent = traceparentOf(ctx);
      for (let round = 0; round < 2; round++) {
        const row = await findById(pool, req.shipmentId);
        if (!row) throw new ConnectError(`shipment ${req.shipmentId} not found`, Code.NotFound);
        const plan = planDelivery(row.status);
        if (plan.kind === "refuse") throw new ConnectError(plan.reason, Code.FailedPrecondition);
        // Idempotent: a repeated confirmation answers the same, with no second event.
        if (plan.kind === "already-delivered") return { shipment: toShipment(row) };
        const delivered = await inTransaction(pool, async (client) => {
          const updated = await markDelivered(client, row.shipmentId);
          if (!updated) return undefined;
          const event = create(ShipmentDeliveredSchema, {
            shipmentId: updated.shipmentId,
            orderId: updated.orderId,
          });
          await enqueueOutbox(
            client,
            topic,
            encodeEvent(ShipmentDeliveredSchema, event, {
              source: SOURCE,
              key: updated.orderId,
              traceparent,
            }),
          );
          return updated;
        });
        if (delivered) {
          logger.info({ shipmentId: delivered.shipmentId, orderId: delivered.orderId }, "shipment delivered");
          return { shipment: toShipment(delivered) };
        }
      }
      throw new ConnectError("shipment changed concurrently; retry", Code.Aborted);
    },
  };
}
