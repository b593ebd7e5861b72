import { create } from "@bufbuild/protobuf";
import { PriceAvailability, type PriceQuote, PriceQuoteSchema } from "#gen/accord/catalog/v1/catalog_pb.js";
import type { PriceLookup, ProductRecord } from "./product.ts";

/**
 * One quote per asked SKU, in the order asked (repeats answered each time),
 * from the products found. A price is given only when the product is active
 * and priced in the asked currency; otherwise the quote says why not.
 */
export function quotePrices(lookup: PriceLookup, found: ReadonlyMap<string, ProductRecord>): PriceQuote[] {
  return lookup.skus.map((sku) => {
    const product = found.get(sku);
    if (!product) return create(PriceQuoteSchema, { sku, availability: PriceAvailability.UNKNOWN_SKU });
    if (!product.active) {
      return create(PriceQuoteSchema, { sku, availability: PriceAvailability.INACTIVE, name: product.name });
    }
    const price = product.prices.find((p) => p.currencyCode === lookup.currencyCode);
    if (!price) {
      return create(PriceQuoteSchema, {
        sku,
        availability: PriceAvailability.NOT_SOLD_IN_CURRENCY,
        name: product.name,
      });
    }
    return create(PriceQuoteSchema, {
      sku,
      availability: PriceAvailability.AVAILABLE,
      unitPrice: { currencyCode: price.currencyCode, amountMinor: price.amountMinor },
      name: product.name,
    });
  });
}
