import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type ChargeRequest, PaymentStatus } from "#gen/accord/payments/v1/payments_pb.js";
import { chargeRequest } from "#test/support/requests.ts";
import type { ServiceProcess } from "#test/support/service-process.ts";
import {
  type ServiceUnderTest,
  setSimulatorBehaviour,
  startServiceUnderTest,
  startSimulator,
} from "#test/support/service-under-test.ts";

// The real payment-provider process and the real payments process on its own
// database and its own events topic, called with the generated client.
// Above a loaded machine's answer time (300 ms failed a healthy call under load), below the slow cases.
const TIMEOUT_MS = 500;
const RESET_MS = 1_000;
/** A call retried while it fails (the provider or the breaker answers Unavailable), as Temporal's retry would. */
const RETRIED = { timeout: 8_000, interval: 200 };
let provider: ServiceProcess;
let payments: ServiceUnderTest<"payments">;
let db: pg.Pool;
let client: ServiceUnderTest<"payments">["client"];

interface ProviderCharge {
  charge_id: string;
  status: string;
  refund_id?: string;
  idempotency_key: string;
}

async function providerCharges(reference: string) {
  const res = await fetch(`${provider.url}/v1/charges?reference=${encodeURIComponent(reference)}`);
  return (await res.json()) as { charges: ProviderCharge[]; captured: number; refunded: number };
}

const setBehaviour = (change: Parameters<typeof setSimulatorBehaviour>[1]) =>
  setSimulatorBehaviour(provider, change);

const fail = (e: unknown) => ConnectError.from(e);

async function outboxTypes(orderId: string): Promise<string[]> {
  const rows = await db.query<{ event_type: string }>(
    "SELECT event_type FROM outbox WHERE message_key = $1 ORDER BY id",
    [orderId],
  );
  return rows.rows.map((r) => r.event_type);
}

beforeAll(async () => {
  provider = await startSimulator("payment-provider");
  payments = await startServiceUnderTest("payments", {
    env: {
      PAYMENT_PROVIDER_URL: provider.url,
      PAYMENTS_PROVIDER_BREAKER_TIMEOUT_MS: String(TIMEOUT_MS),
      PAYMENTS_PROVIDER_BREAKER_VOLUME_THRESHOLD: "3",
      PAYMENTS_PROVIDER_BREAKER_ERROR_PERCENT: "50",
      PAYMENTS_PROVIDER_BREAKER_RESET_MS: String(RESET_MS),
      // Short statistics window (successes of earlier tests roll out quickly), yet
      // long enough to hold the volume threshold's timed-out calls.
      PAYMENTS_PROVIDER_BREAKER_WINDOW_MS: String(TIMEOUT_MS * 8),
    },
  });
  client = payments.client;
  db = payments.pool;
});

afterAll(async () => {
  const paymentsCode = await payments?.stop();
  const providerCode = await provider?.stop();
  // Graceful shutdown on SIGTERM exits 0.
  expect(paymentsCode).toBe(0);
  expect(providerCode).toBe(0);
});

