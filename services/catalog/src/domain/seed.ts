import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ProductSchema } from "#gen/accord/catalog/v1/catalog_pb.js";
import { type ProductRecord, validateProduct } from "./product.ts";

/**
 * The demo data (infra/demo/catalog.json): the products the catalog creates
 * at start when their SKU is missing, and the demo stock inventory gets for
 * the same SKUs (scripts/demo.ts sets it), so products and stock come from one
 * file and cannot disagree.
 *
 *   { "products": [ { "sku": "BOOK-001", "name": "...", "prices": [...], "active": true, "demoStock": 1000 } ] }
 *
 * Each product is the protobuf JSON form of accord.catalog.v1.Product plus
 * an optional demoStock (units, default 0); it passes the same checks as an
 * UpsertProduct.
 */
export interface DemoSeed {
  products: ProductRecord[];
  /** Demo units per SKU, for every product of the seed. */
  stock: Map<string, bigint>;
}

const MAX_STOCK = 1_000_000_000_000n;

/** Parses the seed file's text; throws an Error naming the bad entry and field. */
export function parseDemoSeed(text: string): DemoSeed {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new Error(`is not JSON: ${(error as Error).message}`);
  }
  const entries = (body as { products?: unknown } | null)?.products;
  if (!Array.isArray(entries)) throw new Error('must be an object with a "products" array');
  const products: ProductRecord[] = [];
  const stock = new Map<string, bigint>();
  entries.forEach((entry: unknown, i) => {
    const at = `products[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new Error(`${at}: must be an object`);
    }
    const { demoStock = 0, ...fields } = entry as Record<string, unknown>;
    if (typeof demoStock !== "number" || !Number.isSafeInteger(demoStock) || demoStock < 0) {
      throw new Error(`${at}.demoStock: must be a whole number of units, 0 or more`);
    }
    if (BigInt(demoStock) > MAX_STOCK) throw new Error(`${at}.demoStock: must be at most ${MAX_STOCK}`);
    let message: ReturnType<typeof fromJson<typeof ProductSchema>>;
    try {
      message = fromJson(ProductSchema, fields as JsonValue);
    } catch (error) {
      throw new Error(`${at}: ${(error as Error).message}`);
    }
    const checked = validateProduct(message, at);
    if ("violations" in checked) {
      throw new Error(checked.violations.map((v) => `${v.field}: ${v.message}`).join("; "));
    }
    if (stock.has(checked.product.sku)) throw new Error(`${at}.sku: ${checked.product.sku} appears twice`);
    products.push(checked.product);
    stock.set(checked.product.sku, BigInt(demoStock));
  });
  return { products, stock };
}
