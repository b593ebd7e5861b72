import { afterAll, beforeAll, describe, it } from "vitest";
import { ensureProducts } from "#test/support/catalog.ts";
import { pactSourceFromEnv, verifyProvider } from "#test/support/pact-verify.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The real catalog process on its own database. Provider states put products
// in it through the real UpsertProduct (as ops), or take one out, so each
// interaction meets exactly the product its consumer describes.
let catalog: ServiceUnderTest<"catalog">;

beforeAll(async () => {
  catalog = await startServiceUnderTest("catalog", { tag: "pact" });
});

afterAll(async () => {
  await catalog?.stop();
});

describe("catalog provider", () => {
  it("honours every consumer's pact", async () => {
    await verifyProvider({
      provider: "catalog",
      baseUrl: catalog.url,
      source: await pactSourceFromEnv("catalog"),
      // Checkout's lookup, with the orders service's real token.
      callers: { LookupPrices: "orders" },
      stateHandlers: {
        // The product has this one price (UpsertProduct replaces every field, other prices included).
        "a product is priced": async (params) => {
          const { sku, currencyCode, amountMinor, active } = params as {
            sku: string;
            currencyCode: string;
            amountMinor: string | number;
            active: boolean;
          };
          await ensureProducts(catalog.url, [
            { sku, name: `Product ${sku}`, prices: { [currencyCode]: BigInt(amountMinor) }, active },
          ]);
        },
        // There is no DeleteProduct: the state removes the row itself (its prices go with it).
        "no product has the SKU": async (params) => {
          const { sku } = params as { sku: string };
          await catalog.pool.query("DELETE FROM products WHERE sku = $1", [sku]);
        },
      },
    });
  });
});
