import { createHash } from "node:crypto";
import type {
  GetStockRequest,
  ReleaseRequest,
  ReserveRequest,
  SetStockRequest,
} from "#gen/accord/inventory/v1/inventory_pb.js";
import { collectViolations, type FieldViolation } from "#lib/rpc/errors.ts";
import { checkText, type ReportViolation } from "#lib/validation.ts";

export interface PlannedItem {
  sku: string;
  quantity: number;
}

/**
 * What Reserve will do: one line per SKU (duplicates summed), sorted by SKU.
 * Every transaction touches stock rows in this order, so two reservations
 * sharing SKUs wait for each other instead of deadlocking.
 */
export interface ReservationPlan {
  idempotencyKey: string;
  orderId: string;
  items: PlannedItem[];
  /** Fingerprint of (order_id, items); compared when a key is replayed. */
  requestHash: string;
}

export interface ReleasePlan {
  idempotencyKey: string;
  orderId: string;
  reason: string;
}

export const LIMITS = {
  idempotencyKey: 128,
  orderId: 128,
  items: 100,
  sku: 64,
  quantity: 10_000,
  reason: 500,
  // Far below 2^63 so available + reserved can never overflow int64.
  available: 1_000_000_000_000n,
} as const;

const SKU = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function validateReserve(
  req: ReserveRequest,
): { plan: ReservationPlan } | { violations: FieldViolation[] } {
  const { violations, bad } = collectViolations();

  checkText(req.idempotencyKey, "idempotency_key", LIMITS.idempotencyKey, bad);
  checkText(req.orderId, "order_id", LIMITS.orderId, bad);
  if (req.items.length === 0) bad("items", "must contain at least one item");
  if (req.items.length > LIMITS.items) bad("items", `must contain at most ${LIMITS.items} items`);

  const totals = new Map<string, number>();
  req.items.slice(0, LIMITS.items).forEach((item, i) => {
    const skuOk = checkSku(item.sku, `items[${i}].sku`, bad);
    let quantityOk = true;
    if (item.quantity < 1) {
      bad(`items[${i}].quantity`, "must be at least 1");
      quantityOk = false;
    } else if (item.quantity > LIMITS.quantity) {
      bad(`items[${i}].quantity`, `must be at most ${LIMITS.quantity}`);
      quantityOk = false;
    }
    if (skuOk && quantityOk) totals.set(item.sku, (totals.get(item.sku) ?? 0) + item.quantity);
  });
  for (const [sku, quantity] of totals) {
    // Two lines of one SKU are summed (an order may list a SKU twice); the sum obeys the same cap.
    if (quantity > LIMITS.quantity)
      bad("items", `total quantity of ${sku} must be at most ${LIMITS.quantity}`);
  }

  if (violations.length > 0) return { violations };
  const items = [...totals]
    .map(([sku, quantity]) => ({ sku, quantity }))
    .sort((a, b) => compareSku(a.sku, b.sku));
  return {
    plan: {
      idempotencyKey: req.idempotencyKey,
      orderId: req.orderId,
      items,
      requestHash: reservationFingerprint(req.orderId, items),
    },
  };
}

/**
 * Fingerprint of what a Reserve asks for, taken over the normalized items so
 * the same goods listed in another order or split over two lines match.
 */
export function reservationFingerprint(orderId: string, items: readonly PlannedItem[]): string {
  const sorted = [...items].sort((a, b) => compareSku(a.sku, b.sku));
  return createHash("sha256")
    .update(JSON.stringify([orderId, sorted.map((i) => [i.sku, i.quantity])]))
    .digest("hex");
}

/** Code-unit order: the same in every process, independent of locale and collation. */
export function compareSku(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function validateRelease(
  req: ReleaseRequest,
): { plan: ReleasePlan } | { violations: FieldViolation[] } {
  const { violations, bad } = collectViolations();
  checkText(req.idempotencyKey, "idempotency_key", LIMITS.idempotencyKey, bad);
  checkText(req.orderId, "order_id", LIMITS.orderId, bad);
  if (req.reason.length > LIMITS.reason) bad("reason", `must be at most ${LIMITS.reason} characters`);
  if (violations.length > 0) return { violations };
  return { plan: { idempotencyKey: req.idempotencyKey, orderId: req.orderId, reason: req.reason } };
}

export function validateGetStock(req: GetStockRequest): FieldViolation[] {
  const { violations, bad } = collectViolations();
  checkSku(req.sku, "sku", bad);
  return violations;
}

export function validateSetStock(req: SetStockRequest): FieldViolation[] {
  const { violations, bad } = collectViolations();
  checkSku(req.sku, "sku", bad);
  if (req.available < 0n) bad("available", "must not be negative");
  else if (req.available > LIMITS.available) bad("available", `must be at most ${LIMITS.available}`);
  return violations;
}

/** The message of the FailedPrecondition for a refused Reserve. */
export function outOfStockMessage(shortSkus: readonly string[]): string {
  return `out of stock: ${shortSkus.join(", ")}`;
}

/**
 * Parses INVENTORY_SEED_STOCK ("BOOK-001=100,MUG-042=50") into SKU -> units.
 * Throws naming the bad entry; an empty string is no seed.
 */
export function parseSeedStock(text: string): Map<string, bigint> {
  const seed = new Map<string, bigint>();
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const match = /^([^=\s]+)\s*=\s*(\d+)$/.exec(entry);
    const sku = match?.[1];
    const units = match?.[2];
    if (!sku || !units) throw new Error(`entry ${JSON.stringify(entry)} is not SKU=units`);
    const { violations: problems, bad } = collectViolations();
    checkSku(sku, "sku", bad);
    if (problems.length > 0) throw new Error(`entry ${JSON.stringify(entry)}: sku ${problems[0]?.message}`);
    const available = BigInt(units);
    if (available > LIMITS.available) {
      throw new Error(`entry ${JSON.stringify(entry)}: units must be at most ${LIMITS.available}`);
    }
    if (seed.has(sku)) throw new Error(`SKU ${sku} appears twice`);
    seed.set(sku, available);
  }
  return seed;
}

function checkSku(sku: string, field: string, bad: ReportViolation): boolean {
  if (!checkText(sku, field, LIMITS.sku, bad)) return false;
  if (!SKU.test(sku)) {
    bad(field, "may contain only letters, digits, '.', '_' and '-'");
    return false;
  }
  return true;
}
