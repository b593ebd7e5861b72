import { OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";

/** What a requested status change does to an order in its current status. */
export type TransitionOutcome = "apply" | "already" | "refuse";

/**
 * Allowed status changes. Each saga step may be retried, so asking for the
 * status an order already has is answered "already" (no second event).
 * CONFIRMED is reachable from CANCELLING: a cancel that arrives after the
 * shipment was booked loses the race and the order ships. REFUNDED comes
 * only from an ops refund (PaymentRefunded, initiator OPS) of a confirmed or
 * delivered order, never from the saga.
 */
const FROM: Record<OrderStatus, readonly OrderStatus[]> = {
  [OrderStatus.UNSPECIFIED]: [],
  [OrderStatus.PENDING]: [],
  [OrderStatus.CANCELLING]: [OrderStatus.PENDING],
  [OrderStatus.CONFIRMED]: [OrderStatus.PENDING, OrderStatus.CANCELLING],
  [OrderStatus.FAILED]: [OrderStatus.PENDING, OrderStatus.CANCELLING],
  [OrderStatus.CANCELLED]: [OrderStatus.PENDING, OrderStatus.CANCELLING],
  [OrderStatus.DELIVERED]: [OrderStatus.CONFIRMED],
  [OrderStatus.REFUNDED]: [OrderStatus.CONFIRMED, OrderStatus.DELIVERED],
};

export function planTransition(current: OrderStatus, target: OrderStatus): TransitionOutcome {
  if (current === target) return "already";
  // A cancelled-then-cancel request is a no-op, not an error.
  if (target === OrderStatus.CANCELLING && current === OrderStatus.CANCELLED) return "already";
  // The carrier delivering an order refunded in transit changes nothing: the
  // refund is the later word on the money, and the saga's step must not fail.
  if (target === OrderStatus.DELIVERED && current === OrderStatus.REFUNDED) return "already";
  return FROM[target].includes(current) ? "apply" : "refuse";
}

export function statusName(status: OrderStatus): string {
  return OrderStatus[status] ?? "UNSPECIFIED";
}
