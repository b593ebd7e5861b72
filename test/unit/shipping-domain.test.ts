import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  CancelShipmentRequestSchema,
  type CreateShipmentRequest,
  CreateShipmentRequestSchema,
  ShipmentStatus,
} from "#gen/accord/shipping/v1/shipping_pb.js";
import { BreakerOpenError, BreakerTimeoutError } from "#lib/breaker.ts";
import {
  CarrierFailedError,
  CarrierRejectedError,
  carrierErrorToConnect,
  isCarrierBusinessError,
} from "#services/shipping/src/domain/carrier-errors.ts";
import {
  planCancel,
  planCreate,
  planDelivery,
  requestFingerprint,
  toCarrierBooking,
  toProtoStatus,
  validateCancelShipment,
  validateCreateShipment,
  validateShipmentId,
} from "#services/shipping/src/domain/shipment.ts";

const ORDER = "0190f5c2-7a4b-7cde-8f01-23456789abcd";

function validRequest(): CreateShipmentRequest {
  return create(CreateShipmentRequestSchema, {
    idempotencyKey: `order-${ORDER}/ship`,
    orderId: ORDER,
    address: {
      recipientName: "Ada",
      line1: "Hauptstrasse 1",
      city: "Berlin",
      postalCode: "10115",
      countryCode: "DE",
    },
    items: [
      { sku: "BOOK-1", quantity: 2 },
      { sku: "MUG-2", quantity: 1 },
    ],
  });
}

function fieldsOf(req: CreateShipmentRequest): string[] {
  const result = validateCreateShipment(req);
  return "violations" in result ? result.violations.map((v) => v.field) : [];
}

describe("validateCreateShipment", () => {
  it("accepts a valid request and keeps address and items", () => {
    const result = validateCreateShipment(validRequest());
    if (!("draft" in result)) throw new Error(JSON.stringify(result.violations));
    expect(result.draft.orderId).toBe(ORDER);
    expect(result.draft.address.postalCode).toBe("10115");
    expect(result.draft.items).toEqual([
      { sku: "BOOK-1", quantity: 2 },
      { sku: "MUG-2", quantity: 1 },
    ]);
  });

  it("names every missing required field", () => {
    const req = create(CreateShipmentRequestSchema, {});
    expect(fieldsOf(req)).toEqual(["idempotency_key", "order_id", "address", "items"]);
  });

  it("names the address fields and the item that are wrong", () => {
    const req = validRequest();
    if (!req.address) throw new Error("address missing");
    req.address.city = " ";
    req.address.countryCode = "germany";
    req.items = [
      { $typeName: "accord.common.v1.SkuQuantity", sku: "OK-1", quantity: 1 },
      { $typeName: "accord.common.v1.SkuQuantity", sku: "bad sku", quantity: 0 },
    ];
    expect(fieldsOf(req)).toEqual([
      "address.city",
      "address.country_code",
      "items[1].sku",
      "items[1].quantity",
    ]);
  });

  it("requires a UUID order id", () => {
    const req = validRequest();
    req.orderId = "order-1";
    expect(fieldsOf(req)).toEqual(["order_id"]);
  });
});

describe("validateCancelShipment and validateShipmentId", () => {
  it("names the fields", () => {
    const req = create(CancelShipmentRequestSchema, { reason: "x".repeat(501) });
    expect(validateCancelShipment(req).map((v) => v.field)).toEqual([
      "idempotency_key",
      "order_id",
      "reason",
    ]);
    const ok = create(CancelShipmentRequestSchema, { idempotencyKey: "k", orderId: ORDER });
    expect(validateCancelShipment(ok)).toEqual([]);
    expect(validateShipmentId("nope").map((v) => v.field)).toEqual(["shipment_id"]);
    expect(validateShipmentId(ORDER)).toEqual([]);
  });
});

describe("requestFingerprint", () => {
  it("ignores the key and changes with the body", () => {
    const a = validRequest();
    const b = validRequest();
    b.idempotencyKey = "another";
    expect(requestFingerprint(a)).toBe(requestFingerprint(b));
    const c = validRequest();
    const [first] = c.items;
    if (first) first.quantity = 3;
    expect(requestFingerprint(c)).not.toBe(requestFingerprint(a));
    const d = validRequest();
    if (d.address) d.address.postalCode = "10117";
    expect(requestFingerprint(d)).not.toBe(requestFingerprint(a));
  });
});