describe("Charge", () => {
  it("captures once; the same key returns the same payment and the provider still has one capture", async () => {
    const req = chargeRequest();
    const { payment } = await client.charge(req);
    expect(payment?.status).toBe(PaymentStatus.CAPTURED);
    expect(payment?.providerReference).toMatch(/^ch_/);
    expect(payment?.amount?.amountMinor).toBe(4200n);

    const again = await client.charge(req);
    expect(again.payment?.paymentId).toBe(payment?.paymentId);
    expect(again.payment?.providerReference).toBe(payment?.providerReference);

    // A second key for the same order returns the order's captured payment.
    const otherKey = await client.charge({ ...req, idempotencyKey: `${req.idempotencyKey}-again` });
    expect(otherKey.payment?.paymentId).toBe(payment?.paymentId);

    const seen = await providerCharges(req.orderId);
    expect(seen.captured).toBe(1);
    expect(seen.charges).toHaveLength(1);
    expect(seen.charges[0]?.idempotency_key).toBe(req.idempotencyKey);

    const rows = await db.query("SELECT status, provider_charge_id FROM payments WHERE order_id = $1", [
      req.orderId,
    ]);
    expect(rows.rows).toEqual([{ status: "CAPTURED", provider_charge_id: payment?.providerReference }]);
    expect(await outboxTypes(req.orderId)).toEqual(["accord.payments.v1.PaymentCaptured"]);

    const fetched = await client.getPayment({ paymentId: payment?.paymentId ?? "" });
    expect(fetched.payment?.status).toBe(PaymentStatus.CAPTURED);
  });

  it("rejects the same key with a different body as AlreadyExists", async () => {
    const req = chargeRequest();
    await client.charge(req);
    const changed = chargeRequest({
      orderId: req.orderId,
      idempotencyKey: req.idempotencyKey,
      amount: { currencyCode: "EUR", amountMinor: 9999n },
    });
    const error = await client.charge(changed).catch(fail);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.AlreadyExists);
    expect((error as ConnectError).rawMessage).toContain("idempotency_key");
    expect((await providerCharges(req.orderId)).captured).toBe(1);
  });

  it("records a decline (amount 666) and answers FailedPrecondition, the same on replay", async () => {
    const req = chargeRequest({
      amount: { currencyCode: "EUR", amountMinor: 666n },
    });
    const error = await client.charge(req).catch(fail);
    expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((error as ConnectError).rawMessage).toBe("payment declined: insufficient_funds");
    const replay = await client.charge(req).catch(fail);
    expect((replay as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((replay as ConnectError).rawMessage).toBe("payment declined: insufficient_funds");

    const rows = await db.query("SELECT status, decline_reason FROM payments WHERE order_id = $1", [
      req.orderId,
    ]);
    expect(rows.rows).toEqual([{ status: "DECLINED", decline_reason: "insufficient_funds" }]);
    expect(await outboxTypes(req.orderId)).toEqual(["accord.payments.v1.PaymentDeclined"]);
    const seen = await providerCharges(req.orderId);
    expect(seen.charges).toHaveLength(1);
    expect(seen.captured).toBe(0);
  });

  it("rejects bad input with InvalidArgument naming the fields", async () => {
    const error = await client
      .charge(
        chargeRequest({
          idempotencyKey: "",
          amount: { currencyCode: "XYZ", amountMinor: 0n },
        }),
      )
      .catch(fail);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toContain("idempotency_key");
    expect((error as ConnectError).rawMessage).toContain("amount.amount_minor");
    expect((error as ConnectError).rawMessage).toContain("amount.currency_code");

    const noAmount = await client.charge(chargeRequest({ orderId: "", amount: undefined })).catch(fail);
    expect((noAmount as ConnectError).code).toBe(Code.InvalidArgument);
    expect((noAmount as ConnectError).rawMessage).toContain("order_id");
    expect((noAmount as ConnectError).rawMessage).toContain("amount: is required");

    const badId = await client.getPayment({ paymentId: "nope" }).catch(fail);
    expect((badId as ConnectError).code).toBe(Code.InvalidArgument);
    expect((badId as ConnectError).rawMessage).toContain("payment_id");
    const unknown = await client.getPayment({ paymentId: randomUUID() }).catch(fail);
    expect((unknown as ConnectError).code).toBe(Code.NotFound);
  });
});

describe("concurrency", () => {
  it("charges once when the same request, and other keys for the same order, race", async () => {
    const req = chargeRequest();
    const sameKey = Array.from({ length: 6 }, () => client.charge(req));
    const otherKeys = Array.from({ length: 4 }, (_, i) =>
      client.charge(chargeRequest({ orderId: req.orderId, idempotencyKey: `${req.idempotencyKey}/${i}` })),
    );
    const answers = await Promise.all([...sameKey, ...otherKeys]);
    const ids = new Set(answers.map((a) => a.payment?.paymentId));
    expect(ids.size).toBe(1);
    expect((await providerCharges(req.orderId)).captured).toBe(1);
    expect(await outboxTypes(req.orderId)).toEqual(["accord.payments.v1.PaymentCaptured"]);
  });
});

describe("Refund", () => {
  it("refunds a captured payment once; the same key replays, another key refunds nothing", async () => {
    const req = chargeRequest();
    const { payment } = await client.charge(req);
    const key = `order-${req.orderId}/refund`;
    const first = await client.refund({ idempotencyKey: key, orderId: req.orderId, reason: "saga failed" });
    expect(first.refunded).toBe(true);
    expect(first.payment?.status).toBe(PaymentStatus.REFUNDED);
    expect(first.payment?.refundId).toMatch(/^re_/);
    expect(first.payment?.paymentId).toBe(payment?.paymentId);

    const replay = await client.refund({ idempotencyKey: key, orderId: req.orderId, reason: "saga failed" });
    expect(replay.refunded).toBe(true);
    expect(replay.payment?.refundId).toBe(first.payment?.refundId);
    const other = await client.refund({ idempotencyKey: `${key}-2`, orderId: req.orderId, reason: "again" });
    expect(other.refunded).toBe(false);
    expect(other.payment?.status).toBe(PaymentStatus.REFUNDED);

    const seen = await providerCharges(req.orderId);
    expect(seen.captured).toBe(1);
    expect(seen.refunded).toBe(1);
    expect(await outboxTypes(req.orderId)).toEqual([
      "accord.payments.v1.PaymentCaptured",
      "accord.payments.v1.PaymentRefunded",
    ]);

    const reused = await client
      .refund({ idempotencyKey: key, orderId: randomUUID(), reason: "x" })
      .catch(fail);
    expect((reused as ConnectError).code).toBe(Code.AlreadyExists);
  });

  it("succeeds with refunded=false when there is nothing to refund, and then refuses a late charge", async () => {
    const orderId = randomUUID();
    const result = await client.refund({
      idempotencyKey: `order-${orderId}/refund`,
      orderId,
      reason: "cancel",
    });
    expect(result.refunded).toBe(false);
    expect(result.payment).toBeUndefined();

    const late = await client.charge(chargeRequest({ orderId })).catch(fail);
    expect((late as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((await providerCharges(orderId)).charges).toHaveLength(0);

    const bad = await client.refund({ idempotencyKey: "k", orderId: "", reason: "" }).catch(fail);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).rawMessage).toContain("order_id");
  });

  it("refunds a timed-out charge that went through, by settling it with its own key first", async () => {
    const req = chargeRequest();
    await setBehaviour({ latencyMs: TIMEOUT_MS * 3 });
    try {
      const error = await client.charge(req).catch(fail);
      expect((error as ConnectError).code).toBe(Code.Unavailable);
    } finally {
      await setBehaviour({ latencyMs: 0 });
    }
    // The provider captured it; payments does not know yet.
    expect((await providerCharges(req.orderId)).captured).toBe(1);
    const pending = await db.query("SELECT status FROM payments WHERE order_id = $1", [req.orderId]);
    expect(pending.rows).toEqual([{ status: "PENDING" }]);

    const refund = await vi.waitFor(
      () =>
        client.refund({
          idempotencyKey: `order-${req.orderId}/refund`,
          orderId: req.orderId,
          reason: "timeout",
        }),
      RETRIED,
    );
    expect(refund.refunded).toBe(true);
    expect(refund.payment?.status).toBe(PaymentStatus.REFUNDED);
    const seen = await providerCharges(req.orderId);
    expect(seen.captured).toBe(1);
    expect(seen.refunded).toBe(1);
    // The charge's own replay now tells the settled (refunded) payment.
    const replay = await client.charge(req);
    expect(replay.payment?.status).toBe(PaymentStatus.REFUNDED);
  });
});

describe("provider failures", () => {
  it("answers Unavailable during an outage, keeps the row PENDING, and completes with the same key", async () => {
    const req = chargeRequest();
    await setBehaviour({ outage: true });
    try {
      const error = await client.charge(req).catch(fail);
      expect((error as ConnectError).code).toBe(Code.Unavailable);
      // An outage of the provider does not make payments unready.
      expect((await fetch(`${payments.url}/readyz`)).status).toBe(200);
    } finally {
      await setBehaviour({ outage: false });
    }
    const pending = await db.query("SELECT status FROM payments WHERE order_id = $1", [req.orderId]);
    expect(pending.rows).toEqual([{ status: "PENDING" }]);
    expect((await providerCharges(req.orderId)).charges).toHaveLength(0);

    const { payment } = await vi.waitFor(() => client.charge(req), RETRIED);
    expect(payment?.status).toBe(PaymentStatus.CAPTURED);
    await client.charge(req);
    expect((await providerCharges(req.orderId)).captured).toBe(1);
    expect(await outboxTypes(req.orderId)).toEqual(["accord.payments.v1.PaymentCaptured"]);
  });

  it("publishes the outbox rows through the in-process relay", async () => {
    const req = chargeRequest();
    await vi.waitFor(() => client.charge(req), RETRIED);
    await expect
      .poll(
        async () =>
          (
            await db.query<{ published: boolean }>(
              "SELECT published_at IS NOT NULL AS published FROM outbox WHERE message_key = $1",
              [req.orderId],
            )
          ).rows,
        { timeout: 15_000, interval: 100 },
      )
      .toEqual([{ published: true }]);
    await expect
      .poll(async () => (await payments.events.received(req.orderId)).map((e) => e.event.type), {
        timeout: 15_000,
        interval: 100,
      })
      .toEqual(["accord.payments.v1.PaymentCaptured"]);
  });

  it("opens the breaker when the provider is slower than the timeout, then answers Unavailable at once", async () => {
    const slowOrders: ChargeRequest[] = [];
    let fastFailure: ConnectError | undefined;
    await setBehaviour({ latencyMs: TIMEOUT_MS * 4 });
    try {
      for (let i = 0; i < 20 && !fastFailure; i++) {
        const req = chargeRequest();
        const started = performance.now();
        const error = fail(await client.charge(req).catch((e: unknown) => e));
        const took = performance.now() - started;
        expect(error.code).toBe(Code.Unavailable);
        // Faster than one provider timeout: the breaker answered without calling it.
        if (took < TIMEOUT_MS) fastFailure = error;
        else slowOrders.push(req);
      }
      expect(fastFailure?.rawMessage).toContain("circuit breaker open");
      // The first calls really waited for the timeout; then the breaker opened.
      expect(slowOrders.length).toBeGreaterThanOrEqual(1);
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const error = fail(await client.charge(chargeRequest()).catch((e: unknown) => e));
        expect(error.code).toBe(Code.Unavailable);
        expect(performance.now() - started).toBeLessThan(TIMEOUT_MS);
      }
    } finally {
      await setBehaviour({ latencyMs: 0 });
    }

    // After the reset timeout a probe goes through; the timed-out charges
    // complete with their own keys, each captured exactly once.
    const first = slowOrders[0] as ChargeRequest;
    const { payment } = await vi.waitFor(() => client.charge(first), { ...RETRIED, timeout: RESET_MS * 8 });
    expect(payment?.status).toBe(PaymentStatus.CAPTURED);
    expect((await providerCharges(first.orderId)).captured).toBe(1);
  });
});

