import { createHash } from "node:crypto";
import { clone, toBinary } from "@bufbuild/protobuf";
import type { LineItem } from "#gen/accord/common/v1/common_pb.js";
import { type PlaceOrderRequest, PlaceOrderRequestSchema } from "#gen/accord/orders/v1/orders_pb.js";
import { collectViolations, type FieldViolation } from "#lib/rpc/errors.ts";
import { checkAddress, checkText, type PostalAddress, type ReportViolation } from "#lib/validation.ts";

/** A line as the request gave it, checked: the shown price is what the customer saw, if anything. */
export interface RequestedLine {
  sku: string;
  quantity: number;
  shownPrice?: { currencyCode: string; amountMinor: bigint };
}

/** A request that passed every check needing no catalog: it still has to be priced (pricing.ts). */
export interface CheckedOrder {
  customerId: string;
  customerEmail: string;
  currencyCode: string;
  lines: RequestedLine[];
  shippingAddress: PostalAddress;
}

/** What the store needs to record a priced order: the catalog's unit prices and their total. */
export interface OrderDraft {
  customerId: string;
  customerEmail: string;
  currencyCode: string;
  lines: { sku: string; quantity: number; unitPriceMinor: bigint }[];
  totalMinor: bigint;
  shippingAddress: PostalAddress;
}

export const LIMITS = {
  idempotencyKey: 128,
  id: 128,
  email: 254,
  lines: 100,
  sku: 64,
  quantity: 10_000,
  // Well below 2^63 so a sum of 100 lines can never overflow int64; a
  // catalog price above it is refused as a fault (pricing.ts).
  unitPriceMinor: 1_000_000_000_000n,
} as const;

const KNOWN_CURRENCIES = new Set(Intl.supportedValuesOf("currency"));
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const SKU = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Checks a PlaceOrder request for everything that needs no catalog, so a
 * malformed request is refused before any lookup. Pure: no I/O, so every rule
 * is unit-tested. Returns every violation, not just the first. Prices are not
 * decided here: a line's unit_price is optional and only kept as the price
 * the customer was shown (pricing.ts compares it with the catalog's).
 */
export function validatePlaceOrder(
  req: PlaceOrderRequest,
): { order: CheckedOrder } | { violations: FieldViolation[] } {
  const { violations, bad } = collectViolations();

  checkText(req.idempotencyKey, "idempotency_key", LIMITS.idempotencyKey, bad);
  checkText(req.customerId, "customer_id", LIMITS.id, bad);
  if (checkText(req.customerEmail, "customer_email", LIMITS.email, bad) && !EMAIL.test(req.customerEmail)) {
    bad("customer_email", "must be an email address");
  }

  const currency = req.currencyCode;
  if (!currency) bad("currency_code", "is required");
  else if (!/^[A-Z]{3}$/.test(currency) || !KNOWN_CURRENCIES.has(currency)) {
    bad("currency_code", `unknown ISO 4217 currency ${JSON.stringify(currency.slice(0, 8))}`);
  }

  if (req.lines.length === 0) bad("lines", "must contain at least one line");
  if (req.lines.length > LIMITS.lines) bad("lines", `must contain at most ${LIMITS.lines} lines`);
  const lines = req.lines.slice(0, LIMITS.lines).map((line, i) => checkLine(line, `lines[${i}]`, bad));

  const address = checkAddress(req.shippingAddress, "shipping_address", bad);

  if (violations.length > 0 || !address) return { violations };
  return {
    order: {
      customerId: req.customerId,
      customerEmail: req.customerEmail,
      currencyCode: currency,
      lines: lines.filter((l) => l !== undefined),
      shippingAddress: address,
    },
  };
}

/**
 * Fingerprint of everything in the request except its idempotency key, so a
 * replay with the same body matches and a different body does not.
 */
export function requestFingerprint(req: PlaceOrderRequest): string {
  const copy = clone(PlaceOrderRequestSchema, req);
  copy.idempotencyKey = "";
  return createHash("sha256").update(toBinary(PlaceOrderRequestSchema, copy)).digest("hex");
}

function checkLine(line: LineItem, path: string, bad: ReportViolation): RequestedLine | undefined {
  let ok = true;
  const fail: ReportViolation = (f, m) => {
    ok = false;
    bad(f, m);
  };
  if (checkText(line.sku, `${path}.sku`, LIMITS.sku, fail) && !SKU.test(line.sku)) {
    fail(`${path}.sku`, "may contain only letters, digits, '.', '_' and '-'");
  }
  if (line.quantity < 1) fail(`${path}.quantity`, "must be at least 1");
  else if (line.quantity > LIMITS.quantity) fail(`${path}.quantity`, `must be at most ${LIMITS.quantity}`);
  // A shown price in another currency, or of another amount, is a changed
  // price (pricing.ts), not malformed input; only an amount no price can
  // have is refused here.
  const shown = line.unitPrice;
  if (shown && shown.amountMinor < 0n) fail(`${path}.unit_price.amount_minor`, "must not be negative");
  if (!ok) return undefined;
  return shown
    ? {
        sku: line.sku,
        quantity: line.quantity,
        shownPrice: { currencyCode: shown.currencyCode, amountMinor: shown.amountMinor },
      }
    : { sku: line.sku, quantity: line.quantity };
}
