import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { CatalogService } from "#gen/accord/catalog/v1/catalog_pb.js";
import { hasRole, principalOf } from "#lib/auth/principal.ts";
import type { Pool } from "#lib/db.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { invalidArgument } from "#lib/rpc/errors.ts";
import { getProduct, listProducts, productsBySku, upsertProduct } from "./db/catalog-repo.ts";
import {
  encodePageToken,
  validateGetProduct,
  validateListProducts,
  validateLookupPrices,
  validateUpsert,
} from "./domain/product.ts";
import { quotePrices } from "./domain/quotes.ts";

/**
 * The CatalogService handlers. The authorization table lets the callers in;
 * what they see is narrowed here: inactive products are ops' alone (for
 * anyone else one does not exist), and asking for them is refused outright
 * rather than silently ignored, so a client never mistakes the active list
 * for the whole catalog.
 */
export function createCatalogService(deps: {
  pool: Pool;
  logger: Logger;
}): ServiceImpl<typeof CatalogService> {
  const { pool, logger } = deps;
  const seesInactive = (ctx: HandlerContext) => hasRole(principalOf(ctx), "ops");

  return {
    async listProducts(req, ctx) {
      if (req.includeInactive && !seesInactive(ctx)) {
        throw new ConnectError(
          "include_inactive: only ops may list inactive products",
          Code.PermissionDenied,
        );
      }
      const checked = validateListProducts(req);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const { query } = checked;
      const page = await listProducts(pool, query);
      const last = page.products.at(-1);
      return {
        products: page.products,
        nextPageToken: page.more && last ? encodePageToken(last.sku, query) : "",
      };
    },

    async getProduct(req, ctx) {
      const violations = validateGetProduct(req);
      if (violations.length > 0) throw invalidArgument(violations);
      const product = await getProduct(pool, req.sku);
      if (!product || (!product.active && !seesInactive(ctx))) {
        throw new ConnectError(`product ${req.sku} not found`, Code.NotFound);
      }
      return { product };
    },

    async lookupPrices(req) {
      const checked = validateLookupPrices(req);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const found = await productsBySku(pool, checked.lookup.skus);
      return { quotes: quotePrices(checked.lookup, found) };
    },

    async upsertProduct(req) {
      const checked = validateUpsert(req);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const { product, created } = await upsertProduct(pool, checked.product);
      logger.info(
        {
          sku: product.sku,
          active: product.active,
          prices: product.prices.map((p) => `${p.amountMinor} ${p.currencyCode}`),
          created,
        },
        created ? "product created" : "product replaced",
      );
      return { product, created };
    },
  };
}
