import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import {
  InventoryReleasedSchema,
  InventoryReservationRejectedSchema,
  InventoryReservedSchema,
} from "#gen/accord/inventory/v1/events_pb.js";
import {
  OrderCancellationRequestedSchema,
  OrderCancelledSchema,
  OrderConfirmedSchema,
  OrderDeliveredSchema,
  OrderFailedSchema,
  OrderPlacedSchema,
  OrderRefundedSchema,
} from "#gen/accord/orders/v1/events_pb.js";
import {
  PaymentCapturedSchema,
  PaymentDeclinedSchema,
  PaymentRefundedSchema,
} from "#gen/accord/payments/v1/events_pb.js";
import {
  ShipmentCancelledSchema,
  ShipmentCreatedSchema,
  ShipmentDeliveredSchema,
} from "#gen/accord/shipping/v1/events_pb.js";
import type { FieldViolation } from "#lib/rpc/errors.ts";

/** What a subscription's owner created it as: a partner, or an ops user (internal monitoring). */
export type SubscriberRole = "partner" | "ops";

/**
 * The fields of an event's protobuf JSON a webhook carries, by JSON name:
 * `true` keeps the field, a nested spec keeps those fields of a message (of
 * each element, for a repeated message). Anything not named is dropped, so a
 * field added to an event later goes out only once someone adds it here.
 */
export interface FieldSpec {
  readonly [jsonName: string]: true | FieldSpec;
}

export interface WebhookPolicy {
  /** Whether a partner may subscribe to the event type (ops may subscribe to every known type). */
  partner: boolean;
  /** What the webhook's `data` carries, for every subscriber alike. */
  fields: FieldSpec;
}

const ORDER_LINE: FieldSpec = { sku: true, quantity: true, unitPrice: true };

/**
 * Entitlement and minimization, one row per event type. Webhooks leave the
 * platform, so no subscriber (ops included) receives a customer's personal
 * data: customer id, email, shipping address (recipient name included) and
 * free-text reasons, which can quote the customer (a cancel reason travels
 * on as "cancelled: <the customer's words>") or the card processor about the
 * customer's card. Kept: what a fulfilment or analytics partner works with,
 * order and shipment ids, status, SKUs and quantities, prices and totals,
 * timestamps, carrier and tracking number, failure category.
 *
 * | event type                            | partner | data carries                                                | dropped                                   |
 * |---------------------------------------|---------|-------------------------------------------------------------|-------------------------------------------|
 * | orders.OrderPlaced                    | yes     | order: orderId, lines (sku, quantity, unitPrice), total,    | customerId, customerEmail,                |
 * |                                       |         |        status, createdAt, updatedAt                         | shippingAddress, paymentId, shipmentId    |
 * | orders.OrderConfirmed                 | yes     | orderId, total, shipmentId                                  | customerId, customerEmail, paymentId      |
 * | orders.OrderFailed                    | yes     | orderId, failureCode                                        | customerId, customerEmail, reason         |
 * | orders.OrderCancelled                 | yes     | orderId                                                     | customerId, customerEmail, reason         |
 * | orders.OrderDelivered                 | yes     | orderId                                                     | customerId                                |
 * | orders.OrderRefunded                  | yes     | orderId, amount                                             | customerId, customerEmail, paymentId      |
 * | orders.OrderCancellationRequested     | no: a saga signal; OrderCancelled is the outcome | orderId             | reason                                    |
 * | shipping.ShipmentCreated              | yes     | shipmentId, orderId, carrier, trackingNumber                | (none)                                    |
 * | shipping.ShipmentCancelled            | yes     | shipmentId, orderId                                         | reason                                    |
 * | shipping.ShipmentDelivered            | yes     | shipmentId, orderId                                         | (none)                                    |
 * | payments.PaymentCaptured              | no: payments internals | paymentId, orderId, amount                   | (none)                                    |
 * | payments.PaymentDeclined              | no      | paymentId, orderId, amount, reason (the processor's code)   | (none)                                    |
 * | payments.PaymentRefunded              | no      | paymentId, orderId, amount                                  | reason                                    |
 * | inventory.* (not read by notifications)| no     | orderId, reservationId, items / shortSkus                   | reason                                    |
 *
 * An event type missing here is ops-only and carries no data beyond the
 * envelope (event id and type, time, order id).
 */
