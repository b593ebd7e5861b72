import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import {
  CONNECT_HTTP_STATUS,
  CONNECT_REQUEST_HEADERS,
  type ConsumerPact,
  connectPath,
  consumerPact,
  exactly,
  JSON_RESPONSE_HEADERS,
  money,
  stateIdempotencyKey,
  stateOrderId,
  uuid,
} from "#test/support/pact-consumer.ts";
import {
  CUSTOMER_ID,
  FIRST_PAYMENT_ID,
  failureOf,
  ORDER_ID,
  ORDER_JSON,
  PAYMENT_ID,
  REFUNDED_PAYMENT_ID,
  withActivities,
} from "./fixtures.ts";

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

  // The replay promise the saga is built on: a retried activity sends the
  // same key and body, and must get the first outcome back, not a second charge.
  it("Charge replayed with the same key and body answers the first payment", async () => {
    await c.pact
      .addInteraction()
      .given("a charge was already made for an order", { amountMinor: "2500", paymentId: FIRST_PAYMENT_ID })
      .uponReceiving("Charge replayed with the key and body of a captured charge")
      .withRequest("POST", connectPath(PaymentService, "Charge"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(chargeRequest("2500")),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({ payment: { paymentId: exactly(FIRST_PAYMENT_ID) } }),
      )
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) => h.activities.chargePayment(ORDER_JSON));
        expect(res).toEqual({ paymentId: FIRST_PAYMENT_ID });
      });
  });

  it("Charge with a used key and another amount is refused with already_exists", async () => {
    const changed = { ...ORDER_JSON, total: { currencyCode: "EUR", amountMinor: "3000" } };
    await c.pact
      .addInteraction()
      .given("a charge was already made for an order", { amountMinor: "2500" })
      .uponReceiving("Charge with the key of a captured charge and another amount")
      .withRequest("POST", connectPath(PaymentService, "Charge"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(chargeRequest("3000")),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.already_exists, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          code: "already_exists",
          message: regex("^idempotency_key: .+", "idempotency_key: already used for a different charge"),
        }),
      )
      .executeTest(async (mock) => {
        const failure = await failureOf(withActivities(mock.url, (h) => h.activities.chargePayment(changed)));
        expect(failure.type).toBe("AlreadyExists");
        expect(failure.nonRetryable).toBe(true);
      });
  });

  it("Refund replayed with the same key and body answers the first refund", async () => {
    await c.pact
      .addInteraction()
      .given("an order's payment was already refunded", {
        amountMinor: "2500",
        reason: "shipping failed",
        paymentId: REFUNDED_PAYMENT_ID,
      })
      .uponReceiving("Refund replayed with the key and body of a done refund")
      .withRequest("POST", connectPath(PaymentService, "Refund"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(refundRequest),
      )
      .willRespondWith(200, (b) =>
        b
          .headers(JSON_RESPONSE_HEADERS)
          .jsonBody({ payment: { paymentId: exactly(REFUNDED_PAYMENT_ID) }, refunded: true }),
      )
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) =>
          h.activities.refundPayment(ORDER_ID, "shipping failed"),
        );
        expect(res).toEqual({ refunded: true });
      });
  });

  it("Refund with a used key and another reason is refused with already_exists", async () => {
    await c.pact
      .addInteraction()
      .given("an order's payment was already refunded", { amountMinor: "2500", reason: "shipping failed" })
      .uponReceiving("Refund with the key of a done refund and another reason")
      .withRequest("POST", connectPath(PaymentService, "Refund"), (b) =>
        b
          .headers(CONNECT_REQUEST_HEADERS)
          .jsonBody({ ...refundRequest, reason: like("cancelled by customer") }),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.already_exists, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          code: "already_exists",
          message: regex("^idempotency_key: .+", "idempotency_key: already used for a different refund"),
        }),
      )
      .executeTest(async (mock) => {
        const failure = await failureOf(
          withActivities(mock.url, (h) => h.activities.refundPayment(ORDER_ID, "cancelled by customer")),
        );
        expect(failure.type).toBe("AlreadyExists");
        expect(failure.nonRetryable).toBe(true);
      });
  });

  it("matches the committed contracts/orchestrator-payments.json", () => c.checkCommitted());
});
