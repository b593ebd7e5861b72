import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentRefundedSchema } from "#gen/accord/payments/v1/events_pb.js";
import { opsRefundOf } from "#services/orders/src/payment-events.ts";
import { type ConsumerPact, consumerPact, exactly, exactMoney, uuid } from "#test/support/pact-consumer.ts";
import { ORDER_ID, PAYMENT_ID } from "./fixtures.ts";
import { decodedEvent } from "./orchestrator-bridge.ts";

// Orders reads PaymentRefunded from payments.events: an operator's refund
// (initiator OPS) moves the order to REFUNDED; a saga compensation's
// (initiator SAGA) is left to the saga. Both initiators are the contract.
let c: ConsumerPact;
beforeAll(async () => {
  c = await consumerPact("orders", "payments");
});
afterAll(async () => {
  await c?.cleanup();
});

const meta = { ce_type: PaymentRefundedSchema.typeName, topic: "payments.events" };
// The provider charges 2500 minor units in its states: what is given back is exactly that.
const refunded = (initiator: string) => ({
  paymentId: uuid(PAYMENT_ID),
  orderId: uuid(ORDER_ID),
  amount: exactMoney("EUR", "2500"),
  initiator: exactly(initiator),
});

const decode = (m: { contents: { content: unknown } }) =>
  decodedEvent(PaymentRefundedSchema, fromJson(PaymentRefundedSchema, m.contents.content as JsonObject));

describe("orders <- payments.events", () => {
  it("PaymentRefunded of an ops refund: the order's refund to apply", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("a PaymentRefunded event of an ops refund", (b) =>
        b.withMetadata(meta).withJSONContent(refunded("REFUND_INITIATOR_OPS")),
      )
      .executeTest(async (m) => {
        const refund = opsRefundOf(decode(m));
        expect(refund).toMatchObject({ orderId: ORDER_ID, paymentId: PAYMENT_ID });
        expect(refund?.amount).toMatchObject({ currencyCode: "EUR", amountMinor: 2500n });
      });
  });

  it("PaymentRefunded of a saga compensation: nothing for orders to do", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("a PaymentRefunded event of a saga compensation", (b) =>
        b.withMetadata(meta).withJSONContent(refunded("REFUND_INITIATOR_SAGA")),
      )
      .executeTest(async (m) => {
        expect(opsRefundOf(decode(m))).toBeUndefined();
      });
  });

  it("matches the committed contracts/orders-payments.json", () => c.checkCommitted());
});
