import { describe, expect, it } from "vitest";
import {
  amountMismatchMessage,
  refundInitiatorOf,
  sameAmount,
} from "#services/payments/src/domain/payments.ts";
import { personPrincipal, servicePrincipal } from "#test/support/identity.ts";

describe("one amount per order", () => {
  const held = { currency_code: "EUR", amount_minor: 4200n };

  it("matches only the same amount in the same currency", () => {
    expect(sameAmount({ currencyCode: "EUR", amountMinor: 4200n }, held)).toBe(true);
    expect(sameAmount({ currencyCode: "EUR", amountMinor: 1n }, held)).toBe(false);
    expect(sameAmount({ currencyCode: "USD", amountMinor: 4200n }, held)).toBe(false);
    // PostgreSQL's char(3) and bigint as text still compare as values.
    expect(
      sameAmount({ currencyCode: "EUR", amountMinor: 4200n }, { currency_code: "EUR", amount_minor: "4200" }),
    ).toBe(true);
  });

  it("names the amount field and both amounts in the refusal", () => {
    const message = amountMismatchMessage(
      "o-1",
      { currencyCode: "EUR", amountMinor: 4200n },
      { currency_code: "EUR", amount_minor: 1n },
    );
    expect(message).toMatch(/^amount: /);
    expect(message).toContain("1 EUR");
    expect(message).toContain("4200 EUR");
  });
});

describe("refundInitiatorOf", () => {
  it("is the saga for the orchestrator, ops for an operator, nobody else", () => {
    expect(refundInitiatorOf(servicePrincipal("orchestrator"))).toBe("SAGA");
    expect(refundInitiatorOf(personPrincipal("olivia"))).toBe("OPS");
    expect(refundInitiatorOf(personPrincipal("alice"))).toBeUndefined();
    expect(refundInitiatorOf(personPrincipal("acme"))).toBeUndefined();
    expect(refundInitiatorOf(servicePrincipal("orders"))).toBeUndefined();
    expect(refundInitiatorOf({ kind: "anonymous" })).toBeUndefined();
  });
});
