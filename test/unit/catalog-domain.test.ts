import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  GetProductRequestSchema,
  ListProductsRequestSchema,
  LookupPricesRequestSchema,
  PriceAvailability,
  ProductSchema,
} from "#gen/accord/catalog/v1/catalog_pb.js";
import { loadCatalogConfig } from "#services/catalog/src/config.ts";
import {
  decodePageToken,
  encodePageToken,
  LIMITS,
  type ProductRecord,
  validateGetProduct,
  validateListProducts,
  validateLookupPrices,
  validateProduct,
} from "#services/catalog/src/domain/product.ts";
import { quotePrices } from "#services/catalog/src/domain/quotes.ts";
import { parseDemoSeed } from "#services/catalog/src/domain/seed.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

function product(overrides: MessageInitShape<typeof ProductSchema> = {}) {
  return create(ProductSchema, {
    sku: "BOOK-001",
    name: "A book",
    description: "Paperback",
    prices: [
      { currencyCode: "USD", amountMinor: 1350n },
      { currencyCode: "EUR", amountMinor: 1250n },
    ],
    active: true,
    ...overrides,
  });
}

/** The fields a product is refused for, with their messages. */
function refused(overrides: MessageInitShape<typeof ProductSchema>): Record<string, string> {
  const result = validateProduct(product(overrides));
  if (!("violations" in result)) return {};
  return Object.fromEntries(result.violations.map((v) => [v.field, v.message]));
}

describe("validateProduct", () => {
  it("accepts a well-formed product and sorts its prices by currency", () => {
    const result = validateProduct(product());
    if ("violations" in result) throw new Error(JSON.stringify(result.violations));
    expect(result.product).toEqual({
      sku: "BOOK-001",
      name: "A book",
      description: "Paperback",
      prices: [
        { currencyCode: "EUR", amountMinor: 1250n },
        { currencyCode: "USD", amountMinor: 1350n },
      ],
      active: true,
    });
  });

  it("refuses a missing product", () => {
    const result = validateProduct(undefined);
    expect("violations" in result && result.violations).toEqual([
      { field: "product", message: "is required" },
    ]);
  });

  it.each([
    ["", "is required"],
    ["book-001", "upper-case"],
    ["BOOK.001", "upper-case"],
    ["-BOOK", "upper-case"],
    ["BOOK 001", "upper-case"],
    ["A".repeat(65), "at most 64"],
  ])("refuses the SKU %j", (sku, message) => {
    expect(refused({ sku })["product.sku"]).toContain(message);
  });

  it("accepts SKUs of upper-case letters, digits and dashes up to 64 characters", () => {
    for (const sku of ["A", "9", "LAMP-007", "X-Y-Z-1", "A".repeat(64)]) expect(refused({ sku })).toEqual({});
  });

  it("bounds the name and the description", () => {
    expect(refused({ name: "" })["product.name"]).toBe("is required");
    expect(refused({ name: "   " })["product.name"]).toBe("is required");
    expect(refused({ name: "n".repeat(LIMITS.name + 1) })["product.name"]).toContain("at most 200");
    expect(refused({ name: "n".repeat(LIMITS.name) })).toEqual({});
    expect(refused({ description: "d".repeat(4001) })["product.description"]).toContain("at most 4000");
    expect(refused({ description: "" })).toEqual({});
  });

  it("refuses prices that are not positive, too large, in no ISO 4217 currency or twice in one", () => {
    expect(refused({ prices: [{ currencyCode: "EUR", amountMinor: 0n }] })).toEqual({
      "product.prices[0].amount_minor": "must be positive",
    });
    expect(refused({ prices: [{ currencyCode: "EUR", amountMinor: -5n }] })).toHaveProperty(
      "product.prices[0].amount_minor",
    );
    expect(
      refused({ prices: [{ currencyCode: "EUR", amountMinor: LIMITS.amountMinor + 1n }] }),
    ).toHaveProperty("product.prices[0].amount_minor");
    expect(refused({ prices: [{ currencyCode: "EUR", amountMinor: LIMITS.amountMinor }] })).toEqual({});
    for (const currencyCode of ["eur", "EURO", "E1R", "XYZ", ""]) {
      expect(refused({ prices: [{ currencyCode, amountMinor: 100n }] })).toHaveProperty(
        "product.prices[0].currency_code",
      );
    }
    expect(
      refused({
        prices: [
          { currencyCode: "EUR", amountMinor: 100n },
          { currencyCode: "EUR", amountMinor: 200n },
        ],
      }),
    ).toEqual({ "product.prices[1].currency_code": "EUR already has a price (at most one per currency)" });
  });

  it("needs a price for an active product, not for an inactive one", () => {
    expect(refused({ prices: [], active: true })["product.prices"]).toContain("at least one price");
    expect(refused({ prices: [], active: false })).toEqual({});
  });

  it("names every violation at once", () => {
    expect(
      Object.keys(refused({ sku: "bad", name: "", prices: [{ currencyCode: "x", amountMinor: 0n }] })),
    ).toEqual([
      "product.sku",
      "product.name",
      "product.prices[0].currency_code",
      "product.prices[0].amount_minor",
    ]);
  });
});

