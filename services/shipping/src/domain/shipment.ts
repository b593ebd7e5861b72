import { createHash } from "node:crypto";
import { clone, toBinary } from "@bufbuild/protobuf";
import {
  type CancelShipmentRequest,
  type CreateShipmentRequest,
  CreateShipmentRequestSchema,
  ShipmentStatus,
} from "#gen/accord/shipping/v1/shipping_pb.js";
import { collectViolations, type FieldViolation } from "#lib/rpc/errors.ts";
import { checkAddress, checkText, checkUuid, type PostalAddress } from "#lib/validation.ts";

/**
 * States of a shipment row. PENDING: the key is stored and the carrier may or
 * may not have booked (a timeout leaves it so). REJECTED: the carrier refused
 * the booking. The contract's ShipmentStatus knows only the other three.
 */
export type ShipmentState = "PENDING" | "CREATED" | "CANCELLED" | "DELIVERED" | "REJECTED";

export type ShipmentAddress = PostalAddress;

export interface ShipmentItem {
  sku: string;
  quantity: number;
}

/** A validated CreateShipment request. */
export interface ShipmentDraft {
  orderId: string;
  address: ShipmentAddress;
  items: ShipmentItem[];
}

export const LIMITS = {
  idempotencyKey: 128,
  reason: 500,
  items: 100,
  sku: 64,
  quantity: 10_000,
} as const;

const SKU = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Validates CreateShipment; returns every violation, not just the first. Pure. */
export function validateCreateShipment(
  req: CreateShipmentRequest,
): { draft: ShipmentDraft } | { violations: FieldViolation[] } {
  const { violations, bad } = collectViolations();
  checkText(req.idempotencyKey, "idempotency_key", LIMITS.idempotencyKey, bad);
  checkUuid(req.orderId, "order_id", bad);
  const address = checkAddress(req.address, "address", bad);

  if (req.items.length === 0) bad("items", "must contain at least one item");
  if (req.items.length > LIMITS.items) bad("items", `must contain at most ${LIMITS.items} items`);
  req.items.slice(0, LIMITS.items).forEach((item, i) => {
    const path = `items[${i}]`;
    if (checkText(item.sku, `${path}.sku`, LIMITS.sku, bad) && !SKU.test(item.sku)) {
      bad(`${path}.sku`, "may contain only letters, digits, '.', '_' and '-'");
    }
    if (item.quantity < 1) bad(`${path}.quantity`, "must be at least 1");
    else if (item.quantity > LIMITS.quantity) bad(`${path}.quantity`, `must be at most ${LIMITS.quantity}`);
  });

  if (violations.length > 0 || !address) return { violations };
  return {
    draft: {
      orderId: req.orderId.toLowerCase(),
      address,
      items: req.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
    },
  };
}

/** Validates CancelShipment. Pure. */
export function validateCancelShipment(req: CancelShipmentRequest): FieldViolation[] {
  const { violations, bad } = collectViolations();
  checkText(req.idempotencyKey, "idempotency_key", LIMITS.idempotencyKey, bad);
  checkUuid(req.orderId, "order_id", bad);
  if (req.reason.length > LIMITS.reason) bad("reason", `must be at most ${LIMITS.reason} characters`);
  return violations;
}

/** Validates a shipment id (GetShipment, ConfirmDelivery). */
export function validateShipmentId(shipmentId: string): FieldViolation[] {
  const { violations, bad } = collectViolations();
  checkUuid(shipmentId, "shipment_id", bad);
  return violations;
}

/**
 * Fingerprint of everything in the request except its idempotency key, so a
 * replay with the same body matches and a different body does not.
 */
export function requestFingerprint(req: CreateShipmentRequest): string {
  const copy = clone(CreateShipmentRequestSchema, req);
  copy.idempotencyKey = "";
  copy.orderId = copy.orderId.toLowerCase();
  return createHash("sha256").update(toBinary(CreateShipmentRequestSchema, copy)).digest("hex");
}

/** The contract's status for a row; PENDING and REJECTED are not shipments callers can see. */
export function toProtoStatus(state: ShipmentState): ShipmentStatus {
  switch (state) {
    case "CREATED":
      return ShipmentStatus.CREATED;
    case "CANCELLED":
      return ShipmentStatus.CANCELLED;
    case "DELIVERED":
      return ShipmentStatus.DELIVERED;
    default:
      return ShipmentStatus.UNSPECIFIED;
  }
}

/** What CreateShipment does with the row its key found (or inserted). */
export type CreatePlan =
  | { kind: "call-carrier" }
  | { kind: "return-shipment" }
  | { kind: "rejected"; reason: string };

export function planCreate(row: { status: ShipmentState; failureReason: string | null }): CreatePlan {
  switch (row.status) {
    case "PENDING":
      // Outcome unknown (new, or a timed-out earlier try): ask the carrier with the same key.
      return { kind: "call-carrier" };
    case "REJECTED":
      // The first outcome was a business refusal; a replay answers it again.
      return { kind: "rejected", reason: row.failureReason ?? "the carrier refused the shipment" };
    default:
      return { kind: "return-shipment" };
  }
}

/** What CancelShipment does with the order's current shipment row. */
export type CancelPlan =
  /** No shipment to undo: harmless compensation, cancelled=false. */
  | { kind: "nothing" }
  /** This key already cancelled it: answer the first outcome again. */
  | { kind: "already-cancelled-by-this-key" }
  /** Cancelled earlier by another call: nothing left for this one to do. */
  | { kind: "already-cancelled" }
  /** PENDING and the carrier was never called: cancel the row, no carrier call. */
  | { kind: "cancel-locally" }
  /** PENDING after a carrier call: re-ask the carrier with the same key, then cancel. */
  | { kind: "resolve-then-cancel" }
  | { kind: "cancel-at-carrier" }
  | { kind: "refuse"; reason: string };

export function planCancel(
  row: { status: ShipmentState; carrierAttempts: number; cancelKey: string | null } | undefined,
  cancelKey: string,
): CancelPlan {
  if (!row) return { kind: "nothing" };
  switch (row.status) {
    case "REJECTED":
      return { kind: "nothing" };
    case "CANCELLED":
      return row.cancelKey === cancelKey
        ? { kind: "already-cancelled-by-this-key" }
        : { kind: "already-cancelled" };
    case "PENDING":
      return row.carrierAttempts === 0 ? { kind: "cancel-locally" } : { kind: "resolve-then-cancel" };
    case "CREATED":
      return { kind: "cancel-at-carrier" };
    case "DELIVERED":
      return { kind: "refuse", reason: "the shipment was already delivered and cannot be cancelled" };
  }
}

/** What ConfirmDelivery does for a shipment in a given state. */
export function planDelivery(
  status: ShipmentState,
): { kind: "deliver" } | { kind: "already-delivered" } | { kind: "refuse"; reason: string } {
  switch (status) {
    case "CREATED":
      return { kind: "deliver" };
    case "DELIVERED":
      return { kind: "already-delivered" };
    case "CANCELLED":
      return { kind: "refuse", reason: "the shipment was cancelled" };
    default:
      return { kind: "refuse", reason: "the shipment is not booked with the carrier" };
  }
}

/** The carrier API's booking body (snake_case JSON). */
export function toCarrierBooking(orderId: string, address: ShipmentAddress, items: ShipmentItem[]) {
  return {
    reference: orderId,
    address: {
      recipient_name: address.recipientName,
      line1: address.line1,
      line2: address.line2,
      city: address.city,
      region: address.region,
      postal_code: address.postalCode,
      country_code: address.countryCode,
    },
    items: items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
  };
}
