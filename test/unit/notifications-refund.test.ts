import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MoneySchema } from "#gen/accord/common/v1/common_pb.js";
import { OrderRefundedSchema } from "#gen/accord/orders/v1/events_pb.js";
import type { DecodedEvent } from "#lib/messaging/events.ts";
import { emailFor } from "#services/notifications/src/domain/email.ts";
import { deliverableEventTypes, entitled } from "#services/notifications/src/domain/entitlement.ts";
import { planTasks } from "#services/notifications/src/domain/routing.ts";

const ORDER_ID = "0190f0c4-2222-7000-8000-000000000002";

const refunded = (customerEmail = "ada@example.com"): DecodedEvent => ({
  id: "evt-refund-1",
  type: OrderRefundedSchema.typeName,
  source: "/accord/orders",
  time: "2026-01-02T03:04:05.678Z",
  schema: OrderRefundedSchema,
  message: create(OrderRefundedSchema, {
    orderId: ORDER_ID,
    customerId: "c-1",
    customerEmail,
    amount: create(MoneySchema, { currencyCode: "EUR", amountMinor: 4200n }),
    paymentId: "p-1",
  }),
});

describe("OrderRefunded", () => {
  it("emails the customer that the payment was refunded, with the amount, in fixed words", () => {
    expect(emailFor(refunded())).toEqual({
      to: "ada@example.com",
      subject: `Your payment for order ${ORDER_ID} was refunded`,
      text:
        `Hello,\n\nyour payment for order ${ORDER_ID} was refunded.\nAmount refunded: 42.00 EUR.\n` +
        "It may take a few days to show on your statement.\n\nThe Accord team\n",
    });
  });

  it("is an email, a webhook for partners entitled to order events, and analytics", () => {
    expect(entitled("partner", OrderRefundedSchema.typeName)).toBe(true);
    const partnerTypes = deliverableEventTypes("partner", []);
    expect(partnerTypes).toContain(OrderRefundedSchema.typeName);
    const plan = planTasks(refunded(), [{ subscriptionId: "acme", eventTypes: [...(partnerTypes ?? [])] }]);
    expect(plan.tasks.map((t) => t.channel)).toEqual(["email", "webhook", "analytics"]);
  });

  it("sends partners the order id and the amount only: no customer id, email or payment id", () => {
    const plan = planTasks(refunded(), [
      { subscriptionId: "acme", eventTypes: [OrderRefundedSchema.typeName] },
    ]);
    const hook = plan.tasks.find((t) => t.channel === "webhook");
    if (hook?.channel !== "webhook") throw new Error("no webhook task");
    expect(hook.task.payload?.data).toEqual({
      orderId: ORDER_ID,
      amount: { currencyCode: "EUR", amountMinor: "4200" },
    });
  });

  it("without a usable address is poison, not a mail to nowhere", () => {
    expect(() => planTasks(refunded(""), [])).toThrow(/customer_email/);
  });
});