describe("validateGetProduct", () => {
  it("requires a SKU in the catalog's format", () => {
    expect(validateGetProduct(create(GetProductRequestSchema, { sku: "BOOK-001" }))).toEqual([]);
    expect(validateGetProduct(create(GetProductRequestSchema, {})).map((v) => v.field)).toEqual(["sku"]);
    expect(validateGetProduct(create(GetProductRequestSchema, { sku: "book" })).map((v) => v.field)).toEqual([
      "sku",
    ]);
  });
});

describe("validateListProducts and page tokens", () => {
  const list = (init: MessageInitShape<typeof ListProductsRequestSchema>) =>
    validateListProducts(create(ListProductsRequestSchema, init));
  const fields = (init: MessageInitShape<typeof ListProductsRequestSchema>) => {
    const result = list(init);
    return "violations" in result ? result.violations.map((v) => v.field) : [];
  };

  it("defaults to 20 per page with no filter", () => {
    expect(list({})).toEqual({
      query: {
        limit: 20,
        afterSku: undefined,
        text: undefined,
        currencyCode: undefined,
        includeInactive: false,
      },
    });
  });

  it("bounds the page size, the query text and the currency", () => {
    expect(fields({ pageSize: -1 })).toEqual(["page_size"]);
    expect(fields({ pageSize: 101 })).toEqual(["page_size"]);
    expect(fields({ pageSize: 100 })).toEqual([]);
    expect(fields({ query: "q".repeat(101) })).toEqual(["query"]);
    expect(fields({ currencyCode: "eur" })).toEqual(["currency_code"]);
    expect(fields({ currencyCode: "EUR" })).toEqual([]);
  });

  it("trims the text filter; blank text is no filter", () => {
    expect(list({ query: "  mug " })).toMatchObject({
      query: { text: "mug" },
    });
    expect(list({ query: "   " })).toMatchObject({ query: { text: undefined } });
  });

  it("continues after the token's SKU with the same filters", () => {
    const filters = { text: "mug", currencyCode: "EUR", includeInactive: true };
    const token = encodePageToken("MUG-042", filters);
    expect(decodePageToken(token)).toEqual({ afterSku: "MUG-042", filters });
    expect(
      list({ pageToken: token, query: "mug", currencyCode: "EUR", includeInactive: true }),
    ).toMatchObject({
      query: { afterSku: "MUG-042" },
    });
  });

  it("refuses a token used with other filters than it was issued for", () => {
    const token = encodePageToken("MUG-042", {
      text: "mug",
      currencyCode: undefined,
      includeInactive: false,
    });
    const result = list({ pageToken: token, query: "book" });
    expect("violations" in result && result.violations).toEqual([
      {
        field: "page_token",
        message: "was issued for other filters (query, currency_code, include_inactive)",
      },
    ]);
    expect(fields({ pageToken: token, query: "mug", includeInactive: true })).toEqual(["page_token"]);
  });

  it.each([
    ["not base64", "!!!"],
    ["not JSON", Buffer.from("{").toString("base64url")],
    ["another shape", Buffer.from(JSON.stringify({ after: "A" })).toString("base64url")],
    ["another version", Buffer.from(JSON.stringify([2, "A", "", "", false])).toString("base64url")],
    [
      "a SKU no product can have",
      Buffer.from(JSON.stringify([1, "a'; --", "", "", false])).toString("base64url"),
    ],
    ["an overlong token", "A".repeat(2000)],
  ])("refuses a token that is %s", (_what, pageToken) => {
    expect(decodePageToken(pageToken)).toBeUndefined();
    expect(fields({ pageToken })).toEqual(["page_token"]);
  });
});

describe("validateLookupPrices", () => {
  const fields = (init: MessageInitShape<typeof LookupPricesRequestSchema>) => {
    const result = validateLookupPrices(create(LookupPricesRequestSchema, init));
    return "violations" in result ? result.violations.map((v) => v.field) : [];
  };

  it("needs 1 to 100 SKUs and a currency", () => {
    expect(fields({ skus: [], currencyCode: "EUR" })).toEqual(["skus"]);
    expect(fields({ skus: Array(101).fill("A"), currencyCode: "EUR" })).toEqual(["skus"]);
    expect(fields({ skus: Array(100).fill("A"), currencyCode: "EUR" })).toEqual([]);
    expect(fields({ skus: ["A"] })).toEqual(["currency_code"]);
    expect(fields({ skus: ["A"], currencyCode: "XXQ" })).toEqual(["currency_code"]);
  });

  it("refuses an empty or overlong SKU by its index, but leaves a malformed one to be answered unknown", () => {
    expect(fields({ skus: ["A", "", "Z".repeat(65)], currencyCode: "EUR" })).toEqual(["skus[1]", "skus[2]"]);
    expect(fields({ skus: ["lower-case", "DOT.TED"], currencyCode: "EUR" })).toEqual([]);
  });
});

