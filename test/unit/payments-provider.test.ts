import { describe, expect, it } from "vitest";
import {
  ALWAYS_DECLINED_AMOUNT,
  createProcessor,
  parseBehaviourChange,
} from "#simulators/payment-provider/src/processor.ts";

const calm = { latencyMs: 0, declineRate: 0, outage: false };
const body = (reference: string, amount = "1000") => ({ amount_minor: amount, currency: "EUR", reference });

describe("simulated payment provider", () => {
  it("captures once per idempotency key and answers a repeat with the first answer", () => {
    const p = createProcessor(calm);
    const first = p.charge("k1", body("order-1"));
    expect(first.status).toBe(201);
    expect(first.body.status).toBe("captured");
    expect(p.charge("k1", body("order-1"))).toEqual(first);
    expect(p.list("order-1").body.captured).toBe(1);
    expect(p.stats().captures).toBe(1);
  });

  it("refuses a known key with a different body with 409 and records nothing", () => {
    const p = createProcessor(calm);
    p.charge("k1", body("order-1"));
    const conflict = p.charge("k1", body("order-1", "2000"));
    expect(conflict.status).toBe(409);
    expect(conflict.body.error).toBe("idempotency_key_reused");
    expect(p.stats().charges).toBe(1);
  });

  it(`always declines amount_minor ${ALWAYS_DECLINED_AMOUNT} with insufficient_funds`, () => {
    const p = createProcessor(calm);
    const answer = p.charge("k1", body("order-1", ALWAYS_DECLINED_AMOUNT));
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ status: "declined", decline_reason: "insufficient_funds" });
    expect(p.stats().captures).toBe(0);
  });

  it("declines at the configured rate (random source injected)", () => {
    const p = createProcessor({ ...calm, declineRate: 0.5 }, () => 0.4);
    expect(p.charge("k1", body("o")).body.status).toBe("declined");
    const q = createProcessor({ ...calm, declineRate: 0.5 }, () => 0.6);
    expect(q.charge("k1", body("o")).body.status).toBe("captured");
  });

  it("validates the request", () => {
    const p = createProcessor(calm);
    expect(p.charge(undefined, body("o")).status).toBe(400);
    expect(p.charge("k", { amount_minor: 10, currency: "EUR", reference: "o" }).status).toBe(400);
    expect(p.charge("k", { amount_minor: "0", currency: "EUR", reference: "o" }).status).toBe(400);
    expect(p.charge("k", { amount_minor: "10", currency: "eur", reference: "o" }).status).toBe(400);
    expect(p.charge("k", { amount_minor: "10", currency: "EUR", reference: "" }).status).toBe(400);
    expect(p.stats().charges).toBe(0);
  });

  it("refunds a captured charge once; the same key replays, another key hears already_refunded", () => {
    const p = createProcessor(calm);
    const chargeId = String(p.charge("k1", body("order-1")).body.charge_id);
    const refund = p.refund(chargeId, "r1");
    expect(refund.status).toBe(201);
    expect(refund.body.status).toBe("refunded");
    expect(p.refund(chargeId, "r1")).toEqual(refund);
    const other = p.refund(chargeId, "r2");
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ error: "already_refunded", refund_id: refund.body.refund_id });
    expect(p.stats().refunds).toBe(1);
    expect(p.refund("ch_unknown", "r3").status).toBe(404);
    const declined = String(p.charge("k2", body("order-2", ALWAYS_DECLINED_AMOUNT)).body.charge_id);
    expect(p.refund(declined, "r4").body.error).toBe("charge_not_captured");
  });

  it("checks runtime behaviour changes", () => {
    expect(parseBehaviourChange({ outage: true, latencyMs: 5 })).toEqual({ outage: true, latencyMs: 5 });
    expect(parseBehaviourChange({ declineRate: 2 })).toHaveProperty("error");
    expect(parseBehaviourChange({ latencyMs: -1 })).toHaveProperty("error");
    expect(parseBehaviourChange({ outage: "yes" })).toHaveProperty("error");
    expect(parseBehaviourChange({ other: 1 })).toHaveProperty("error");
    expect(parseBehaviourChange([])).toHaveProperty("error");
  });
});
