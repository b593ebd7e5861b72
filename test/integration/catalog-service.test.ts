import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PriceAvailability } from "#gen/accord/catalog/v1/catalog_pb.js";
import { ensureProducts } from "#test/support/catalog.ts";
import { DEMO_SEED_FILE } from "#test/support/platform.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The real catalog process on its own database, called with real tokens:
// olivia (ops), alice (customer), acme (partner), the orders service, and
// nobody. It starts from the demo seed, then the tests add their own products.
let catalog: ServiceUnderTest<"catalog">;
let ops: ServiceUnderTest<"catalog">["client"];
let alice: ServiceUnderTest<"catalog">["client"];
let acme: ServiceUnderTest<"catalog">["client"];
let orders: ServiceUnderTest<"catalog">["client"];
let anonymous: ServiceUnderTest<"catalog">["client"];

/** The Connect code and message a call fails with. */
async function failure(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
  } catch (error) {
    const e = ConnectError.from(error);
    return { code: Code[e.code], message: e.rawMessage };
  }
  throw new Error("the call succeeded");
}

beforeAll(async () => {
  catalog = await startServiceUnderTest("catalog", { env: { CATALOG_SEED_FILE: DEMO_SEED_FILE } });
  ops = catalog.client;
  alice = catalog.clientAs("alice");
  acme = catalog.clientAs("acme");
  orders = catalog.clientAs("orders");
  anonymous = catalog.clientAs(undefined);
  // "ZZ-" sorts after every demo SKU, so the listing tests page through these alone.
  await ensureProducts(catalog.url, [
    { sku: "ZZ-LAMP-1", name: "Zeta lamp", prices: { EUR: 4000n, USD: 4400n } },
    { sku: "ZZ-LAMP-2", name: "Zeta lamp, large", prices: { EUR: 5000n } },
    { sku: "ZZ-LAMP-3", name: "Zeta lamp, gone", prices: { EUR: 3000n }, active: false },
    { sku: "ZZ-MAT-1", name: "Zeta 100% cotton mat", prices: { USD: 2000n } },
    { sku: "ZZ-MAT-2", name: "Zeta mat", prices: { GBP: 1500n } },
  ]);
});

afterAll(async () => {
  await catalog?.stop();
});

