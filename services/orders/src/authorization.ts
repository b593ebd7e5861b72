import type { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import type { AuthorizationTable } from "#lib/auth/authorization.ts";

/**
 * Who may call each OrderService method. Customers act on their own orders
 * only (their id is the token's subject, never the request's); the saga's
 * transitions are the orchestrator's alone.
 */
export const orderAuthorization: AuthorizationTable<typeof OrderService> = {
  placeOrder: {
    allow: ["customer", "ops"],
    scope: "customer: for themselves (customer_id empty or their own); ops: for the customer named",
  },
  getOrder: {
    allow: ["customer", "ops", "service:orchestrator", "service:notifications"],
    scope: "customer: own orders (another's is not_found); ops and services: all",
  },
  listOrders: { allow: ["customer", "ops"], scope: "customer: own orders only; ops: all" },
  cancelOrder: {
    allow: ["customer", "ops"],
    scope: "customer: own orders (another's is not_found); ops: all",
  },
  confirmOrder: { allow: ["service:orchestrator"] },
  failOrder: { allow: ["service:orchestrator"] },
  markOrderCancelled: { allow: ["service:orchestrator"] },
  markOrderDelivered: { allow: ["service:orchestrator"] },
};
