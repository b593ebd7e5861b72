import type {
  GetProductRequest,
  ListProductsRequest,
  LookupPricesRequest,
  Product,
  UpsertProductRequest,
} from "#gen/accord/catalog/v1/catalog_pb.js";
import { collectViolations, type FieldViolation } from "#lib/rpc/errors.ts";
import { checkText, type ReportViolation } from "#lib/validation.ts";

/**
 * The catalog's rules, as pure functions: what a product may look like, what
 * a list or lookup request may ask, and the page token. No I/O, so every rule
 * is unit-tested (test/unit/catalog-domain.test.ts).
 */

export const LIMITS = {
  sku: 64,
  name: 200,
  description: 4000,
  query: 100,
  pageSize: 100,
  defaultPageSize: 20,
  lookupSkus: 100,
  // One price per currency; far more currencies than any product is sold in.
  prices: 50,
  // The same cap orders applies to a catalog price (services/orders/src/domain/place-order.ts):
  // 100 lines of 10,000 units at this price still fit in int64.
  amountMinor: 1_000_000_000_000n,
} as const;

/** Upper-case letters, digits and dashes, starting with a letter or digit (the proto's Product.sku). */
const SKU = /^[A-Z0-9][A-Z0-9-]*$/;
const CURRENCY = /^[A-Z]{3}$/;
const KNOWN_CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf("currency"));

/** A product as the catalog stores it (the proto's Product without its timestamp). */
export interface ProductRecord {
  sku: string;
  name: string;
  description: string;
  /** Currency code -> unit price in minor units, sorted by currency. */
  prices: { currencyCode: string; amountMinor: bigint }[];
  active: boolean;
}

export function isSku(value: string): boolean {
  return value.length <= LIMITS.sku && SKU.test(value);
}

export function checkSku(value: string, field: string, bad: ReportViolation): boolean {
  if (!checkText(value, field, LIMITS.sku, bad)) return false;
  if (!SKU.test(value)) {
    bad(field, "must be upper-case letters, digits and '-', starting with a letter or digit");
    return false;
  }
  return true;
}

/** A required ISO 4217 code in upper case that the runtime knows (EUR, USD, ...). */
export function checkCurrency(value: string, field: string, bad: ReportViolation): boolean {
  if (value === "") {
    bad(field, "is required");
    return false;
  }
  if (!CURRENCY.test(value) || !KNOWN_CURRENCIES.has(value)) {
    bad(field, `must be an upper-case ISO 4217 code such as EUR, not ${JSON.stringify(value.slice(0, 8))}`);
    return false;
  }
  return true;
}

/**
 * Checks a product for UpsertProduct (and the demo seed): every field, every
 * violation named by its path under `path` ("product"). An active product
 * needs a price, or it could be listed but never sold.
 */
export function validateProduct(
  product: Product | undefined,
  path = "product",
): { product: ProductRecord } | { violations: FieldViolation[] } {
  const { violations, bad } = collectViolations();
  if (!product) {
    bad(path, "is required");
    return { violations };
  }
  checkSku(product.sku, `${path}.sku`, bad);
  checkText(product.name, `${path}.name`, LIMITS.name, bad);
  if (product.description.length > LIMITS.description) {
    bad(`${path}.description`, `must be at most ${LIMITS.description} characters`);
  }
  if (product.prices.length > LIMITS.prices) {
    bad(`${path}.prices`, `must have at most ${LIMITS.prices} prices`);
  } else if (product.active && product.prices.length === 0) {
    bad(`${path}.prices`, "an active product needs at least one price");
  }
  const seen = new Set<string>();
  product.prices.slice(0, LIMITS.prices).forEach((price, i) => {
    const at = `${path}.prices[${i}]`;
    if (checkCurrency(price.currencyCode, `${at}.currency_code`, bad)) {
      if (seen.has(price.currencyCode)) {
        bad(`${at}.currency_code`, `${price.currencyCode} already has a price (at most one per currency)`);
      }
      seen.add(price.currencyCode);
    }
    if (price.amountMinor <= 0n) bad(`${at}.amount_minor`, "must be positive");
    else if (price.amountMinor > LIMITS.amountMinor) {
      bad(`${at}.amount_minor`, `must be at most ${LIMITS.amountMinor}`);
    }
  });
  if (violations.length > 0) return { violations };
  return {
    product: {
      sku: product.sku,
      name: product.name,
      description: product.description,
      prices: product.prices
        .map((p) => ({ currencyCode: p.currencyCode, amountMinor: p.amountMinor }))
        .sort((a, b) => compareCodeUnits(a.currencyCode, b.currencyCode)),
      active: product.active,
    },
  };
}

export function validateUpsert(
  req: UpsertProductRequest,
): { product: ProductRecord } | { violations: FieldViolation[] } {
  return validateProduct(req.product, "product");
}

export function validateGetProduct(req: GetProductRequest): FieldViolation[] {
  const { violations, bad } = collectViolations();
  checkSku(req.sku, "sku", bad);
  return violations;
}

