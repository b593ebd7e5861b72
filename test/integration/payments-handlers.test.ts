import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentService, PaymentStatus } from "#gen/accord/payments/v1/payments_pb.js";
import { createPaymentService } from "#services/payments/src/payment-service.ts";
import { createProviderClient, type ProviderClient } from "#services/payments/src/provider-client.ts";
import { type HandlersUnderTest, startHandlersUnderTest } from "#test/support/handlers-under-test.ts";
import { servicePrincipal } from "#test/support/identity.ts";
import { prefixedTopic } from "#test/support/kafka.ts";
import { chargeRequest } from "#test/support/requests.ts";
import type { ServiceProcess } from "#test/support/service-process.ts";
import { startSimulator } from "#test/support/service-under-test.ts";

// The payments handlers in this process, on a migrated database of their
// own, with their real provider client and breaker in front of the real
// payment-provider simulator (its own process): called with the generated
// client through createRouterTransport.
let simulator: ServiceProcess;
let provider: ProviderClient | undefined;
let payments: HandlersUnderTest<typeof PaymentService>;

beforeAll(async () => {
  simulator = await startSimulator("payment-provider", { PAYMENT_PROVIDER_DECLINE_RATE: "0" });
  payments = await startHandlersUnderTest({
    name: "payments",
    service: PaymentService,
    handlers: ({ pool, logger, topicPrefix }) => {
      provider = createProviderClient({ baseUrl: simulator.url, breaker: { timeoutMs: 2_000 }, logger });
      return createPaymentService({ pool, provider, logger, topic: prefixedTopic(topicPrefix, "payments") });
    },
    caller: servicePrincipal("orchestrator"),
  });
});

afterAll(async () => {
  provider?.shutdown();
  await payments?.stop();
  await simulator?.stop();
});

async function providerCaptures(reference: string): Promise<number> {
  const res = await fetch(`${simulator.url}/v1/charges?reference=${encodeURIComponent(reference)}`);
  return ((await res.json()) as { captured: number }).captured;
}

const failure = (e: unknown) => ConnectError.from(e);

describe("payments handlers in process", () => {
  it("captures a charge at the provider and records it with its PaymentCaptured outbox row", async () => {
    const req = chargeRequest();
    const { payment } = await payments.client.charge(req);
    expect(payment?.status).toBe(PaymentStatus.CAPTURED);
    expect(payment?.providerReference).toMatch(/^ch_/);
    expect(await providerCaptures(req.orderId)).toBe(1);
    const { rows } = await payments.pool.query<{ event_type: string }>(
      "SELECT event_type FROM outbox WHERE message_key = $1",
      [req.orderId],
    );
    expect(rows.map((r) => r.event_type)).toEqual(["accord.payments.v1.PaymentCaptured"]);
  });

  it("answers InvalidArgument naming the fields, without calling the provider", async () => {
    const req = chargeRequest({ idempotencyKey: "", amount: { currencyCode: "EUR", amountMinor: 0n } });
    const error = await payments.client.charge(req).catch(failure);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toContain("idempotency_key");
    expect((error as ConnectError).rawMessage).toContain("amount.amount_minor");
    expect(await providerCaptures(req.orderId)).toBe(0);
  });

  it("charges once for a repeated key, and refuses the key with another amount", async () => {
    const req = chargeRequest();
    const [first, second] = await Promise.all([payments.client.charge(req), payments.client.charge(req)]);
    expect(second.payment?.paymentId).toBe(first.payment?.paymentId);
    expect(await providerCaptures(req.orderId)).toBe(1);

    const changed = await payments.client
      .charge(chargeRequest({ orderId: req.orderId, amount: { currencyCode: "EUR", amountMinor: 9999n } }))
      .catch(failure);
    expect((changed as ConnectError).code).toBe(Code.AlreadyExists);
    expect((changed as ConnectError).rawMessage).toContain("idempotency_key");
  });

  it("refunds once for a repeated key", async () => {
    const req = chargeRequest();
    await payments.client.charge(req);
    const refund = { idempotencyKey: `order-${req.orderId}/refund`, orderId: req.orderId, reason: "test" };
    const first = await payments.client.refund(refund);
    const again = await payments.client.refund(refund);
    expect(first.refunded).toBe(true);
    expect(first.payment?.status).toBe(PaymentStatus.REFUNDED);
    expect(again.refunded).toBe(true);
    expect(again.payment?.refundId).toBe(first.payment?.refundId);
  });
});
