import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { PriceAvailability, type PriceQuote } from "#gen/accord/catalog/v1/catalog_pb.js";
import { type PriceChanged, PriceChangedSchema } from "#gen/accord/orders/v1/orders_pb.js";
import type { FieldViolation } from "#lib/rpc/errors.ts";
import { type CheckedOrder, LIMITS, type OrderDraft } from "./place-order.ts";

/**
 * Checkout's pricing: the catalog's quotes decide every unit price and the
 * total; the request's unit_price is only compared with them. Pure: the
 * lookup happens in the catalog adapter, this decides what its answer means.
 */

/** The SKUs to ask the catalog for: each once, in the order first named. */
export function skusToPrice(order: CheckedOrder): string[] {
  return [...new Set(order.lines.map((l) => l.sku))];
}

export type Pricing =
  /** Every line priced by the catalog; the order can be stored. */
  | { kind: "priced"; draft: OrderDraft }
  /** A SKU that cannot be sold (unknown, inactive, not in the currency): InvalidArgument naming lines[i].sku. */
  | { kind: "invalid"; violations: FieldViolation[] }
  /** A shown price that is not the catalog's: FailedPrecondition with one PriceChanged per line. */
  | { kind: "changed"; changes: PriceChanged[] }
  /** The catalog answered something no order may be priced from (a bug between services, not the caller's). */
  | { kind: "fault"; reason: string };

const REFUSED: Partial<Record<PriceAvailability, (currency: string) => string>> = {
  [PriceAvailability.UNKNOWN_SKU]: () => "is not in the catalog",
  [PriceAvailability.INACTIVE]: () => "is no longer sold (inactive in the catalog)",
  [PriceAvailability.NOT_SOLD_IN_CURRENCY]: (currency) => `is not sold in ${currency}`,
};

/**
 * Prices a checked order from the catalog's quotes (one per asked SKU, any
 * order, repeats allowed). Unsellable SKUs come first: until the line is
 * fixed its price means nothing. Then every shown price must equal the
 * catalog's in currency and amount; a line without one takes the catalog's.
 */
export function priceOrder(order: CheckedOrder, quotes: readonly PriceQuote[]): Pricing {
  const bySku = new Map<string, PriceQuote>();
  for (const quote of quotes) bySku.set(quote.sku, quote);
  const currency = order.currencyCode;

  const violations: FieldViolation[] = [];
  const unitPrices: bigint[] = [];
  for (const [i, line] of order.lines.entries()) {
    const quote = bySku.get(line.sku);
    if (!quote) return { kind: "fault", reason: `the catalog gave no quote for ${line.sku}` };
    if (quote.availability === PriceAvailability.AVAILABLE) {
      const price = quote.unitPrice;
      if (!price || price.currencyCode !== currency) {
        return { kind: "fault", reason: `the catalog quoted ${line.sku} without a ${currency} price` };
      }
      if (price.amountMinor < 0n || price.amountMinor > LIMITS.unitPriceMinor) {
        return {
          kind: "fault",
          reason: `the catalog quoted ${line.sku} at ${price.amountMinor}, out of range`,
        };
      }
      unitPrices.push(price.amountMinor);
      continue;
    }
    const refused = REFUSED[quote.availability];
    if (!refused) {
      return {
        kind: "fault",
        reason: `the catalog answered availability ${quote.availability} for ${line.sku}`,
      };
    }
    violations.push({ field: `lines[${i}].sku`, message: `${line.sku} ${refused(currency)}` });
  }
  if (violations.length > 0) return { kind: "invalid", violations };

  const changes: PriceChanged[] = [];
  for (const [i, line] of order.lines.entries()) {
    const shown = line.shownPrice;
    const current = unitPrices[i] as bigint;
    if (shown && (shown.currencyCode !== currency || shown.amountMinor !== current)) {
      changes.push(
        create(PriceChangedSchema, {
          lineIndex: i,
          sku: line.sku,
          shownPrice: shown,
          currentPrice: { currencyCode: currency, amountMinor: current },
        }),
      );
    }
  }
  if (changes.length > 0) return { kind: "changed", changes };

  const lines = order.lines.map((l, i) => ({
    sku: l.sku,
    quantity: l.quantity,
    unitPriceMinor: unitPrices[i] as bigint,
  }));
  return {
    kind: "priced",
    draft: {
      customerId: order.customerId,
      customerEmail: order.customerEmail,
      currencyCode: currency,
      lines,
      totalMinor: lines.reduce((sum, l) => sum + l.unitPriceMinor * BigInt(l.quantity), 0n),
      shippingAddress: order.shippingAddress,
    },
  };
}

/**
 * PlaceOrder's answer to changed prices: FailedPrecondition naming each line
 * ("lines[0].unit_price: price changed from 1 to 1250 EUR (minor units)")
 * with a PriceChanged detail per line, so a client can show the new prices
 * and resend with them (or with none).
 */
export function priceChangedError(changes: readonly PriceChanged[]): ConnectError {
  const message = changes
    .map((c) => {
      const shown = `${c.shownPrice?.amountMinor ?? 0n} ${c.shownPrice?.currencyCode || "(no currency)"}`;
      const now = `${c.currentPrice?.amountMinor ?? 0n} ${c.currentPrice?.currencyCode ?? ""}`;
      return `lines[${c.lineIndex}].unit_price: price changed from ${shown} to ${now} (minor units)`;
    })
    .join("; ");
  return new ConnectError(
    message,
    Code.FailedPrecondition,
    undefined,
    changes.map((value) => ({ desc: PriceChangedSchema, value })),
  );
}
