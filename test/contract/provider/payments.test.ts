import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, it } from "vitest";
import {
  PaymentCapturedSchema,
  PaymentDeclinedSchema,
  PaymentRefundedSchema,
} from "#gen/accord/payments/v1/events_pb.js";
import { outboxMessage } from "#test/support/pact-provider.ts";
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

const outbox = (typeName: string, orderId: string) =>
  outboxMessage(service.pool, typeName, orderId, service.topicPrefix);

describe("payments provider", () => {
  it("honours every consumer's pact", async () => {
    await verifyProvider({
      provider: "payments",
      baseUrl: service.url,
      source: await pactSourceFromEnv("payments"),
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
      },
    });
  });
});
