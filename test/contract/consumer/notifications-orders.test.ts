import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  OrderCancelledSchema,
  OrderConfirmedSchema,
  OrderFailedSchema,
} from "#gen/accord/orders/v1/events_pb.js";
import { type ConsumerPact, consumerPact, enumOf, exactMoney, uuid } from "#test/support/pact-consumer.ts";
import { CUSTOMER_EMAIL, CUSTOMER_ID, ORDER_ID, PAYMENT_ID, SHIPMENT_ID } from "./fixtures.ts";
import { channels, planFor } from "./notifications-plan.ts";

const { like, regex } = MatchersV3;

// The order outcomes notifications emails the customer about; the contract
// pins the fields the emails are made of (services/notifications/src/domain/email.ts).
let c: ConsumerPact;
beforeAll(async () => {
  c = await consumerPact("notifications", "orders");
});
afterAll(async () => {
  await c?.cleanup();
});

const email = regex("^[^\\s@]+@[^\\s@]+$", CUSTOMER_EMAIL);
const meta = (type: string) => ({ ce_type: type, topic: "orders.events" });
/** The failure codes the failure email has a text for (email.ts failureText; OTHER is its default). */
const EMAILED_FAILURE_CODES = [
  "FAILURE_CODE_OUT_OF_STOCK",
  "FAILURE_CODE_PAYMENT_DECLINED",
  "FAILURE_CODE_SHIPPING_FAILED",
  "FAILURE_CODE_OTHER",
];

describe("notifications <- orders.events", () => {
  it("OrderConfirmed: emails the confirmation with amount and shipment", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("an OrderConfirmed event", (b) =>
        b.withMetadata(meta(OrderConfirmedSchema.typeName)).withJSONContent({
          orderId: uuid(ORDER_ID),
          customerId: like(CUSTOMER_ID),
          customerEmail: email,
          // The email prints it as 25.00 EUR: minor units, the amount the order was placed for.
          total: exactMoney("EUR", "2500"),
          paymentId: like(PAYMENT_ID),
          shipmentId: like(SHIPMENT_ID),
        }),
      )
      .executeTest(async (m) => {
        const plan = planFor(OrderConfirmedSchema, m);
        expect(plan.orderId).toBe(ORDER_ID);
        expect(channels(plan)).toEqual(["email", "webhook", "analytics"]);
        const mail = plan.tasks[0];
        expect(mail?.channel === "email" && mail.task.to).toBe(CUSTOMER_EMAIL);
        expect(mail?.channel === "email" && mail.task.textBody).toContain("Amount charged: 25.00 EUR.");
        expect(mail?.channel === "email" && mail.task.textBody).toContain(`Shipment: ${SHIPMENT_ID}.`);
      });
  });

  it("OrderFailed: emails the failure category, never the free-text reason", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("an OrderFailed event", (b) =>
        b.withMetadata(meta(OrderFailedSchema.typeName)).withJSONContent({
          orderId: uuid(ORDER_ID),
          customerId: like(CUSTOMER_ID),
          customerEmail: email,
          failureCode: enumOf(EMAILED_FAILURE_CODES, "FAILURE_CODE_PAYMENT_DECLINED"),
          reason: like("payment declined: insufficient_funds"),
        }),
      )
      .executeTest(async (m) => {
        const plan = planFor(OrderFailedSchema, m);
        expect(channels(plan)).toEqual(["email", "webhook", "analytics"]);
        const mail = plan.tasks[0];
        expect(mail?.channel === "email" && mail.task.textBody).toContain("the payment was declined");
        expect(mail?.channel === "email" && mail.task.textBody).not.toContain("insufficient_funds");
      });
  });

  it("OrderCancelled: emails the cancellation, never the caller's reason", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("an OrderCancelled event", (b) =>
        b.withMetadata(meta(OrderCancelledSchema.typeName)).withJSONContent({
          orderId: uuid(ORDER_ID),
          customerId: like(CUSTOMER_ID),
          customerEmail: email,
          reason: like("changed my mind"),
        }),
      )
      .executeTest(async (m) => {
        const plan = planFor(OrderCancelledSchema, m);
        expect(channels(plan)).toEqual(["email", "webhook", "analytics"]);
        const mail = plan.tasks[0];
        expect(mail?.channel === "email" && mail.task.subject).toBe(`Your order ${ORDER_ID} is cancelled`);
        expect(mail?.channel === "email" && mail.task.textBody).not.toContain("changed my mind");
      });
  });

  it("matches the committed contracts/notifications-orders.json", () => c.checkCommitted());
});
