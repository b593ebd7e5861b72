import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  PaymentCapturedSchema,
  PaymentDeclinedSchema,
  PaymentRefundedSchema,
} from "#gen/accord/payments/v1/events_pb.js";
import { type ConsumerPact, consumerPact, exactMoney, uuid } from "#test/support/pact-consumer.ts";
import { ORDER_ID, PAYMENT_ID } from "./fixtures.ts";
import { channels, planFor, webhookData } from "./notifications-plan.ts";

const { like } = MatchersV3;

// Payment facts go to analytics and to webhook subscribers, routed by order_id.
let c: ConsumerPact;
beforeAll(async () => {
  c = await consumerPact("notifications", "payments");
});
afterAll(async () => {
  await c?.cleanup();
});

const meta = (type: string) => ({ ce_type: type, topic: "payments.events" });
// The amount partners and analytics get is the charged one in minor units: the
// provider charges 2500 (declines 666), so exactly those, never "25".
const base = { paymentId: uuid(PAYMENT_ID), orderId: uuid(ORDER_ID), amount: exactMoney("EUR", "2500") };

describe("notifications <- payments.events", () => {
  it("PaymentCaptured: analytics and webhook, no email", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("a PaymentCaptured event", (b) =>
        b.withMetadata(meta(PaymentCapturedSchema.typeName)).withJSONContent(base),
      )
      .executeTest(async (m) => {
        const plan = planFor(PaymentCapturedSchema, m);
        expect(plan.orderId).toBe(ORDER_ID);
        expect(channels(plan)).toEqual(["webhook", "analytics"]);
        expect(webhookData(plan)).toMatchObject({ paymentId: PAYMENT_ID, amount: { amountMinor: "2500" } });
      });
  });

  it("PaymentDeclined: analytics and webhook with the reason", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("a PaymentDeclined event", (b) =>
        b
          .withMetadata(meta(PaymentDeclinedSchema.typeName))
          .withJSONContent({ ...base, amount: exactMoney("EUR", "666"), reason: like("insufficient_funds") }),
      )
      .executeTest(async (m) => {
        const plan = planFor(PaymentDeclinedSchema, m);
        expect(channels(plan)).toEqual(["webhook", "analytics"]);
        expect(webhookData(plan)).toMatchObject({ reason: "insufficient_funds" });
      });
  });

  it("PaymentRefunded: analytics and webhook with the reason", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("a PaymentRefunded event", (b) =>
        b
          .withMetadata(meta(PaymentRefundedSchema.typeName))
          .withJSONContent({ ...base, reason: like("shipping failed") }),
      )
      .executeTest(async (m) => {
        const plan = planFor(PaymentRefundedSchema, m);
        expect(plan.orderId).toBe(ORDER_ID);
        expect(channels(plan)).toEqual(["webhook", "analytics"]);
      });
  });

  it("matches the committed contracts/notifications-payments.json", () => c.checkCommitted());
});
