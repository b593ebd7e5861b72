import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AddressSchema } from "#gen/accord/common/v1/common_pb.js";
import { type Shipment, ShipmentSchema } from "#gen/accord/shipping/v1/shipping_pb.js";
import type { Pool, PoolClient } from "#lib/db.ts";
import type { CarrierBooking } from "../carrier-client.ts";
import {
  type ShipmentAddress,
  type ShipmentDraft,
  type ShipmentItem,
  type ShipmentState,
  toProtoStatus,
} from "../domain/shipment.ts";

type Db = Pool | PoolClient;

export interface ShipmentRow {
  shipmentId: string;
  orderId: string;
  idempotencyKey: string;
  requestHash: string;
  status: ShipmentState;
  address: ShipmentAddress;
  items: ShipmentItem[];
  carrierAttempts: number;
  carrier: string | null;
  carrierRef: string | null;
  trackingNumber: string | null;
  failureReason: string | null;
  cancelKey: string | null;
  cancelReason: string | null;
  createdAt: Date;
}

interface RawRow {
  shipment_id: string;
  order_id: string;
  idempotency_key: string;
  request_hash: string;
  status: ShipmentState;
  address: ShipmentAddress;
  items: ShipmentItem[];
  carrier_attempts: number;
  carrier: string | null;
  carrier_ref: string | null;
  tracking_number: string | null;
  failure_reason: string | null;
  cancel_key: string | null;
  cancel_reason: string | null;
  created_at: Date;
}

function fromRaw(r: RawRow): ShipmentRow {
  return {
    shipmentId: r.shipment_id,
    orderId: r.order_id,
    idempotencyKey: r.idempotency_key,
    requestHash: r.request_hash,
    status: r.status,
    address: r.address,
    items: r.items,
    carrierAttempts: r.carrier_attempts,
    carrier: r.carrier,
    carrierRef: r.carrier_ref,
    trackingNumber: r.tracking_number,
    failureReason: r.failure_reason,
    cancelKey: r.cancel_key,
    cancelReason: r.cancel_reason,
    createdAt: r.created_at,
  };
}

async function one(db: Db, sql: string, params: unknown[]): Promise<ShipmentRow | undefined> {
  const row = (await db.query<RawRow>(sql, params)).rows[0];
  return row ? fromRaw(row) : undefined;
}

const ACTIVE_INDEX = "shipments_one_active_per_order";

/**
 * Stores the key (status PENDING) before any carrier call. "key-taken" when
 * the key exists already (the caller compares fingerprints); "order-busy" when
 * the order has an active shipment under another key.
 */
export async function insertPending(
  db: Db,
  shipmentId: string,
  key: string,
  requestHash: string,
  draft: ShipmentDraft,
): Promise<"inserted" | "key-taken" | "order-busy"> {
  try {
    const result = await db.query(
      `INSERT INTO shipments (shipment_id, order_id, idempotency_key, request_hash, status, address, items)
       VALUES ($1, $2, $3, $4, 'PENDING', $5, $6)
       ON CONFLICT (idempotency_key) DO NOTHING`,
      [
        shipmentId,
        draft.orderId,
        key,
        requestHash,
        JSON.stringify(draft.address),
        JSON.stringify(draft.items),
      ],
    );
    return result.rowCount === 0 ? "key-taken" : "inserted";
  } catch (error) {
    const e = error as { code?: string; constraint?: string };
    if (e.code === "23505" && e.constraint === ACTIVE_INDEX) return "order-busy";
    throw error;
  }
}

export function findByKey(db: Db, key: string) {
  return one(db, "SELECT * FROM shipments WHERE idempotency_key = $1", [key]);
}

export function findById(db: Db, shipmentId: string) {
  return one(db, "SELECT * FROM shipments WHERE shipment_id = $1", [shipmentId]);
}

export function findByCancelKey(db: Db, cancelKey: string) {
  return one(db, "SELECT * FROM shipments WHERE cancel_key = $1", [cancelKey]);
}

/** The order's active shipment, else its most recent one. */
export function findCurrentForOrder(db: Db, orderId: string) {
  return one(
    db,
    `SELECT * FROM shipments WHERE order_id = $1
      ORDER BY (status IN ('PENDING', 'CREATED', 'DELIVERED')) DESC, created_at DESC, shipment_id DESC
      LIMIT 1`,
    [orderId],
  );
}

/** Records that a carrier call starts; undefined when the row is no longer PENDING. */
export function markAttempt(db: Db, shipmentId: string) {
  return one(
    db,
    `UPDATE shipments SET carrier_attempts = carrier_attempts + 1, updated_at = now()
      WHERE shipment_id = $1 AND status = 'PENDING' RETURNING *`,
    [shipmentId],
  );
}

export function markCreated(db: Db, shipmentId: string, booking: CarrierBooking) {
  return one(
    db,
    `UPDATE shipments SET status = 'CREATED', carrier = $2, carrier_ref = $3, tracking_number = $4,
            updated_at = now()
      WHERE shipment_id = $1 AND status = 'PENDING' RETURNING *`,
    [shipmentId, booking.carrier, booking.shipmentRef, booking.trackingNumber],
  );
}

export function markRejected(db: Db, shipmentId: string, reason: string) {
  return one(
    db,
    `UPDATE shipments SET status = 'REJECTED', failure_reason = $2, updated_at = now()
      WHERE shipment_id = $1 AND status = 'PENDING' RETURNING *`,
    [shipmentId, reason],
  );
}

/** PENDING and never sent to the carrier: cancelled here alone. */
export function cancelUnsent(db: Db, shipmentId: string, cancelKey: string, reason: string) {
  return one(
    db,
    `UPDATE shipments SET status = 'CANCELLED', cancel_key = $2, cancel_reason = $3, updated_at = now()
      WHERE shipment_id = $1 AND status = 'PENDING' AND carrier_attempts = 0 RETURNING *`,
    [shipmentId, cancelKey, reason],
  );
}

export function markCancelled(db: Db, shipmentId: string, cancelKey: string, reason: string) {
  return one(
    db,
    `UPDATE shipments SET status = 'CANCELLED', cancel_key = $2, cancel_reason = $3, updated_at = now()
      WHERE shipment_id = $1 AND status = 'CREATED' RETURNING *`,
    [shipmentId, cancelKey, reason],
  );
}

export function markDelivered(db: Db, shipmentId: string) {
  return one(
    db,
    `UPDATE shipments SET status = 'DELIVERED', updated_at = now()
      WHERE shipment_id = $1 AND status = 'CREATED' RETURNING *`,
    [shipmentId],
  );
}

export function toShipment(row: ShipmentRow): Shipment {
  return create(ShipmentSchema, {
    shipmentId: row.shipmentId,
    orderId: row.orderId,
    carrier: row.carrier ?? "",
    trackingNumber: row.trackingNumber ?? "",
    status: toProtoStatus(row.status),
    address: create(AddressSchema, row.address),
    createdAt: timestampFromDate(row.createdAt),
  });
}
