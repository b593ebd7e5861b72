import { type Platform, queryDb } from "#test/support/platform.ts";
import { sleep } from "./stats.ts";

/**
 * The orders of one bench round are told apart by their SKU: each round
 * stocks a SKU of its own, so these queries see that round's orders only.
 */

/** How many of the round's orders are still open (the saga has not ended them). */
async function openOrders(platform: Platform, sku: string): Promise<number> {
  const rows = await queryDb<{ n: number }>(
    platform.databases.orders,
    `SELECT count(*)::int AS n FROM orders o
      WHERE o.status IN ('PENDING', 'CANCELLING')
        AND EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.order_id AND l.sku = $1)`,
    [sku],
  );
  return rows[0]?.n ?? 0;
}

/** Waits until every order of the round has ended or the time is up; answers how many are still open. */
export async function awaitRoundEnded(platform: Platform, sku: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let open = await openOrders(platform, sku);
  while (open > 0 && Date.now() < deadline) {
    await sleep(250);
    open = await openOrders(platform, sku);
  }
  return open;
}

/** placed -> CONFIRMED of each confirmed order of the round, from the orders database's status history. */
export async function placedToConfirmedMs(platform: Platform, sku: string): Promise<number[]> {
  const rows = await queryDb<{ ms: number }>(
    platform.databases.orders,
    `SELECT (extract(epoch FROM c.changed_at - p.changed_at) * 1000)::float8 AS ms
       FROM order_status_history p
       JOIN order_status_history c ON c.order_id = p.order_id AND c.status = 'CONFIRMED'
      WHERE p.status = 'PENDING'
        AND EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = p.order_id AND l.sku = $1)`,
    [sku],
  );
  return rows.map((row) => row.ms);
}
