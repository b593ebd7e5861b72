import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  type ChargeRequest,
  ChargeRequestSchema,
  RefundRequestSchema,
} from "#gen/accord/payments/v1/payments_pb.js";
import { BreakerOpenError, BreakerTimeoutError } from "#lib/breaker.ts";
import {
  chargeFingerprint,
  classifyChargeAnswer,
  classifyRefundAnswer,
  declinedMessage,
  refundFingerprint,
  validateCharge,
  validateRefund,
} from "#services/payments/src/domain/payments.ts";
import { providerFailure } from "#services/payments/src/errors.ts";
import { ProviderUnavailableError } from "#services/payments/src/provider-client.ts";

function charge(): ChargeRequest {
  return create(ChargeRequestSchema, {
    idempotencyKey: "order-1/charge",
    orderId: "0190a0b0-0000-7000-8000-000000000001",
    customerId: "c-1",
    amount: { currencyCode: "EUR", amountMinor: 1250n },
  });
}

function fields(req: ChargeRequest): string[] {
  const result = validateCharge(req);
  return "violations" in result ? result.violations.map((v) => v.field) : [];
}

describe("validateCharge", () => {
  it("accepts a valid charge", () => {
    const result = validateCharge(charge());
    if (!("draft" in result)) throw new Error(JSON.stringify(result.violations));
    expect(result.draft).toEqual({
      idempotencyKey: "order-1/charge",
      orderId: "0190a0b0-0000-7000-8000-000000000001",
      customerId: "c-1",
      currencyCode: "EUR",
      amountMinor: 1250n,
    });
  });

  it("names the key, the order and the amount when missing", () => {
    const req = charge();
    req.idempotencyKey = " ";
    req.orderId = "";
    req.amount = undefined;
    expect(fields(req)).toEqual(["idempotency_key", "order_id", "amount"]);
  });

  it("wants a positive amount in a known ISO 4217 currency", () => {
    for (const amountMinor of [0n, -5n, 2_000_000_000_000_000n]) {
      const req = charge();
      if (req.amount) req.amount.amountMinor = amountMinor;
      expect(fields(req)).toEqual(["amount.amount_minor"]);
    }
    for (const code of ["", "eur", "XYZ", "EURO"]) {
      const req = charge();
      if (req.amount) req.amount.currencyCode = code;
      expect(fields(req)).toEqual(["amount.currency_code"]);
    }
  });

  it("refuses keys with spaces or control characters (they travel in an HTTP header)", () => {
    const req = charge();
    req.idempotencyKey = "a key";
    expect(fields(req)).toEqual(["idempotency_key"]);
    req.idempotencyKey = "x".repeat(129);
    expect(fields(req)).toEqual(["idempotency_key"]);
  });
});

describe("validateRefund", () => {
  it("needs key and order, bounds the reason", () => {
    const ok = validateRefund(
      create(RefundRequestSchema, { idempotencyKey: "k", orderId: "o", reason: "why" }),
    );
    expect("draft" in ok).toBe(true);
    const bad = validateRefund(create(RefundRequestSchema, { reason: "r".repeat(501) }));
    expect("violations" in bad ? bad.violations.map((v) => v.field) : []).toEqual([
      "idempotency_key",
      "order_id",
      "reason",
    ]);
  });
});

describe("fingerprints", () => {
  it("ignore the key and see every other field", () => {
    const a = charge();
    const b = charge();
    b.idempotencyKey = "another";
    expect(chargeFingerprint(a)).toBe(chargeFingerprint(b));
    if (b.amount) b.amount.amountMinor = 1251n;
    expect(chargeFingerprint(a)).not.toBe(chargeFingerprint(b));
    const r1 = create(RefundRequestSchema, { idempotencyKey: "1", orderId: "o", reason: "x" });
    const r2 = create(RefundRequestSchema, { idempotencyKey: "2", orderId: "o", reason: "x" });
    const r3 = create(RefundRequestSchema, { idempotencyKey: "1", orderId: "p", reason: "x" });
    expect(refundFingerprint(r1)).toBe(refundFingerprint(r2));
    expect(refundFingerprint(r1)).not.toBe(refundFingerprint(r3));
  });
});

describe("provider answers", () => {
  it("maps charge answers to outcomes", () => {
    expect(classifyChargeAnswer(201, { charge_id: "ch_1", status: "captured" })).toEqual({
      kind: "captured",
      chargeId: "ch_1",
    });
    expect(
      classifyChargeAnswer(201, {
        charge_id: "ch_2",
        status: "declined",
        decline_reason: "insufficient_funds",
      }),
    ).toEqual({ kind: "declined", reason: "insufficient_funds" });
    expect(classifyChargeAnswer(201, { charge_id: "ch_3", status: "declined" })).toEqual({
      kind: "declined",
      reason: "declined",
    });
    expect(classifyChargeAnswer(409, { error: "idempotency_key_reused" })).toEqual({ kind: "key-conflict" });
    expect(classifyChargeAnswer(400, { error: "invalid_request" })).toEqual({
      kind: "rejected",
      reason: "rejected_by_provider: invalid_request",
    });
    // A 2xx that does not say what happened leaves the outcome unknown (row stays PENDING).
    expect(classifyChargeAnswer(201, { status: "captured" }).kind).toBe("unknown");
    expect(classifyChargeAnswer(200, "garbage").kind).toBe("unknown");
  });

  it("maps refund answers to outcomes", () => {
    expect(classifyRefundAnswer(201, { refund_id: "re_1", status: "refunded" })).toEqual({
      kind: "refunded",
      refundId: "re_1",
    });
    expect(classifyRefundAnswer(409, { error: "already_refunded", refund_id: "re_0" })).toEqual({
      kind: "already-refunded",
      refundId: "re_0",
    });
    expect(classifyRefundAnswer(409, { error: "idempotency_key_reused" })).toEqual({ kind: "key-conflict" });
    expect(classifyRefundAnswer(404, { error: "charge_not_found" })).toEqual({
      kind: "rejected",
      reason: "charge_not_found",
    });
    expect(classifyRefundAnswer(201, {}).kind).toBe("unknown");
  });

  it("turns every provider failure into Unavailable, saying which", () => {
    const open = providerFailure(new BreakerOpenError("payment-provider"));
    expect(open.code).toBe(Code.Unavailable);
    expect(open.rawMessage).toContain("circuit breaker open");
    const slow = providerFailure(new BreakerTimeoutError("payment-provider", 2000));
    expect(slow.code).toBe(Code.Unavailable);
    expect(slow.rawMessage).toContain("2000 ms");
    expect(providerFailure(new ProviderUnavailableError(503)).rawMessage).toContain("HTTP 503");
    expect(providerFailure(new TypeError("fetch failed")).code).toBe(Code.Unavailable);
  });

  it("words a decline the same way every time", () => {
    expect(declinedMessage("insufficient_funds")).toBe("payment declined: insufficient_funds");
  });
});