describe("payment provider HTTP API", () => {
  const post = (path: string, key: string | undefined, body: unknown) =>
    fetch(`${provider.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify(body),
    });

  it("honours idempotency keys itself and refuses a reused key with a different body", async () => {
    const reference = randomUUID();
    const key = `k-${reference}`;
    const first = await post("/v1/charges", key, { amount_minor: "100", currency: "EUR", reference });
    expect(first.status).toBe(201);
    const again = await post("/v1/charges", key, { amount_minor: "100", currency: "EUR", reference });
    expect(await again.json()).toEqual(await first.json());
    const conflict = await post("/v1/charges", key, { amount_minor: "101", currency: "EUR", reference });
    expect(conflict.status).toBe(409);
    expect(
      (await post("/v1/charges", undefined, { amount_minor: "1", currency: "EUR", reference })).status,
    ).toBe(400);
    expect((await providerCharges(reference)).captured).toBe(1);
  });

  it("answers 503 during an outage and stays ready", async () => {
    await setBehaviour({ outage: true });
    try {
      const res = await post("/v1/charges", "k-outage", {
        amount_minor: "1",
        currency: "EUR",
        reference: "r",
      });
      expect(res.status).toBe(503);
      expect((await fetch(`${provider.url}/readyz`)).status).toBe(200);
    } finally {
      await setBehaviour({ outage: false });
    }
    expect((await providerCharges("r")).charges).toHaveLength(0);
    const badBehaviour = await post("/admin/behaviour", undefined, { declineRate: 3 });
    expect(badBehaviour.status).toBe(400);
  });
});
