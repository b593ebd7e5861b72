import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Product, ProductSchema } from "#gen/accord/catalog/v1/catalog_pb.js";
import { inTransaction, type Pool, type PoolClient } from "#lib/db.ts";
import type { ListQuery, ProductRecord } from "../domain/product.ts";

type Db = Pool | PoolClient;

interface ProductRow {
  sku: string;
  name: string;
  description: string;
  active: boolean;
  updated_at: Date;
  prices: { currencyCode: string; amountMinor: string }[];
}

// Prices come back as a JSON array with amounts as text (json has no int64).
const SELECT_PRODUCT = `
  SELECT p.sku, p.name, p.description, p.active, p.updated_at,
         COALESCE((SELECT json_agg(json_build_object('currencyCode', pp.currency_code,
                                                     'amountMinor', pp.amount_minor::text)
                                   ORDER BY pp.currency_code)
                     FROM product_prices pp WHERE pp.sku = p.sku), '[]') AS prices
    FROM products p`;

export async function getProduct(db: Db, sku: string): Promise<Product | undefined> {
  const { rows } = await db.query<ProductRow>(`${SELECT_PRODUCT} WHERE p.sku = $1`, [sku]);
  return rows[0] ? toProduct(rows[0]) : undefined;
}

/** The products with these SKUs (each once), by SKU. */
export async function productsBySku(db: Db, skus: readonly string[]): Promise<Map<string, ProductRecord>> {
  const { rows } = await db.query<ProductRow>(`${SELECT_PRODUCT} WHERE p.sku = ANY($1::text[])`, [
    [...new Set(skus)],
  ]);
  return new Map(rows.map((row) => [row.sku, toRecord(row)]));
}

/**
 * One page of products in SKU order after query.afterSku. Reads one row more
 * than the page, so the caller knows whether another page follows.
 */
export async function listProducts(
  db: Db,
  query: ListQuery,
): Promise<{ products: Product[]; more: boolean }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (!query.includeInactive) where.push("p.active");
  if (query.afterSku !== undefined) where.push(`p.sku > ${param(query.afterSku)}`);
  if (query.text !== undefined) {
    // The text is matched literally: LIKE's wildcards in it are escaped.
    const pattern = `%${query.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const p = param(pattern);
    where.push(`(p.sku ILIKE ${p} OR p.name ILIKE ${p})`);
  }
  if (query.currencyCode !== undefined) {
    where.push(
      `EXISTS (SELECT 1 FROM product_prices f WHERE f.sku = p.sku AND f.currency_code = ${param(query.currencyCode)})`,
    );
  }
  const limit = param(query.limit + 1);
  const { rows } = await db.query<ProductRow>(
    `${SELECT_PRODUCT} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY p.sku LIMIT ${limit}`,
    params,
  );
  return { products: rows.slice(0, query.limit).map(toProduct), more: rows.length > query.limit };
}

/**
 * Creates the product or replaces every field of the existing one, its prices
 * included, in one transaction. The row lock of ON CONFLICT DO UPDATE orders
 * two concurrent upserts of one SKU, so the prices stored are one request's.
 */
export async function upsertProduct(
  pool: Pool,
  product: ProductRecord,
): Promise<{ product: Product; created: boolean }> {
  return inTransaction(pool, async (client) => {
    // xmax is 0 on a row this statement inserted, the updater's id on one it updated.
    const { rows } = await client.query<{ created: boolean }>(
      `INSERT INTO products (sku, name, description, active) VALUES ($1, $2, $3, $4)
       ON CONFLICT (sku) DO UPDATE
         SET name = EXCLUDED.name, description = EXCLUDED.description,
             active = EXCLUDED.active, updated_at = now()
       RETURNING (xmax = 0) AS created`,
      [product.sku, product.name, product.description, product.active],
    );
    await client.query("DELETE FROM product_prices WHERE sku = $1", [product.sku]);
    await insertPrices(client, [product]);
    const stored = await getProduct(client, product.sku);
    if (!stored) throw new Error("upserted product not found in its own transaction");
    return { product: stored, created: rows[0]?.created === true };
  });
}

/** Creates the products whose SKU does not exist yet; existing ones are never changed. Returns the created SKUs. */
export async function seedProducts(pool: Pool, products: readonly ProductRecord[]): Promise<string[]> {
  if (products.length === 0) return [];
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<{ sku: string }>(
      `INSERT INTO products (sku, name, description, active)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[])
       ON CONFLICT (sku) DO NOTHING
       RETURNING sku`,
      [
        products.map((p) => p.sku),
        products.map((p) => p.name),
        products.map((p) => p.description),
        products.map((p) => p.active),
      ],
    );
    const created = new Set(rows.map((r) => r.sku));
    await insertPrices(
      client,
      products.filter((p) => created.has(p.sku)),
    );
    return [...created].sort();
  });
}

async function insertPrices(client: PoolClient, products: readonly ProductRecord[]): Promise<void> {
  const prices = products.flatMap((p) => p.prices.map((price) => ({ sku: p.sku, ...price })));
  if (prices.length === 0) return;
  await client.query(
    `INSERT INTO product_prices (sku, currency_code, amount_minor)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])`,
    [
      prices.map((p) => p.sku),
      prices.map((p) => p.currencyCode),
      prices.map((p) => p.amountMinor.toString()),
    ],
  );
}

function toRecord(row: ProductRow): ProductRecord {
  return {
    sku: row.sku,
    name: row.name,
    description: row.description,
    active: row.active,
    prices: row.prices.map((p) => ({ currencyCode: p.currencyCode, amountMinor: BigInt(p.amountMinor) })),
  };
}

function toProduct(row: ProductRow): Product {
  const record = toRecord(row);
  return create(ProductSchema, { ...record, updatedAt: timestampFromDate(row.updated_at) });
}