describe("plans", () => {
  it("create: a PENDING row asks the carrier, a REJECTED one answers its refusal again", () => {
    expect(planCreate({ status: "PENDING", failureReason: null })).toEqual({ kind: "call-carrier" });
    expect(planCreate({ status: "CREATED", failureReason: null })).toEqual({ kind: "return-shipment" });
    expect(planCreate({ status: "CANCELLED", failureReason: null })).toEqual({ kind: "return-shipment" });
    expect(planCreate({ status: "REJECTED", failureReason: "no such street" })).toEqual({
      kind: "rejected",
      reason: "no such street",
    });
  });

  it("cancel: nothing to undo is harmless; a timed-out booking is resolved first", () => {
    expect(planCancel(undefined, "k").kind).toBe("nothing");
    expect(planCancel({ status: "REJECTED", carrierAttempts: 1, cancelKey: null }, "k").kind).toBe("nothing");
    expect(planCancel({ status: "PENDING", carrierAttempts: 0, cancelKey: null }, "k").kind).toBe(
      "cancel-locally",
    );
    expect(planCancel({ status: "PENDING", carrierAttempts: 2, cancelKey: null }, "k").kind).toBe(
      "resolve-then-cancel",
    );
    expect(planCancel({ status: "CREATED", carrierAttempts: 1, cancelKey: null }, "k").kind).toBe(
      "cancel-at-carrier",
    );
    expect(planCancel({ status: "CANCELLED", carrierAttempts: 1, cancelKey: "k" }, "k").kind).toBe(
      "already-cancelled-by-this-key",
    );
    expect(planCancel({ status: "CANCELLED", carrierAttempts: 1, cancelKey: "other" }, "k").kind).toBe(
      "already-cancelled",
    );
    expect(planCancel({ status: "DELIVERED", carrierAttempts: 1, cancelKey: null }, "k").kind).toBe("refuse");
  });

  it("delivery: only a booked shipment is delivered, and twice is the same", () => {
    expect(planDelivery("CREATED").kind).toBe("deliver");
    expect(planDelivery("DELIVERED").kind).toBe("already-delivered");
    expect(planDelivery("CANCELLED").kind).toBe("refuse");
    expect(planDelivery("PENDING").kind).toBe("refuse");
  });

  it("maps row states to the contract's statuses", () => {
    expect(toProtoStatus("CREATED")).toBe(ShipmentStatus.CREATED);
    expect(toProtoStatus("CANCELLED")).toBe(ShipmentStatus.CANCELLED);
    expect(toProtoStatus("DELIVERED")).toBe(ShipmentStatus.DELIVERED);
    expect(toProtoStatus("PENDING")).toBe(ShipmentStatus.UNSPECIFIED);
  });
});

describe("carrier errors", () => {
  it("4xx is a business refusal that does not count against the breaker", () => {
    const rejected = new CarrierRejectedError(422, "address.postal_code: is required");
    expect(isCarrierBusinessError(rejected)).toBe(true);
    expect(carrierErrorToConnect(rejected).code).toBe(Code.FailedPrecondition);
  });

  it("5xx, timeouts, network errors and an open breaker are Unavailable and count", () => {
    const failed = new CarrierFailedError(503, "HTTP 503");
    expect(isCarrierBusinessError(failed)).toBe(false);
    for (const error of [
      failed,
      new BreakerTimeoutError("carrier", 2000),
      new BreakerOpenError("carrier"),
      new TypeError("fetch failed"),
    ]) {
      expect(carrierErrorToConnect(error).code).toBe(Code.Unavailable);
    }
  });

  it("builds the carrier's snake_case booking with the order id as reference", () => {
    const result = validateCreateShipment(validRequest());
    if (!("draft" in result)) throw new Error("invalid");
    const body = toCarrierBooking(result.draft.orderId, result.draft.address, result.draft.items);
    expect(body.reference).toBe(ORDER);
    expect(body.address.postal_code).toBe("10115");
    expect(body.address.country_code).toBe("DE");
    expect(body.items).toHaveLength(2);
  });
});
