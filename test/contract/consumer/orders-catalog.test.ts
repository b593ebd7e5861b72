import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalogService, PriceAvailability } from "#gen/accord/catalog/v1/catalog_pb.js";
import { devClientTokens } from "#lib/auth/dev-identities.ts";
import { type CatalogPrices, createCatalogPrices } from "#services/orders/src/catalog-prices.ts";
import { priceOrder } from "#services/orders/src/domain/pricing.ts";
import {
  CONNECT_REQUEST_HEADERS,
  type ConsumerPact,
  connectPath,
  consumerPact,
  exactly,
  exactMoney,
  JSON_RESPONSE_HEADERS,
} from "#test/support/pact-consumer.ts";
import { ADDRESS, CUSTOMER_EMAIL, CUSTOMER_ID, SKU, silentLogger } from "./fixtures.ts";

const { like } = MatchersV3;

// Checkout's price lookup (orders -> catalog LookupPrices), driven through
// orders' real catalog adapter with orders' real token, and what checkout
// makes of each answer. The provider states seed products in the catalog's
// database: "a product is priced" {sku, currencyCode, amountMinor, active}.
let c: ConsumerPact;
beforeAll(async () => {
  c = await consumerPact("orders", "catalog");
});
afterAll(async () => {
  await c?.cleanup();
});

const UNKNOWN_SKU = "NOPE-404";

/** Orders' catalog adapter at the mock, with limits that let a single call through. */
async function withCatalog<T>(url: string, fn: (catalog: CatalogPrices) => Promise<T>): Promise<T> {
  const catalog = createCatalogPrices({
    baseUrl: url,
    protocol: "connect-json",
    tokens: devClientTokens("orders"),
    breaker: { timeoutMs: 10_000, errorThresholdPercentage: 100, volumeThreshold: 1_000 },
    logger: silentLogger,
  });
  try {
    return await fn(catalog);
  } finally {
    catalog.shutdown();
  }
}

/** A checked order of two units of `sku` in EUR, as PlaceOrder hands it to pricing. */
const orderOf = (sku: string) => ({
  customerId: CUSTOMER_ID,
  customerEmail: CUSTOMER_EMAIL,
  currencyCode: "EUR",
  lines: [{ sku, quantity: 2 }],
  shippingAddress: { line2: "", region: "", ...ADDRESS },
});

const lookupRequest = (sku: string) => ({ skus: [sku], currencyCode: "EUR" });

describe("orders -> catalog", () => {
  it("LookupPrices answers an active product's price in the order's currency", async () => {
    await c.pact
      .addInteraction()
      .given("a product is priced", { sku: SKU, currencyCode: "EUR", amountMinor: "1250", active: true })
      .uponReceiving("LookupPrices for an active product priced in EUR")
      .withRequest("POST", connectPath(CatalogService, "LookupPrices"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(lookupRequest(SKU)),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          quotes: [
            {
              sku: exactly(SKU),
              availability: exactly("PRICE_AVAILABILITY_AVAILABLE"),
              // Checkout charges exactly this: the provider must answer the seeded price.
              unitPrice: exactMoney("EUR", "1250"),
              name: like("The Book"),
            },
          ],
        }),
      )
      .executeTest(async (mock) => {
        const quotes = await withCatalog(mock.url, (catalog) => catalog.lookup([SKU], "EUR"));
        expect(quotes.map((q) => [q.sku, q.availability, q.unitPrice?.amountMinor])).toEqual([
          [SKU, PriceAvailability.AVAILABLE, 1250n],
        ]);
        const pricing = priceOrder(orderOf(SKU), quotes);
        if (pricing.kind !== "priced") throw new Error(`expected priced, got ${pricing.kind}`);
        expect(pricing.draft.totalMinor).toBe(2500n);
      });
  });

  it("LookupPrices answers an unknown SKU in its quote, not as an error", async () => {
    await c.pact
      .addInteraction()
      .given("no product has the SKU", { sku: UNKNOWN_SKU })
      .uponReceiving("LookupPrices for a SKU no product has")
      .withRequest("POST", connectPath(CatalogService, "LookupPrices"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(lookupRequest(UNKNOWN_SKU)),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          quotes: [{ sku: exactly(UNKNOWN_SKU), availability: exactly("PRICE_AVAILABILITY_UNKNOWN_SKU") }],
        }),
      )
      .executeTest(async (mock) => {
        const quotes = await withCatalog(mock.url, (catalog) => catalog.lookup([UNKNOWN_SKU], "EUR"));
        const pricing = priceOrder(orderOf(UNKNOWN_SKU), quotes);
        if (pricing.kind !== "invalid") throw new Error(`expected invalid, got ${pricing.kind}`);
        expect(pricing.violations.map((v) => v.field)).toEqual(["lines[0].sku"]);
      });
  });

  it("LookupPrices answers an inactive product as INACTIVE, without a price", async () => {
    await c.pact
      .addInteraction()
      .given("a product is priced", { sku: SKU, currencyCode: "EUR", amountMinor: "1250", active: false })
      .uponReceiving("LookupPrices for an inactive product")
      .withRequest("POST", connectPath(CatalogService, "LookupPrices"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(lookupRequest(SKU)),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          quotes: [{ sku: exactly(SKU), availability: exactly("PRICE_AVAILABILITY_INACTIVE") }],
        }),
      )
      .executeTest(async (mock) => {
        const quotes = await withCatalog(mock.url, (catalog) => catalog.lookup([SKU], "EUR"));
        const pricing = priceOrder(orderOf(SKU), quotes);
        if (pricing.kind !== "invalid") throw new Error(`expected invalid, got ${pricing.kind}`);
        expect(pricing.violations.map((v) => v.field)).toEqual(["lines[0].sku"]);
      });
  });

  it("LookupPrices answers a product without a price in the currency as NOT_SOLD_IN_CURRENCY", async () => {
    await c.pact
      .addInteraction()
      .given("a product is priced", { sku: SKU, currencyCode: "USD", amountMinor: "1400", active: true })
      .uponReceiving("LookupPrices in EUR for a product priced in USD only")
      .withRequest("POST", connectPath(CatalogService, "LookupPrices"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(lookupRequest(SKU)),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          quotes: [{ sku: exactly(SKU), availability: exactly("PRICE_AVAILABILITY_NOT_SOLD_IN_CURRENCY") }],
        }),
      )
      .executeTest(async (mock) => {
        const quotes = await withCatalog(mock.url, (catalog) => catalog.lookup([SKU], "EUR"));
        const pricing = priceOrder(orderOf(SKU), quotes);
        if (pricing.kind !== "invalid") throw new Error(`expected invalid, got ${pricing.kind}`);
        expect(pricing.violations[0]?.message).toContain("not sold in EUR");
      });
  });

  it("matches the committed contracts/orders-catalog.json", () => c.checkCommitted());
});
