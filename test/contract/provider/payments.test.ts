import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, it } from "vitest";
import {
  PaymentCapturedSchema,
  PaymentDeclinedSchema,
  PaymentRefundedSchema,
} from "#gen/accord/payments/v1/events_pb.js";
import { orderHolding, outboxMessage, pinId } from "#test/support/pact-provider.ts";
import { pactSourceFromEnv, verifyProvider } from "#test/support/pact-verify.ts";
import type { ServiceProcess } from "#test/support/service-process.ts";
import {
  type ServiceUnderTest,
  startServiceUnderTest,
  startSimulator,
} from "#test/support/service-under-test.ts";

// The real payments process (own database) in front of the simulated payment
// provider, which always declines 666 minor units. States make up a new order
// id per interaction, so idempotency keys never meet across interactions.
let provider: ServiceProcess;
let service: ServiceUnderTest<"payments">;
let payments: ServiceUnderTest<"payments">["client"];

beforeAll(async () => {
  provider = await startSimulator("payment-provider", { PAYMENT_PROVIDER_DECLINE_RATE: "0" });
  service = await startServiceUnderTest("payments", {
    tag: "pact",
    env: { PAYMENT_PROVIDER_URL: provider.url },
  });
  payments = service.client;
});

afterAll(async () => {
  await service?.stop();
  await provider?.stop();
});

async function charge(orderId: string, amountMinor: bigint) {
  return payments
    .charge({
      idempotencyKey: `order-${orderId}/charge`,
      orderId,
      customerId: "customer-42",
      amount: { currencyCode: "EUR", amountMinor },
    })
    .catch(() => undefined); // a decline is the point of some messages
}

/**
 * A captured charge for a new order through the real Charge; with paymentId,
 * that first payment carries the id the pact's replay interaction expects
 * back. A second verification of the same interaction finds it and reuses
 * its order (a replay of a replay is still the first outcome).
 */
async function capturedCharge(amountMinor: string, paymentId: string | undefined): Promise<string> {
  if (paymentId) {
    const earlier = await orderHolding(service.pool, "payments", paymentId);
    if (earlier) return earlier;
  }
  const orderId = randomUUID();
  const res = await charge(orderId, BigInt(amountMinor));
  if (!res?.payment) throw new Error("provider state: the charge was not captured");
  if (paymentId) await pinId(service.pool, "payments", `order-${orderId}/charge`, paymentId);
  return orderId;
}

const outbox = (typeName: string, orderId: string) =>
  outboxMessage(service.pool, typeName, orderId, service.topicPrefix);

describe("payments provider", () => {
  it("honours every consumer's pact", async () => {
    await verifyProvider({
      provider: "payments",
      baseUrl: service.url,
      source: await pactSourceFromEnv("payments"),
      // The saga's calls, with the orchestrator's real token.
      callers: { Charge: "orchestrator", Refund: "orchestrator" },
      stateHandlers: {
        "the payment provider captures charges": async () => ({ orderId: randomUUID() }),
        "the payment provider declines charges of 666": async () => ({ orderId: randomUUID() }),
        "an order has a captured payment": async (params) => {
          const { amountMinor } = params as { amountMinor: string };
          const orderId = randomUUID();
          const res = await charge(orderId, BigInt(amountMinor));
          if (!res?.payment) throw new Error("provider state: the charge was not captured");
          return { orderId };
        },
        "an order has no payment": async () => ({ orderId: randomUUID() }),
        "a charge was already made for an order": async (params) => {
          const { amountMinor, paymentId } = params as { amountMinor: string; paymentId?: string };
          return { orderId: await capturedCharge(amountMinor, paymentId) };
        },
        "an order's payment was already refunded": async (params) => {
          const { amountMinor, reason, paymentId } = params as {
            amountMinor: string;
            reason: string;
            paymentId?: string;
          };
          if (paymentId) {
            const earlier = await orderHolding(service.pool, "payments", paymentId);
            if (earlier) return { orderId: earlier };
          }
          const orderId = await capturedCharge(amountMinor, paymentId);
          const res = await payments.refund({ idempotencyKey: `order-${orderId}/refund`, orderId, reason });
          if (!res.refunded) throw new Error("provider state: the payment was not refunded");
          return { orderId };
        },
      },
      messageProviders: {
        "a PaymentCaptured event": async () => {
          const orderId = randomUUID();
          await charge(orderId, 2500n);
          return outbox(PaymentCapturedSchema.typeName, orderId);
        },
        "a PaymentDeclined event": async () => {
          const orderId = randomUUID();
          await charge(orderId, 666n);
          return outbox(PaymentDeclinedSchema.typeName, orderId);
        },
        "a PaymentRefunded event": async () => {
          const orderId = randomUUID();
          await charge(orderId, 2500n);
          await payments.refund({
            idempotencyKey: `order-${orderId}/refund`,
            orderId,
            reason: "shipping failed",
          });
          return outbox(PaymentRefundedSchema.typeName, orderId);
        },
        // orders' pact: who asked for the refund decides whether the order becomes REFUNDED.
        "a PaymentRefunded event of an ops refund": async () => {
          const orderId = randomUUID();
          await charge(orderId, 2500n);
          await service
            .clientAs("olivia")
            .refund({ idempotencyKey: `ops-${orderId}`, orderId, reason: "goodwill" });
          return outbox(PaymentRefundedSchema.typeName, orderId);
        },
        "a PaymentRefunded event of a saga compensation": async () => {
          const orderId = randomUUID();
          await charge(orderId, 2500n);
          await payments.refund({
            idempotencyKey: `order-${orderId}/refund`,
            orderId,
            reason: "order failed",
          });
          return outbox(PaymentRefundedSchema.typeName, orderId);
        },
      },
    });
  });
});