describe("catalog service", () => {
  it("seeds the demo products from CATALOG_SEED_FILE, and a restart leaves changed products alone", async () => {
    const { product } = await alice.getProduct({ sku: "BOOK-001" });
    expect(product?.prices.map((p) => [p.currencyCode, p.amountMinor])).toEqual([
      ["EUR", 1250n],
      ["USD", 1350n],
    ]);
    await ops.upsertProduct({
      product: {
        sku: "MUG-042",
        name: "Repriced mug",
        prices: [{ currencyCode: "EUR", amountMinor: 950n }],
        active: true,
      },
    });
    await catalog.restart();
    const mug = (await alice.getProduct({ sku: "MUG-042" })).product;
    expect([mug?.name, mug?.prices.map((p) => p.amountMinor)]).toEqual(["Repriced mug", [950n]]);
    // The inactive demo product is there for ops.
    expect((await ops.getProduct({ sku: "PEN-003" })).product?.active).toBe(false);
  });

  it("lists active products in SKU order, page by page, for customers and partners", async () => {
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await alice.listProducts({ query: "zz-", pageSize: 2, pageToken });
      expect(page.products.length).toBeLessThanOrEqual(2);
      seen.push(...page.products.map((p) => p.sku));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "" && pages < 10);
    expect(seen).toEqual(["ZZ-LAMP-1", "ZZ-LAMP-2", "ZZ-MAT-1", "ZZ-MAT-2"]);
    expect(pages).toBe(2);
    const partner = await acme.listProducts({ query: "ZZ-", pageSize: 100 });
    expect(partner.products.map((p) => p.sku)).toEqual(seen);
    expect(partner.nextPageToken).toBe("");
  });

  it("filters by text in the SKU or the name (case-insensitive, literally) and by currency", async () => {
    const skus = async (req: { query?: string; currencyCode?: string }) =>
      (await alice.listProducts({ pageSize: 100, ...req })).products.map((p) => p.sku);
    expect(await skus({ query: "LARGE" })).toEqual(["ZZ-LAMP-2"]);
    expect(await skus({ query: "mat-" })).toEqual(["ZZ-MAT-1", "ZZ-MAT-2"]);
    // % and _ are text, not wildcards.
    expect(await skus({ query: "100%" })).toEqual(["ZZ-MAT-1"]);
    expect(await skus({ query: "zeta_" })).toEqual([]);
    expect(await skus({ query: "zz-", currencyCode: "USD" })).toEqual(["ZZ-LAMP-1", "ZZ-MAT-1"]);
    expect(await skus({ currencyCode: "GBP" })).toEqual(["ZZ-MAT-2"]);
  });

  it("shows inactive products to ops only, and refuses include_inactive to anyone else", async () => {
    const forOps = await ops.listProducts({ query: "ZZ-LAMP", includeInactive: true, pageSize: 100 });
    expect(forOps.products.map((p) => [p.sku, p.active])).toEqual([
      ["ZZ-LAMP-1", true],
      ["ZZ-LAMP-2", true],
      ["ZZ-LAMP-3", false],
    ]);
    // Without asking, ops see the active list too.
    expect((await ops.listProducts({ query: "ZZ-LAMP" })).products.map((p) => p.sku)).toEqual([
      "ZZ-LAMP-1",
      "ZZ-LAMP-2",
    ]);
    for (const caller of [alice, acme, orders]) {
      expect(await failure(caller.listProducts({ includeInactive: true }))).toMatchObject({
        code: "PermissionDenied",
        message: expect.stringContaining("include_inactive"),
      });
    }
    expect((await ops.getProduct({ sku: "ZZ-LAMP-3" })).product?.sku).toBe("ZZ-LAMP-3");
    for (const caller of [alice, acme, orders]) {
      expect((await failure(caller.getProduct({ sku: "ZZ-LAMP-3" }))).code).toBe("NotFound");
    }
  });

  it("answers NotFound for an unknown SKU", async () => {
    expect(await failure(alice.getProduct({ sku: "NOPE-404" }))).toEqual({
      code: "NotFound",
      message: "product NOPE-404 not found",
    });
  });

  it("answers one quote per SKU in the order asked, with each availability, for orders and ops", async () => {
    const { quotes } = await orders.lookupPrices({
      skus: ["ZZ-MAT-1", "ZZ-LAMP-1", "NOPE-404", "ZZ-LAMP-3", "ZZ-LAMP-1", "lower.case"],
      currencyCode: "EUR",
    });
    expect(quotes.map((q) => [q.sku, PriceAvailability[q.availability], q.unitPrice?.amountMinor])).toEqual([
      ["ZZ-MAT-1", "NOT_SOLD_IN_CURRENCY", undefined],
      ["ZZ-LAMP-1", "AVAILABLE", 4000n],
      ["NOPE-404", "UNKNOWN_SKU", undefined],
      ["ZZ-LAMP-3", "INACTIVE", undefined],
      ["ZZ-LAMP-1", "AVAILABLE", 4000n],
      ["lower.case", "UNKNOWN_SKU", undefined],
    ]);
    expect(quotes[1]?.unitPrice?.currencyCode).toBe("EUR");
    expect(quotes[1]?.name).toBe("Zeta lamp");
    const inUsd = await ops.lookupPrices({ skus: ["ZZ-LAMP-1"], currencyCode: "USD" });
    expect(inUsd.quotes[0]?.unitPrice?.amountMinor).toBe(4400n);
  });

  it("keeps LookupPrices from customers and partners", async () => {
    for (const caller of [alice, acme]) {
      expect((await failure(caller.lookupPrices({ skus: ["ZZ-LAMP-1"], currencyCode: "EUR" }))).code).toBe(
        "PermissionDenied",
      );
    }
  });

  it("lets ops create and then replace a product, prices included", async () => {
    const created = await ops.upsertProduct({
      product: {
        sku: "ZZ-NEW-1",
        name: "New",
        description: "first",
        prices: [
          { currencyCode: "EUR", amountMinor: 100n },
          { currencyCode: "USD", amountMinor: 110n },
        ],
        active: true,
      },
    });
    expect(created.created).toBe(true);
    expect(created.product?.updatedAt).toBeDefined();
    const replaced = await ops.upsertProduct({
      product: {
        sku: "ZZ-NEW-1",
        name: "Renamed",
        prices: [{ currencyCode: "GBP", amountMinor: 90n }],
        active: false,
      },
    });
    expect(replaced.created).toBe(false);
    expect(replaced.product).toMatchObject({
      sku: "ZZ-NEW-1",
      name: "Renamed",
      description: "",
      active: false,
    });
    expect(replaced.product?.prices.map((p) => [p.currencyCode, p.amountMinor])).toEqual([["GBP", 90n]]);
    const { rows } = await catalog.pool.query<{ currency_code: string }>(
      "SELECT currency_code FROM product_prices WHERE sku = 'ZZ-NEW-1'",
    );
    expect(rows.map((r) => r.currency_code)).toEqual(["GBP"]);
  });

  it("refuses UpsertProduct to a customer, a partner and the orders service, changing nothing", async () => {
    const attempt = {
      product: {
        sku: "ZZ-LAMP-1",
        name: "Cheap",
        prices: [{ currencyCode: "EUR", amountMinor: 1n }],
        active: true,
      },
    };
    for (const caller of [alice, acme, orders]) {
      expect((await failure(caller.upsertProduct(attempt))).code).toBe("PermissionDenied");
    }
    const { product } = await alice.getProduct({ sku: "ZZ-LAMP-1" });
    expect(product?.prices.find((p) => p.currencyCode === "EUR")?.amountMinor).toBe(4000n);
  });

  it("answers bad input with InvalidArgument naming the field", async () => {
    const cases: [Promise<unknown>, string][] = [
      [ops.upsertProduct({}), "product: is required"],
      [
        ops.upsertProduct({
          product: {
            sku: "bad sku",
            name: "x",
            prices: [{ currencyCode: "EUR", amountMinor: 1n }],
            active: true,
          },
        }),
        "product.sku:",
      ],
      [
        ops.upsertProduct({
          product: {
            sku: "ZZ-X",
            name: "x",
            prices: [{ currencyCode: "EUR", amountMinor: 0n }],
            active: true,
          },
        }),
        "product.prices[0].amount_minor: must be positive",
      ],
      [
        ops.upsertProduct({
          product: {
            sku: "ZZ-X",
            name: "x",
            prices: [
              { currencyCode: "EUR", amountMinor: 1n },
              { currencyCode: "EUR", amountMinor: 2n },
            ],
            active: true,
          },
        }),
        "product.prices[1].currency_code:",
      ],
      [
        ops.upsertProduct({
          product: {
            sku: "ZZ-X",
            name: "x",
            prices: [{ currencyCode: "eur", amountMinor: 1n }],
            active: true,
          },
        }),
        "product.prices[0].currency_code:",
      ],
      [
        ops.upsertProduct({
          product: {
            sku: "ZZ-X",
            name: "",
            prices: [{ currencyCode: "EUR", amountMinor: 1n }],
            active: true,
          },
        }),
        "product.name: is required",
      ],
      [alice.getProduct({ sku: "" }), "sku: is required"],
      [alice.listProducts({ pageSize: 1000 }), "page_size:"],
      [alice.listProducts({ pageToken: "forged" }), "page_token:"],
      [alice.listProducts({ currencyCode: "EURO" }), "currency_code:"],
      [orders.lookupPrices({ skus: [], currencyCode: "EUR" }), "skus:"],
      [orders.lookupPrices({ skus: ["ZZ-LAMP-1"], currencyCode: "" }), "currency_code: is required"],
    ];
    // All in flight at once: each gets its handler now, not when its turn to be awaited comes.
    const answers = await Promise.all(cases.map(([call]) => failure(call)));
    cases.forEach(([, message], i) => {
      expect(answers[i]).toEqual({ code: "InvalidArgument", message: expect.stringContaining(message) });
    });
    // A page token from one filter refused on another.
    const first = await alice.listProducts({ query: "zz-", pageSize: 1 });
    expect(
      await failure(alice.listProducts({ query: "zeta", pageToken: first.nextPageToken })),
    ).toMatchObject({
      code: "InvalidArgument",
      message: expect.stringContaining("page_token"),
    });
    // Nothing of the refused upserts was stored.
    expect((await failure(ops.getProduct({ sku: "ZZ-X" }))).code).toBe("NotFound");
  });

  it("refuses every method without a token", async () => {
    const calls = [
      anonymous.listProducts({}),
      anonymous.getProduct({ sku: "BOOK-001" }),
      anonymous.lookupPrices({ skus: ["BOOK-001"], currencyCode: "EUR" }),
      anonymous.upsertProduct({
        product: { sku: "ZZ-Y", name: "y", prices: [{ currencyCode: "EUR", amountMinor: 1n }], active: true },
      }),
    ];
    // Every call is in flight at once: each gets its handler now, not when its turn to be awaited comes.
    const failures = await Promise.all(calls.map(failure));
    expect(failures.map((f) => f.code)).toEqual(calls.map(() => "Unauthenticated"));
  });
});
