import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentRefundedSchema, RefundInitiator } from "#gen/accord/payments/v1/events_pb.js";
import { PaymentStatus } from "#gen/accord/payments/v1/payments_pb.js";
import { isEventOf } from "#lib/messaging/events.ts";
import { chargeRequest } from "#test/support/requests.ts";
import type { ServiceProcess } from "#test/support/service-process.ts";
import {
  type ServiceUnderTest,
  startServiceUnderTest,
  startSimulator,
} from "#test/support/service-under-test.ts";

// Money bound to the order (issue 11): the real payments process and the real
// payment-provider simulator, called with real tokens from the realm: the
// orchestrator (the saga), olivia (ops), alice (a customer), acme (a partner).
let provider: ServiceProcess;
let payments: ServiceUnderTest<"payments">;
let saga: ServiceUnderTest<"payments">["client"];
let ops: ServiceUnderTest<"payments">["client"];

const fail = (e: unknown) => ConnectError.from(e);

async function providerCharges(reference: string) {
  const res = await fetch(`${provider.url}/v1/charges?reference=${encodeURIComponent(reference)}`);
  return (await res.json()) as { charges: { amount_minor: string }[]; captured: number; refunded: number };
}

async function refundRows(orderId: string) {
  const { rows } = await payments.pool.query<{ idempotency_key: string; status: string; initiator: string }>(
    "SELECT idempotency_key, status, initiator FROM refunds WHERE order_id = $1 ORDER BY created_at",
    [orderId],
  );
  return rows;
}

beforeAll(async () => {
  provider = await startSimulator("payment-provider", { PAYMENT_PROVIDER_DECLINE_RATE: "0" });
  payments = await startServiceUnderTest("payments", {
    env: { PAYMENT_PROVIDER_URL: provider.url },
  });
  saga = payments.client;
  ops = payments.clientAs("olivia");
});

afterAll(async () => {
  const paymentsCode = await payments?.stop();
  await provider?.stop();
  expect(paymentsCode).toBe(0);
});

describe("one amount per order", () => {
  it("refuses the saga's charge of the total after a 1-cent charge under another key, never answering with that payment", async () => {
    const orderId = randomUUID();
    const cent = await saga.charge(
      chargeRequest({
        orderId,
        idempotencyKey: `attacker-${randomUUID()}`,
        amount: { currencyCode: "EUR", amountMinor: 1n },
      }),
    );
    expect(cent.payment?.status).toBe(PaymentStatus.CAPTURED);

    const real = chargeRequest({ orderId });
    const refused = await saga.charge(real).catch(fail);
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((refused as ConnectError).rawMessage).toMatch(/^amount: /);
    // The same again (a retried activity): still refused, never the 1-cent payment.
    const again = await saga.charge(real).catch(fail);
    expect((again as ConnectError).code).toBe(Code.FailedPrecondition);

    // A currency that differs is just as much another amount.
    const otherCurrency = await saga
      .charge(
        chargeRequest({
          orderId,
          idempotencyKey: `attacker-${randomUUID()}`,
          amount: { currencyCode: "USD", amountMinor: 1n },
        }),
      )
      .catch(fail);
    expect((otherCurrency as ConnectError).code).toBe(Code.FailedPrecondition);

    const seen = await providerCharges(orderId);
    expect(seen.charges.map((c) => c.amount_minor)).toEqual(["1"]);
  });

  it("answers a charge of the same amount under another key with the order's payment", async () => {
    const first = chargeRequest();
    const { payment } = await saga.charge(first);
    const same = await saga.charge({ ...first, idempotencyKey: `${first.idempotencyKey}-retry` });
    expect(same.payment?.paymentId).toBe(payment?.paymentId);
    expect((await providerCharges(first.orderId)).captured).toBe(1);
  });

  it("lets only the orchestrator charge: a customer, a partner and ops are permission_denied", async () => {
    for (const who of ["alice", "acme", "olivia"] as const) {
      const error = await payments.clientAs(who).charge(chargeRequest()).catch(fail);
      expect((error as ConnectError).code, who).toBe(Code.PermissionDenied);
    }
  });
});