export const WEBHOOK_POLICY: Readonly<Record<string, WebhookPolicy>> = {
  [OrderPlacedSchema.typeName]: {
    partner: true,
    fields: {
      order: {
        orderId: true,
        lines: ORDER_LINE,
        total: true,
        status: true,
        createdAt: true,
        updatedAt: true,
      },
    },
  },
  [OrderConfirmedSchema.typeName]: {
    partner: true,
    fields: { orderId: true, total: true, shipmentId: true },
  },
  [OrderFailedSchema.typeName]: { partner: true, fields: { orderId: true, failureCode: true } },
  [OrderCancelledSchema.typeName]: { partner: true, fields: { orderId: true } },
  [OrderDeliveredSchema.typeName]: { partner: true, fields: { orderId: true } },
  [OrderRefundedSchema.typeName]: { partner: true, fields: { orderId: true, amount: true } },
  [OrderCancellationRequestedSchema.typeName]: { partner: false, fields: { orderId: true } },
  [ShipmentCreatedSchema.typeName]: {
    partner: true,
    fields: { shipmentId: true, orderId: true, carrier: true, trackingNumber: true },
  },
  [ShipmentCancelledSchema.typeName]: { partner: true, fields: { shipmentId: true, orderId: true } },
  [ShipmentDeliveredSchema.typeName]: { partner: true, fields: { shipmentId: true, orderId: true } },
  [PaymentCapturedSchema.typeName]: {
    partner: false,
    fields: { paymentId: true, orderId: true, amount: true },
  },
  [PaymentDeclinedSchema.typeName]: {
    partner: false,
    fields: { paymentId: true, orderId: true, amount: true, reason: true },
  },
  [PaymentRefundedSchema.typeName]: {
    partner: false,
    fields: { paymentId: true, orderId: true, amount: true },
  },
  [InventoryReservedSchema.typeName]: {
    partner: false,
    fields: { orderId: true, reservationId: true, items: { sku: true, quantity: true } },
  },
  [InventoryReservationRejectedSchema.typeName]: {
    partner: false,
    fields: { orderId: true, shortSkus: true },
  },
  [InventoryReleasedSchema.typeName]: {
    partner: false,
    fields: { orderId: true, reservationId: true, items: { sku: true, quantity: true } },
  },
};

/** Whether a subscriber of `role` may receive `eventType`. */
export function entitled(role: SubscriberRole, eventType: string): boolean {
  return role === "ops" || WEBHOOK_POLICY[eventType]?.partner === true;
}

/** The event types a partner may subscribe to: what an empty event_types means for a partner. */
export const PARTNER_EVENT_TYPES: readonly string[] = Object.entries(WEBHOOK_POLICY)
  .filter(([, policy]) => policy.partner)
  .map(([type]) => type);

/** The requested event types `role` may not have, each named by its index, as PermissionDenied reasons. */
export function entitlementViolations(role: SubscriberRole, eventTypes: readonly string[]): FieldViolation[] {
  const violations: FieldViolation[] = [];
  eventTypes.forEach((type, i) => {
    if (!entitled(role, type)) {
      violations.push({
        field: `event_types[${i}]`,
        message: `${type} is not available to partners (order and shipment lifecycle events are)`,
      });
    }
  });
  return violations;
}

/**
 * The event types a stored subscription is delivered, or undefined when it
 * gets nothing: no owner (created before ownership was recorded), or a
 * partner's list with no type it is entitled to. A partner's empty list
 * means every type it is entitled to, never "every event".
 */
export function deliverableEventTypes(
  role: SubscriberRole | null,
  eventTypes: readonly string[],
): readonly string[] | undefined {
  if (role === null) return undefined;
  if (role === "ops") return eventTypes;
  if (eventTypes.length === 0) return PARTNER_EVENT_TYPES;
  const allowed = eventTypes.filter((type) => entitled("partner", type));
  // Never [] here: for a subscription, empty would mean "all".
  return allowed.length > 0 ? allowed : undefined;
}

/** The webhook `data` of an event: its protobuf JSON cut down to the policy's fields. */
export function minimizedData(eventType: string, data: JsonObject): JsonObject {
  return pick(data, WEBHOOK_POLICY[eventType]?.fields ?? {});
}

function pick(object: JsonObject, spec: FieldSpec): JsonObject {
  const kept: JsonObject = {};
  for (const [name, rule] of Object.entries(spec)) {
    const value = object[name];
    if (value === undefined) continue;
    if (rule === true) {
      kept[name] = value;
    } else if (Array.isArray(value)) {
      kept[name] = value.filter(isObject).map((element) => pick(element, rule));
    } else if (isObject(value)) {
      kept[name] = pick(value, rule);
    }
    // A scalar where the spec expects a message cannot come from toJson: dropped (fails closed).
  }
  return kept;
}

function isObject(value: JsonValue): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
