import type { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import type { AuthorizationTable } from "#lib/auth/authorization.ts";

/**
 * Who may call each ShippingService method: shipments are booked and
 * cancelled by the saga; delivery is reported by the carrier's identity.
 */
export const shippingAuthorization: AuthorizationTable<typeof ShippingService> = {
  createShipment: { allow: ["service:orchestrator"] },
  cancelShipment: { allow: ["service:orchestrator"] },
  getShipment: { allow: ["ops", "service:orchestrator"], scope: "all shipments" },
  confirmDelivery: { allow: ["service:carrier", "service:orchestrator"] },
};