/** What ListProducts will read: one page after a SKU, with the request's filters. */
export interface ListQuery {
  limit: number;
  /** Only SKUs after this one (the last of the previous page). */
  afterSku: string | undefined;
  /** Text contained in the SKU or name, case-insensitive; undefined for all. */
  text: string | undefined;
  currencyCode: string | undefined;
  includeInactive: boolean;
}

/**
 * Checks ListProducts' fields and decodes its page token. Whether the caller
 * may include inactive products is the handler's call (it knows the caller);
 * this only reads the request.
 */
export function validateListProducts(
  req: ListProductsRequest,
): { query: ListQuery } | { violations: FieldViolation[] } {
  const { violations, bad } = collectViolations();
  if (req.pageSize < 0 || req.pageSize > LIMITS.pageSize) {
    bad("page_size", `must be between 0 and ${LIMITS.pageSize}`);
  }
  if (req.query.length > LIMITS.query) bad("query", `must be at most ${LIMITS.query} characters`);
  if (req.currencyCode !== "") checkCurrency(req.currencyCode, "currency_code", bad);
  const text = req.query.trim() === "" ? undefined : req.query.trim();
  const currencyCode = req.currencyCode || undefined;
  const filters: PageFilters = { text, currencyCode, includeInactive: req.includeInactive };
  let afterSku: string | undefined;
  if (req.pageToken !== "") {
    const decoded = decodePageToken(req.pageToken);
    if (decoded === undefined) bad("page_token", "is not a token this service issued");
    else if (!sameFilters(decoded.filters, filters)) {
      bad("page_token", "was issued for other filters (query, currency_code, include_inactive)");
    } else afterSku = decoded.afterSku;
  }
  if (violations.length > 0) return { violations };
  return {
    query: {
      limit: req.pageSize || LIMITS.defaultPageSize,
      afterSku,
      text,
      currencyCode,
      includeInactive: req.includeInactive,
    },
  };
}

/** The filters a page token was issued for: a token only continues the listing it came from. */
export interface PageFilters {
  text: string | undefined;
  currencyCode: string | undefined;
  includeInactive: boolean;
}

const TOKEN_VERSION = 1;

/**
 * The opaque token of the page after `afterSku`: the last SKU shown and the
 * filters, base64url JSON. It grants nothing: the filters are checked again,
 * and include_inactive is still ops only, on every page.
 */
export function encodePageToken(afterSku: string, filters: PageFilters): string {
  const body = [
    TOKEN_VERSION,
    afterSku,
    filters.text ?? "",
    filters.currencyCode ?? "",
    filters.includeInactive,
  ];
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

/** The token's cursor and filters, or undefined for anything this service did not issue. */
export function decodePageToken(token: string): { afterSku: string; filters: PageFilters } | undefined {
  if (token.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  if (!Array.isArray(body) || body.length !== 5) return undefined;
  const [version, afterSku, text, currencyCode, includeInactive] = body as unknown[];
  if (
    version !== TOKEN_VERSION ||
    typeof afterSku !== "string" ||
    !isSku(afterSku) ||
    typeof text !== "string" ||
    text.length > LIMITS.query ||
    typeof currencyCode !== "string" ||
    (currencyCode !== "" && !CURRENCY.test(currencyCode)) ||
    typeof includeInactive !== "boolean"
  ) {
    return undefined;
  }
  return {
    afterSku,
    filters: { text: text || undefined, currencyCode: currencyCode || undefined, includeInactive },
  };
}

function sameFilters(a: PageFilters, b: PageFilters): boolean {
  return a.text === b.text && a.currencyCode === b.currencyCode && a.includeInactive === b.includeInactive;
}

/** What LookupPrices will read: the asked SKUs in order (repeats kept) and the currency. */
export interface PriceLookup {
  skus: string[];
  currencyCode: string;
}

/**
 * Checks LookupPrices. A SKU that no product could have (lower case, a dot)
 * is not an error: it is simply unknown and answered in its quote, so the
 * caller can name its own offending line. Only an empty or overlong entry is
 * refused, as it is no SKU at all.
 */
export function validateLookupPrices(
  req: LookupPricesRequest,
): { lookup: PriceLookup } | { violations: FieldViolation[] } {
  const { violations, bad } = collectViolations();
  if (req.skus.length === 0) bad("skus", "must name at least one SKU");
  else if (req.skus.length > LIMITS.lookupSkus) bad("skus", `must name at most ${LIMITS.lookupSkus} SKUs`);
  else {
    for (const [i, sku] of req.skus.entries()) checkText(sku, `skus[${i}]`, LIMITS.sku, bad);
  }
  checkCurrency(req.currencyCode, "currency_code", bad);
  if (violations.length > 0) return { violations };
  return { lookup: { skus: [...req.skus], currencyCode: req.currencyCode } };
}

/** Code-unit order, as Postgres compares with COLLATE "C": the same everywhere. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
