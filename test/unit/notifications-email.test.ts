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

  it("OrderFailed explains the failure code in fixed words, never its free-text reason", () => {
    const message = create(OrderFailedSchema, {
      orderId: "o-1",
      customerEmail: "bob@example.com",
      failureCode: FailureCode.PAYMENT_DECLINED,
      reason: "charge did not complete: ConnectError: [unavailable] connect ECONNREFUSED 10.1.2.3:8083",
    });
    const email = emailFor({ ...base, type: OrderFailedSchema.typeName, schema: OrderFailedSchema, message });
    expect(email).toEqual({
      to: "bob@example.com",
      subject: "We could not complete your order o-1",
      text:
        "Hello,\n\nwe are sorry: your order o-1 could not be completed (the payment was declined).\n" +
        "Nothing was charged, or any charge has been refunded.\n\nThe Accord team\n",
    });
  });

  // CancelOrder's reason is what its caller typed; it is never copied into a mail from Accord.
  const HOSTILE_REASONS = [
    "Your refund is waiting: http://accord-refunds.example/claim, call +1 555 0100",
    "<a href='http://evil.example'>click</a><script>alert(1)</script>",
    "line one\r\nBcc: victim@example.com\r\n\r\nforged body",
    "=?utf-8?b?Zm9yZ2Vk?= \u202e spoof",
  ];

  it.each(HOSTILE_REASONS)("OrderCancelled renders a fixed text whatever the reason: %j", (reason) => {
    const cancelled = create(OrderCancelledSchema, { orderId: "o-2", customerEmail: "c@x.io", reason });
    const email = emailFor({
      ...base,
      type: OrderCancelledSchema.typeName,
      schema: OrderCancelledSchema,
      message: cancelled,
    });
    const without = emailFor({
      ...base,
      type: OrderCancelledSchema.typeName,
      schema: OrderCancelledSchema,
      message: create(OrderCancelledSchema, { orderId: "o-2", customerEmail: "c@x.io" }),
    });
    expect(email).toEqual(without);
    expect(email).toEqual({
      to: "c@x.io",
      subject: "Your order o-2 is cancelled",
      text: "Hello,\n\nyour order o-2 has been cancelled.\nAny charge has been refunded.\n\nThe Accord team\n",
    });
  });

  it.each(HOSTILE_REASONS)("OrderFailed leaves the reason out too: %j", (reason) => {
    const message = create(OrderFailedSchema, {
      orderId: "o-3",
      customerEmail: "d@x.io",
      failureCode: FailureCode.OUT_OF_STOCK,
      reason,
    });
    const email = emailFor({ ...base, type: OrderFailedSchema.typeName, schema: OrderFailedSchema, message });
    expect(`${email?.subject}${email?.text}`).not.toContain(reason.slice(0, 12));
    expect(email?.text).toContain("an item is out of stock");
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
