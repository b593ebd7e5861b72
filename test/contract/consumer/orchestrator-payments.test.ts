import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import {
  CONNECT_HTTP_STATUS,
  CONNECT_REQUEST_HEADERS,
  type ConsumerPact,
  connectPath,
  consumerPact,
  JSON_RESPONSE_HEADERS,
  money,
  stateIdempotencyKey,
  stateOrderId,
  uuid,
} from "#test/support/pact-consumer.ts";
import { CUSTOMER_ID, failureOf, ORDER_ID, ORDER_JSON, PAYMENT_ID, withActivities } from "./fixtures.ts";

const { like, regex } = MatchersV3;

// Charge (saga step) and Refund (its compensation), through the real activities.
let c: ConsumerPact;
beforeAll(async () => {
  c = await consumerPact("orchestrator", "payments");
});
afterAll(async () => {
  await c?.cleanup();
});

const chargeRequest = (amountMinor: string) => ({
  idempotencyKey: stateIdempotencyKey("charge", ORDER_ID),
  orderId: stateOrderId(ORDER_ID),
  customerId: like(CUSTOMER_ID),
  amount: money("EUR", amountMinor),
});

const refundRequest = {
  idempotencyKey: stateIdempotencyKey("refund", ORDER_ID),
  orderId: stateOrderId(ORDER_ID),
  reason: like("shipping failed"),
};

describe("orchestrator -> payments", () => {
  it("Charge captures the order total and answers the payment id", async () => {
    await c.pact
      .addInteraction()
      .given("the payment provider captures charges")
      .uponReceiving("Charge for an order the provider accepts")
      .withRequest("POST", connectPath(PaymentService, "Charge"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(chargeRequest("2500")),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({ payment: { paymentId: uuid(PAYMENT_ID) } }),
      )
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) => h.activities.chargePayment(ORDER_JSON));
        expect(res).toEqual({ paymentId: PAYMENT_ID });
      });
  });

  it("Charge answers a decline with failed_precondition", async () => {
    // The simulated provider always declines 666 minor units.
    const declined = { ...ORDER_JSON, total: { currencyCode: "EUR", amountMinor: "666" } };
    await c.pact
      .addInteraction()
      .given("the payment provider declines charges of 666")
      .uponReceiving("Charge for an order the provider declines")
      .withRequest("POST", connectPath(PaymentService, "Charge"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(chargeRequest("666")),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.failed_precondition, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          code: "failed_precondition",
          message: regex("^payment declined: .+", "payment declined: insufficient_funds"),
        }),
      )
      .executeTest(async (mock) => {
        const failure = await failureOf(
          withActivities(mock.url, (h) => h.activities.chargePayment(declined)),
        );
        expect(failure.type).toBe("FailedPrecondition");
        expect(failure.nonRetryable).toBe(true);
      });
  });

  it("Refund gives back a captured payment", async () => {
    await c.pact
      .addInteraction()
      .given("an order has a captured payment", { amountMinor: "2500" })
      .uponReceiving("Refund for an order with a captured payment")
      .withRequest("POST", connectPath(PaymentService, "Refund"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(refundRequest),
      )
      .willRespondWith(200, (b) =>
        b
          .headers(JSON_RESPONSE_HEADERS)
          .jsonBody({ payment: { paymentId: uuid(PAYMENT_ID) }, refunded: true }),
      )
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) =>
          h.activities.refundPayment(ORDER_ID, "shipping failed"),
        );
        expect(res).toEqual({ refunded: true });
      });
  });

  it("Refund with nothing captured succeeds harmlessly (refunded omitted = false)", async () => {
    await c.pact
      .addInteraction()
      .given("an order has no payment")
      .uponReceiving("Refund for an order without a payment")
      .withRequest("POST", connectPath(PaymentService, "Refund"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(refundRequest),
      )
      .willRespondWith(200, (b) => b.headers(JSON_RESPONSE_HEADERS).jsonBody({}))
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) =>
          h.activities.refundPayment(ORDER_ID, "shipping failed"),
        );
        expect(res).toEqual({ refunded: false });
      });
  });

  it("matches the committed contracts/orchestrator-payments.json", () => c.checkCommitted());
});