describe("Refund by ops", () => {
  it("is permission_denied for a customer and a partner, and moves no money", async () => {
    const req = chargeRequest();
    await saga.charge(req);
    for (const who of ["alice", "acme"] as const) {
      const error = await payments
        .clientAs(who)
        .refund({ idempotencyKey: `r-${randomUUID()}`, orderId: req.orderId, reason: "please" })
        .catch(fail);
      expect((error as ConnectError).code, who).toBe(Code.PermissionDenied);
    }
    expect((await providerCharges(req.orderId)).refunded).toBe(0);
    expect(await refundRows(req.orderId)).toEqual([]);
  });

  it("before any charge is failed_precondition, records nothing, and the saga's charge later succeeds", async () => {
    const req = chargeRequest();
    const early = await ops
      .refund({ idempotencyKey: `ops-${randomUUID()}`, orderId: req.orderId, reason: "early" })
      .catch(fail);
    expect((early as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((early as ConnectError).rawMessage).toContain("order_id");
    expect(await refundRows(req.orderId)).toEqual([]);

    const { payment } = await saga.charge(req);
    expect(payment?.status).toBe(PaymentStatus.CAPTURED);
  });

  it("refunds a captured payment, replays by key, and publishes PaymentRefunded with initiator OPS", async () => {
    const req = chargeRequest();
    const { payment } = await saga.charge(req);
    const key = `ops-${randomUUID()}`;
    const refund = { idempotencyKey: key, orderId: req.orderId, reason: "goodwill" };
    const first = await ops.refund(refund);
    expect(first.refunded).toBe(true);
    expect(first.payment?.status).toBe(PaymentStatus.REFUNDED);
    expect(first.payment?.paymentId).toBe(payment?.paymentId);

    const replay = await ops.refund(refund);
    expect(replay.refunded).toBe(true);
    expect(replay.payment?.refundId).toBe(first.payment?.refundId);
    // Another operator key: the payment is refunded already, nothing to give back.
    const second = await ops.refund({ ...refund, idempotencyKey: `ops-${randomUUID()}` }).catch(fail);
    expect((second as ConnectError).code).toBe(Code.FailedPrecondition);
    // The saga compensating afterwards is harmless.
    const compensation = await saga.refund({
      idempotencyKey: `order-${req.orderId}/refund`,
      orderId: req.orderId,
      reason: "order failed",
    });
    expect(compensation.refunded).toBe(false);
    expect((await providerCharges(req.orderId)).refunded).toBe(1);

    expect(await refundRows(req.orderId)).toEqual([
      { idempotency_key: `ops/${key}`, status: "REFUNDED", initiator: "OPS" },
      { idempotency_key: `order-${req.orderId}/refund`, status: "NOTHING", initiator: "SAGA" },
    ]);

    await expect
      .poll(async () => (await payments.events.received(req.orderId)).map((e) => e.event.type), {
        timeout: 20_000,
        interval: 250,
      })
      .toContain(PaymentRefundedSchema.typeName);
    const refunded = (await payments.events.received(req.orderId))
      .map((e) => e.event)
      .filter((e) => isEventOf(e, PaymentRefundedSchema));
    expect(refunded).toHaveLength(1);
    const message = refunded[0]?.message as { initiator: RefundInitiator; amount?: { amountMinor: bigint } };
    expect(message.initiator).toBe(RefundInitiator.OPS);
    expect(message.amount?.amountMinor).toBe(4200n);
  });

  it("keeps the saga's refund as it was: initiator SAGA, and nothing to refund still blocks a later charge", async () => {
    const req = chargeRequest();
    await saga.charge(req);
    const done = await saga.refund({
      idempotencyKey: `order-${req.orderId}/refund`,
      orderId: req.orderId,
      reason: "order failed",
    });
    expect(done.refunded).toBe(true);
    await expect
      .poll(
        async () =>
          (await payments.events.received(req.orderId))
            .map((e) => e.event)
            .filter((e) => isEventOf(e, PaymentRefundedSchema))
            .map((e) => (e.message as { initiator: RefundInitiator }).initiator),
        { timeout: 20_000, interval: 250 },
      )
      .toEqual([RefundInitiator.SAGA]);

    const orderId = randomUUID();
    const nothing = await saga.refund({ idempotencyKey: `order-${orderId}/refund`, orderId, reason: "x" });
    expect(nothing.refunded).toBe(false);
    const late = await saga.charge(chargeRequest({ orderId })).catch(fail);
    expect((late as ConnectError).code).toBe(Code.FailedPrecondition);
  });

  it("keeps an operator's key apart from the saga's: reusing the saga's key neither replays nor blocks it", async () => {
    const req = chargeRequest();
    await saga.charge(req);
    const sagaKey = `order-${req.orderId}/refund`;
    const byOps = await ops.refund({ idempotencyKey: sagaKey, orderId: req.orderId, reason: "ops" });
    expect(byOps.refunded).toBe(true);
    const bySaga = await saga.refund({ idempotencyKey: sagaKey, orderId: req.orderId, reason: "ops" });
    expect(bySaga.refunded).toBe(false);
    expect((await refundRows(req.orderId)).map((r) => r.initiator)).toEqual(["OPS", "SAGA"]);
  });
});
