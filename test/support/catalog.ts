import { randomUUID } from "node:crypto";
import { CatalogService, type Product } from "#gen/accord/catalog/v1/catalog_pb.js";
import { rpcClient } from "#lib/rpc/clients.ts";
import { callerAs } from "./identity.ts";

/**
 * Products for a test, put into a real catalog through its real
 * UpsertProduct as ops (olivia's token), so a test prices its own SKUs
 * instead of relying on the demo data:
 *
 *   const sku = testSku("BOOK");
 *   await ensureProducts(platform.urls.catalog, [{ sku, prices: { EUR: 1250n } }]);
 */
export interface TestProduct {
  sku: string;
  /** Unit price per currency in minor units, e.g. { EUR: 1250n, USD: 1350n }. */
  prices: Readonly<Record<string, bigint>>;
  /** Default: "Test product <sku>". */
  name?: string;
  description?: string;
  /** Default true. */
  active?: boolean;
}

/** Creates or replaces every product (all its fields, as UpsertProduct does); resolves with them as stored. */
export async function ensureProducts(
  catalogUrl: string,
  products: readonly TestProduct[],
): Promise<Product[]> {
  const ops = rpcClient(CatalogService, catalogUrl, "connect-json", callerAs("olivia", "catalog"));
  const stored: Product[] = [];
  for (const p of products) {
    const { product } = await ops.upsertProduct({
      product: {
        sku: p.sku,
        name: p.name ?? `Test product ${p.sku}`,
        description: p.description ?? "",
        prices: Object.entries(p.prices).map(([currencyCode, amountMinor]) => ({
          currencyCode,
          amountMinor,
        })),
        active: p.active ?? true,
      },
    });
    if (!product) throw new Error(`UpsertProduct answered ${p.sku} without a product`);
    stored.push(product);
  }
  return stored;
}

/** A SKU no other test uses: "<PREFIX>-<8 hex digits>", in the catalog's format (upper case). */
export function testSku(prefix = "TEST"): string {
  return `${prefix.toUpperCase()}-${randomUUID().slice(0, 8).toUpperCase()}`;
}
