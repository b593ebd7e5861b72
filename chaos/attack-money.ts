import { randomUUID } from "node:crypto";
import { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import { bearerFor, type TestCaller } from "#test/support/identity.ts";
import type { ServiceProcess } from "#test/support/service-process.ts";
import {
  type ServiceUnderTest,
  startServiceUnderTest,
  startSimulator,
} from "#test/support/service-under-test.ts";
import type { CaseResult } from "./attack.ts";
import { type Answer, call, describeAnswer } from "./attack-wire.ts";

/**
 * The money attack cases of issue 11, against a payments process and a
 * payment provider of this run's own, sent as raw Connect calls with real
 * tokens from the realm: a 1-cent charge made first under another key must
 * not become the order's payment when the saga charges the real total;
 * Charge and Refund as a customer or a partner are refused; an ops refund
 * sent before the charge neither succeeds nor blocks the charge. Each case
 * looks at the provider's own record of the order afterwards, since a right
 * code with money moved is still a breach.
 */

const GROUP = "money";
/** The order's total as the saga would charge it (OrderPlaced's order.total). */
const TOTAL = { currencyCode: "EUR", amountMinor: "4200" };

interface ProviderView {
  amounts: string[];
  captured: number;
  refunded: number;
}

export async function attackMoney(log: (line: string) => void, tag: string): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  let provider: ServiceProcess | undefined;
  let payments: ServiceUnderTest<"payments"> | undefined;
  try {
    provider = await startSimulator("payment-provider", { PAYMENT_PROVIDER_DECLINE_RATE: "0" });
    const providerUrl = provider.url;
    payments = await startServiceUnderTest("payments", {
      tag: `attackmoney${tag.replace(/[^a-z0-9]/g, "")}`,
      topicPrefix: `chaos-attack-money-${tag}.`,
      env: { PAYMENT_PROVIDER_URL: providerUrl },
    });
    const url = payments.url;

    const seen = async (orderId: string): Promise<ProviderView> => {
      const res = await fetch(`${providerUrl}/v1/charges?reference=${encodeURIComponent(orderId)}`);
      const body = (await res.json()) as {
        charges: { amount_minor: string }[];
        captured: number;
        refunded: number;
      };
      return {
        amounts: body.charges.map((c) => c.amount_minor),
        captured: body.captured,
        refunded: body.refunded,
      };
    };
    const as = (who: TestCaller | "anonymous") =>
      who === "anonymous" ? Promise.resolve(undefined) : bearerFor(who, "payments");
    const charge = async (who: TestCaller | "anonymous", orderId: string, key: string, amountMinor: string) =>
      call(
        url,
        PaymentService.method.charge,
        { idempotencyKey: key, orderId, customerId: "alice", amount: { currencyCode: "EUR", amountMinor } },
        await as(who),
      );
    const refund = async (who: TestCaller | "anonymous", orderId: string, key = `attack-${randomUUID()}`) =>
      call(
        url,
        PaymentService.method.refund,
        { idempotencyKey: key, orderId, reason: "attack" },
        await as(who),
      );
    const sagaKey = (orderId: string) => `order-${orderId}/charge`;

    const record = (
      c: Omit<CaseResult, "group" | "actual" | "pass">,
      answer: Answer,
      ok: boolean,
      expected: string[],
    ) => {
      const pass = ok && expected.includes(answer.code);
      results.push({ group: GROUP, ...c, actual: describeAnswer(answer), pass });
      log(`[attack] ${pass ? "ok    " : "FAILED"} ${GROUP}: ${c.name} -> ${describeAnswer(answer)}`);
    };

    // 1. The 1-cent charge first, then the saga's charge of the total.
    {
      const orderId = randomUUID();
      const cent = await charge("orchestrator", orderId, `attacker-${randomUUID()}`, "1");
      const answer = await charge("orchestrator", orderId, sagaKey(orderId), TOTAL.amountMinor);
      const answeredWithCent = answer.code === "ok";
      const view = await seen(orderId);
      record(
        {
          name: "mismatched charge: 1 cent under another key first, then the saga's charge of the total",
          sent: `payments Charge {1 EUR cent, key attacker-…} (${describeAnswer(cent)}), then Charge {${TOTAL.amountMinor} EUR minor, key order-<id>/charge}, both with the orchestrator's real token`,
          expected: "failed_precondition (HTTP 400) naming amount, never the 1-cent payment",
          state: `provider charges ${JSON.stringify(view.amounts)}${answeredWithCent ? "; the saga was answered with a payment" : ""}`,
        },
        answer,
        cent.code === "ok" &&
          !answeredWithCent &&
          answer.message.startsWith("amount") &&
          view.amounts.join() === "1",
        ["failed_precondition"],
      );
    }

    // 2. Charge as someone other than the orchestrator.
    for (const who of ["alice", "acme", "anonymous"] as const) {
      const orderId = randomUUID();
      const answer = await charge(who, orderId, sagaKey(orderId), "1");
      const view = await seen(orderId);
      record(
        {
          name: `Charge as ${who === "anonymous" ? "anonymous" : who === "acme" ? "a partner" : "a customer"}`,
          sent: `payments Charge {1 cent, a new order}, ${who === "anonymous" ? "no Authorization header" : `${who}'s real token`}`,
          expected: who === "anonymous" ? "unauthenticated (HTTP 401)" : "permission_denied (HTTP 403)",
          state: `provider charges ${view.amounts.length}`,
        },
        answer,
        view.amounts.length === 0,
        [who === "anonymous" ? "unauthenticated" : "permission_denied"],
      );
    }

    // 3. A customer's (and a partner's) refund of a captured payment.
    for (const who of ["alice", "acme"] as const) {
      const orderId = randomUUID();
      const setup = await charge("orchestrator", orderId, sagaKey(orderId), TOTAL.amountMinor);
      const answer = await refund(who, orderId);
      const view = await seen(orderId);
      record(
        {
          name: `Refund of a captured payment as ${who === "acme" ? "a partner" : "a customer"}`,
          sent: `payments Refund {the order's captured payment (${describeAnswer(setup)}), a made-up key}, ${who}'s real token`,
          expected: "permission_denied (HTTP 403)",
          state: `provider: ${view.captured} captured, ${view.refunded} refunded`,
        },
        answer,
        setup.code === "ok" && view.captured === 1 && view.refunded === 0,
        ["permission_denied"],
      );
    }

    // 4. An ops refund before the charge: refused, and the charge still goes through.
    {
      const orderId = randomUUID();
      const answer = await refund("olivia", orderId);
      const later = await charge("orchestrator", orderId, sagaKey(orderId), TOTAL.amountMinor);
      const status = (later.json as { payment?: { status?: string } } | undefined)?.payment?.status;
      const view = await seen(orderId);
      record(
        {
          name: "ops refund before the charge does not block the charge",
          sent: "payments Refund {an order not charged yet}, olivia's (ops) real token; then the saga's Charge of the order",
          expected: "failed_precondition (HTTP 400), nothing recorded; the later charge CAPTURED",
          state: `later charge ${describeAnswer(later)} ${status ?? ""}; provider: ${view.captured} captured`,
        },
        answer,
        later.code === "ok" && status === "PAYMENT_STATUS_CAPTURED" && view.captured === 1,
        ["failed_precondition"],
      );
    }
  } finally {
    await payments?.stop().catch(() => null);
    await provider?.stop().catch(() => null);
  }
  return results;
}
