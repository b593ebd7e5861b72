import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { type PlaceOrderRequest, PlaceOrderRequestSchema } from "#gen/accord/orders/v1/orders_pb.js";
import { requestFingerprint, validatePlaceOrder } from "#services/orders/src/domain/place-order.ts";

function validRequest(): PlaceOrderRequest {
  return create(PlaceOrderRequestSchema, {
    idempotencyKey: "key-1",
    customerId: "c-1",
    customerEmail: "ada@example.com",
    currencyCode: "EUR",
    lines: [
      { sku: "BOOK-1", quantity: 2, unitPrice: { currencyCode: "EUR", amountMinor: 1250n } },
      { sku: "MUG-2", quantity: 1, unitPrice: { currencyCode: "EUR", amountMinor: 899n } },
    ],
    shippingAddress: { line1: "Hauptstrasse 1", city: "Berlin", postalCode: "10115", countryCode: "DE" },
  });
}

function fieldsOf(req: PlaceOrderRequest): string[] {
  const result = validatePlaceOrder(req);
  return "violations" in result ? result.violations.map((v) => v.field) : [];
}

describe("validatePlaceOrder", () => {
  it("accepts a valid order, keeping each shown price only as what the customer saw", () => {
    const result = validatePlaceOrder(validRequest());
    if (!("order" in result)) throw new Error(`unexpected violations ${JSON.stringify(result.violations)}`);
    expect(result.order.lines).toEqual([
      { sku: "BOOK-1", quantity: 2, shownPrice: { currencyCode: "EUR", amountMinor: 1250n } },
      { sku: "MUG-2", quantity: 1, shownPrice: { currencyCode: "EUR", amountMinor: 899n } },
    ]);
  });

  it("accepts lines without a price: the catalog prices them", () => {
    const req = validRequest();
    for (const line of req.lines) line.unitPrice = undefined;
    const result = validatePlaceOrder(req);
    if (!("order" in result)) throw new Error(`unexpected violations ${JSON.stringify(result.violations)}`);
    expect(result.order.lines).toEqual([
      { sku: "BOOK-1", quantity: 2 },
      { sku: "MUG-2", quantity: 1 },
    ]);
  });

  it("refuses a negative shown price as malformed, and leaves a shown price in another currency to pricing", () => {
    const negative = validRequest();
    const line = negative.lines[0];
    if (!line?.unitPrice) throw new Error("fixture line has a price");
    line.unitPrice.amountMinor = -1n;
    expect(fieldsOf(negative)).toEqual(["lines[0].unit_price.amount_minor"]);
    const other = validRequest();
    const usd = other.lines[1];
    if (!usd?.unitPrice) throw new Error("fixture line has a price");
    usd.unitPrice.currencyCode = "USD";
    expect(fieldsOf(other)).toEqual([]);
  });

  it("names the field for empty items", () => {
    const req = validRequest();
    req.lines = [];
    expect(fieldsOf(req)).toEqual(["lines"]);
  });

  it("names the line for a non-positive quantity", () => {
    const req = validRequest();
    const second = req.lines[1];
    if (!second) throw new Error("fixture has two lines");
    second.quantity = 0;
    expect(fieldsOf(req)).toEqual(["lines[1].quantity"]);
  });

  it("rejects an unknown currency", () => {
    const req = validRequest();
    req.currencyCode = "XYZ";
    expect(fieldsOf(req)).toEqual(["currency_code"]);
  });

  it("requires an address with its mandatory parts", () => {
    const missing = validRequest();
    missing.shippingAddress = undefined;
    expect(fieldsOf(missing)).toEqual(["shipping_address"]);
    const partial = validRequest();
    if (!partial.shippingAddress) throw new Error("fixture has an address");
    partial.shippingAddress.city = " ";
    partial.shippingAddress.countryCode = "Germany";
    expect(fieldsOf(partial)).toEqual(["shipping_address.city", "shipping_address.country_code"]);
  });

  it("refuses oversized input", () => {
    const req = validRequest();
    req.customerId = "c".repeat(10_000);
    const template = req.lines[0];
    if (!template) throw new Error("fixture has a line");
    req.lines = Array.from({ length: 101 }, () => template);
    expect(fieldsOf(req)).toEqual(["customer_id", "lines"]);
  });

  it("requires an idempotency key and a plausible email", () => {
    const req = validRequest();
    req.idempotencyKey = "";
    req.customerEmail = "not-an-email";
    expect(fieldsOf(req)).toEqual(["idempotency_key", "customer_email"]);
  });
});

describe("requestFingerprint", () => {
  it("ignores the idempotency key but not the body", () => {
    const a = validRequest();
    const b = validRequest();
    b.idempotencyKey = "another";
    expect(requestFingerprint(a)).toBe(requestFingerprint(b));
    const c = validRequest();
    c.customerId = "c-2";
    expect(requestFingerprint(c)).not.toBe(requestFingerprint(a));
  });
});
