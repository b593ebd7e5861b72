import { OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import type { PoolClient } from "#lib/db.ts";

/**
 * Moves a locked order to REFUNDED and writes its status history row with
 * why. Unlike the saga's transitions it leaves failure_reason alone: the
 * order did not fail, its payment was given back.
 */
export async function markOrderRefunded(client: PoolClient, orderId: string, reason: string): Promise<void> {
  const status = OrderStatus[OrderStatus.REFUNDED];
  await client.query("UPDATE orders SET status = $2, updated_at = now() WHERE order_id = $1", [
    orderId,
    status,
  ]);
  await client.query("INSERT INTO order_status_history (order_id, status, reason) VALUES ($1, $2, $3)", [
    orderId,
    status,
    reason,
  ]);
}