describe("quotePrices", () => {
  const found = new Map<string, ProductRecord>([
    [
      "BOOK-001",
      {
        sku: "BOOK-001",
        name: "A book",
        description: "",
        prices: [{ currencyCode: "EUR", amountMinor: 1250n }],
        active: true,
      },
    ],
    [
      "PEN-003",
      {
        sku: "PEN-003",
        name: "A pen",
        description: "",
        prices: [{ currencyCode: "EUR", amountMinor: 2500n }],
        active: false,
      },
    ],
    [
      "MUG-042",
      {
        sku: "MUG-042",
        name: "A mug",
        description: "",
        prices: [{ currencyCode: "USD", amountMinor: 999n }],
        active: true,
      },
    ],
  ]);

  it("answers one quote per asked SKU in the order asked, repeats included, with the reason for each", () => {
    const quotes = quotePrices(
      { skus: ["MUG-042", "NOPE-1", "BOOK-001", "PEN-003", "BOOK-001"], currencyCode: "EUR" },
      found,
    );
    expect(quotes.map((q) => [q.sku, q.availability, q.unitPrice?.amountMinor, q.name])).toEqual([
      ["MUG-042", PriceAvailability.NOT_SOLD_IN_CURRENCY, undefined, "A mug"],
      ["NOPE-1", PriceAvailability.UNKNOWN_SKU, undefined, ""],
      ["BOOK-001", PriceAvailability.AVAILABLE, 1250n, "A book"],
      ["PEN-003", PriceAvailability.INACTIVE, undefined, "A pen"],
      ["BOOK-001", PriceAvailability.AVAILABLE, 1250n, "A book"],
    ]);
    expect(quotes[2]?.unitPrice?.currencyCode).toBe("EUR");
  });

  it("prices in the asked currency only", () => {
    const [quote] = quotePrices({ skus: ["MUG-042"], currencyCode: "USD" }, found);
    expect([quote?.availability, quote?.unitPrice?.amountMinor, quote?.unitPrice?.currencyCode]).toEqual([
      PriceAvailability.AVAILABLE,
      999n,
      "USD",
    ]);
  });
});

describe("the demo seed (infra/demo/catalog.json) and CATALOG_SEED_FILE", () => {
  it("holds the demo's products, priced in EUR and USD, with an inactive one and the stock for each", () => {
    const seed = parseDemoSeed(readFileSync(path.join(ROOT, "infra/demo/catalog.json"), "utf8"));
    const bySku = new Map(seed.products.map((p) => [p.sku, p]));
    expect(bySku.get("BOOK-001")?.prices).toEqual([
      { currencyCode: "EUR", amountMinor: 1250n },
      { currencyCode: "USD", amountMinor: 1350n },
    ]);
    for (const sku of ["MUG-042", "LAMP-007"]) expect(bySku.get(sku)?.active).toBe(true);
    for (const p of seed.products) {
      expect(p.prices.map((price) => price.currencyCode)).toEqual(["EUR", "USD"]);
    }
    expect(seed.products.some((p) => !p.active)).toBe(true);
    expect([...seed.stock.keys()].sort()).toEqual([...bySku.keys()].sort());
    expect(seed.stock.get("LAMP-007")).toBe(0n);
  });

  it("names the entry and field a bad seed fails on", () => {
    const entry = (fields: object) => JSON.stringify({ products: [fields] });
    const ok = { sku: "A-1", name: "A", prices: [{ currencyCode: "EUR", amountMinor: "5" }], active: true };
    expect(parseDemoSeed(entry(ok)).products).toHaveLength(1);
    expect(() => parseDemoSeed("[")).toThrow(/not JSON/);
    expect(() => parseDemoSeed("{}")).toThrow(/"products" array/);
    expect(() => parseDemoSeed(entry({ ...ok, sku: "a-1" }))).toThrow(/products\[0\]\.sku/);
    expect(() => parseDemoSeed(entry({ ...ok, colour: "red" }))).toThrow(/products\[0\]/);
    expect(() => parseDemoSeed(entry({ ...ok, demoStock: -1 }))).toThrow(/products\[0\]\.demoStock/);
    expect(() => parseDemoSeed(JSON.stringify({ products: [ok, ok] }))).toThrow(/appears twice/);
  });

  it("stops the configuration naming CATALOG_SEED_FILE when the file is missing or bad", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "catalog-seed-"));
    try {
      const bad = path.join(dir, "bad.json");
      await writeFile(bad, JSON.stringify({ products: [{ sku: "x" }] }));
      expect(() => loadCatalogConfig({ CATALOG_SEED_FILE: bad })).toThrow(/CATALOG_SEED_FILE/);
      expect(() => loadCatalogConfig({ CATALOG_SEED_FILE: path.join(dir, "missing.json") })).toThrow(
        /CATALOG_SEED_FILE/,
      );
      const config = loadCatalogConfig({ CATALOG_SEED_FILE: path.join(ROOT, "infra/demo/catalog.json") });
      expect(config.CATALOG_SEED_FILE.products.length).toBeGreaterThan(0);
      expect(config.database.url).toMatch(/\/accord_catalog$/);
      expect(config.CATALOG_PORT).toBe(8087);
      expect(loadCatalogConfig({}).CATALOG_SEED_FILE.products).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
