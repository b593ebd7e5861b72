import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { PriceAvailability, type PriceQuote, PriceQuoteSchema } from "#gen/accord/catalog/v1/catalog_pb.js";
import { PriceChangedSchema } from "#gen/accord/orders/v1/orders_pb.js";
import type { CheckedOrder, RequestedLine } from "#services/orders/src/domain/place-order.ts";
import { priceChangedError, priceOrder, skusToPrice } from "#services/orders/src/domain/pricing.ts";

const eur = (amountMinor: bigint) => ({ currencyCode: "EUR", amountMinor });

function orderOf(lines: RequestedLine[]): CheckedOrder {
  return {
    customerId: "c-1",
    customerEmail: "ada@example.com",
    currencyCode: "EUR",
    lines,
    shippingAddress: {
      recipientName: "",
      line1: "Hauptstrasse 1",
      line2: "",
      city: "Berlin",
      region: "",
      postalCode: "10115",
      countryCode: "DE",
    },
  };
}

const available = (sku: string, amountMinor: bigint): PriceQuote =>
  create(PriceQuoteSchema, {
    sku,
    availability: PriceAvailability.AVAILABLE,
    unitPrice: eur(amountMinor),
    name: sku,
  });
const unavailable = (sku: string, availability: PriceAvailability): PriceQuote =>
  create(PriceQuoteSchema, { sku, availability });

const CATALOG = [available("BOOK-1", 1250n), available("MUG-2", 899n)];

describe("priceOrder", () => {
  it("takes every unit price from the catalog and sums the total", () => {
    const pricing = priceOrder(
      orderOf([
        { sku: "BOOK-1", quantity: 2 },
        { sku: "MUG-2", quantity: 3 },
      ]),
      CATALOG,
    );
    if (pricing.kind !== "priced") throw new Error(`expected priced, got ${JSON.stringify(pricing)}`);
    expect(pricing.draft.lines).toEqual([
      { sku: "BOOK-1", quantity: 2, unitPriceMinor: 1250n },
      { sku: "MUG-2", quantity: 3, unitPriceMinor: 899n },
    ]);
    expect(pricing.draft.totalMinor).toBe(2n * 1250n + 3n * 899n);
    expect(pricing.draft.currencyCode).toBe("EUR");
  });

  it("accepts a shown price equal to the catalog's", () => {
    const pricing = priceOrder(orderOf([{ sku: "BOOK-1", quantity: 1, shownPrice: eur(1250n) }]), CATALOG);
    expect(pricing.kind).toBe("priced");
  });

  it("answers a changed shown price (amount or currency) with one PriceChanged per line, by index", () => {
    const pricing = priceOrder(
      orderOf([
        { sku: "BOOK-1", quantity: 1, shownPrice: eur(1n) },
        { sku: "MUG-2", quantity: 1, shownPrice: eur(899n) },
        { sku: "MUG-2", quantity: 1, shownPrice: { currencyCode: "USD", amountMinor: 899n } },
      ]),
      CATALOG,
    );
    if (pricing.kind !== "changed") throw new Error(`expected changed, got ${pricing.kind}`);
    expect(
      pricing.changes.map((c) => [
        c.lineIndex,
        c.sku,
        c.shownPrice?.amountMinor,
        c.currentPrice?.amountMinor,
      ]),
    ).toEqual([
      [0, "BOOK-1", 1n, 1250n],
      [2, "MUG-2", 899n, 899n],
    ]);
    expect(pricing.changes[1]?.shownPrice?.currencyCode).toBe("USD");
    expect(pricing.changes[1]?.currentPrice?.currencyCode).toBe("EUR");
  });

  it("names lines[i].sku for unknown, inactive and not-in-currency SKUs, before any price comparison", () => {
    const pricing = priceOrder(
      orderOf([
        { sku: "BOOK-1", quantity: 1, shownPrice: eur(1n) },
        { sku: "GONE-1", quantity: 1 },
        { sku: "OLD-1", quantity: 1 },
        { sku: "USD-ONLY", quantity: 1 },
      ]),
      [
        ...CATALOG,
        unavailable("GONE-1", PriceAvailability.UNKNOWN_SKU),
        unavailable("OLD-1", PriceAvailability.INACTIVE),
        unavailable("USD-ONLY", PriceAvailability.NOT_SOLD_IN_CURRENCY),
      ],
    );
    if (pricing.kind !== "invalid") throw new Error(`expected invalid, got ${pricing.kind}`);
    expect(pricing.violations.map((v) => v.field)).toEqual(["lines[1].sku", "lines[2].sku", "lines[3].sku"]);
    expect(pricing.violations[0]?.message).toContain("not in the catalog");
    expect(pricing.violations[1]?.message).toContain("inactive");
    expect(pricing.violations[2]?.message).toContain("not sold in EUR");
  });

  it("is a fault, never a price, when the catalog's answer cannot price a line", () => {
    const line = [{ sku: "BOOK-1", quantity: 1 }];
    expect(priceOrder(orderOf(line), []).kind).toBe("fault");
    const wrongCurrency = create(PriceQuoteSchema, {
      sku: "BOOK-1",
      availability: PriceAvailability.AVAILABLE,
      unitPrice: { currencyCode: "USD", amountMinor: 1250n },
    });
    expect(priceOrder(orderOf(line), [wrongCurrency]).kind).toBe("fault");
    const noPrice = create(PriceQuoteSchema, { sku: "BOOK-1", availability: PriceAvailability.AVAILABLE });
    expect(priceOrder(orderOf(line), [noPrice]).kind).toBe("fault");
    expect(priceOrder(orderOf(line), [available("BOOK-1", -5n)]).kind).toBe("fault");
    expect(priceOrder(orderOf(line), [unavailable("BOOK-1", PriceAvailability.UNSPECIFIED)]).kind).toBe(
      "fault",
    );
  });
});

describe("skusToPrice", () => {
  it("asks for each SKU once, in the order first named", () => {
    expect(
      skusToPrice(
        orderOf([
          { sku: "MUG-2", quantity: 1 },
          { sku: "BOOK-1", quantity: 1 },
          { sku: "MUG-2", quantity: 2 },
        ]),
      ),
    ).toEqual(["MUG-2", "BOOK-1"]);
  });
});

describe("priceChangedError", () => {
  it("is FailedPrecondition naming each line, with the PriceChanged details", () => {
    const change = create(PriceChangedSchema, {
      lineIndex: 2,
      sku: "BOOK-1",
      shownPrice: eur(1n),
      currentPrice: eur(1250n),
    });
    const error = priceChangedError([change]);
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toBe("lines[2].unit_price: price changed from 1 EUR to 1250 EUR (minor units)");
    const details = error.findDetails(PriceChangedSchema);
    expect(details).toHaveLength(1);
    expect(details[0]?.lineIndex).toBe(2);
    expect(details[0]?.currentPrice?.amountMinor).toBe(1250n);
  });
});
