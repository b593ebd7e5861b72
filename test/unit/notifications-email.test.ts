import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MoneySchema } from "#gen/accord/common/v1/common_pb.js";
import {
  OrderCancelledSchema,
  OrderConfirmedSchema,
  OrderDeliveredSchema,
  OrderFailedSchema,
} from "#gen/accord/orders/v1/events_pb.js";
import { FailureCode } from "#gen/accord/orders/v1/orders_pb.js";
import type { DecodedEvent } from "#lib/messaging/events.ts";
import { emailFor, formatMoney } from "#services/notifications/src/domain/email.ts";

const base = { id: "e-1", source: "/accord/orders", time: "2026-01-01T00:00:00Z" };

describe("emailFor", () => {
  it("OrderConfirmed: subject and text name the order, the amount and the shipment", () => {
    const message = create(OrderConfirmedSchema, {
      orderId: "o-42",
      customerEmail: "ada@example.com",
      total: create(MoneySchema, { currencyCode: "EUR", amountMinor: 1999n }),
      shipmentId: "sh-7",
    });
    const email = emailFor({
      ...base,
      type: OrderConfirmedSchema.typeName,
      schema: OrderConfirmedSchema,
      message,
    });
    expect(email).toEqual({
      to: "ada@example.com",
      subject: "Your order o-42 is confirmed",
      text:
        "Hello,\n\nyour order o-42 is confirmed and on its way.\nAmount charged: 19.99 EUR.\n" +
        "Shipment: sh-7.\n\nThank you for shopping with Accord.\n",
    });
  });

  it("OrderFailed explains the failure code and reason", () => {
    const message = create(OrderFailedSchema, {
      orderId: "o-1",
      customerEmail: "bob@example.com",
      failureCode: FailureCode.PAYMENT_DECLINED,
      reason: "card expired",
    });
    const email = emailFor({ ...base, type: OrderFailedSchema.typeName, schema: OrderFailedSchema, message });
    expect(email?.subject).toBe("We could not complete your order o-1");
    expect(email?.text).toContain("the payment was declined");
    expect(email?.text).toContain("Details: card expired.");
  });

  it("OrderCancelled gives the reason; no reason, no empty line for it", () => {
    const withReason = create(OrderCancelledSchema, {
      orderId: "o-2",
      customerEmail: "c@x.io",
      reason: "changed mind",
    });
    const e1 = emailFor({
      ...base,
      type: OrderCancelledSchema.typeName,
      schema: OrderCancelledSchema,
      message: withReason,
    });
    expect(e1?.subject).toBe("Your order o-2 is cancelled");
    expect(e1?.text).toContain("Reason: changed mind.");
    const noReason = create(OrderCancelledSchema, { orderId: "o-2", customerEmail: "c@x.io" });
    const e2 = emailFor({
      ...base,
      type: OrderCancelledSchema.typeName,
      schema: OrderCancelledSchema,
      message: noReason,
    });
    expect(e2?.text).not.toContain("Reason");
  });

  it("other events send no email", () => {
    const event: DecodedEvent = {
      ...base,
      type: OrderDeliveredSchema.typeName,
      schema: OrderDeliveredSchema,
      message: create(OrderDeliveredSchema, { orderId: "o-3" }),
    };
    expect(emailFor(event)).toBeUndefined();
  });
});

describe("formatMoney", () => {
  it.each([
    ["EUR", 1999n, "19.99 EUR"],
    ["EUR", 5n, "0.05 EUR"],
    ["JPY", 500n, "500 JPY"],
    ["BHD", 1234n, "1.234 BHD"],
    ["USD", -250n, "-2.50 USD"],
    ["EUR", 900719925474099312n, "9007199254740993.12 EUR"],
  ])("%s %s -> %s", (currencyCode, amountMinor, expected) => {
    expect(formatMoney(create(MoneySchema, { currencyCode, amountMinor }))).toBe(expected);
  });
});
