import type { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import type { AuthorizationTable } from "#lib/auth/authorization.ts";

/** Who may call each InventoryService method: reservations are the saga's, stock levels ops'. */
export const inventoryAuthorization: AuthorizationTable<typeof InventoryService> = {
  reserve: { allow: ["service:orchestrator"] },
  release: { allow: ["service:orchestrator"] },
  getStock: {
    allow: ["customer", "partner", "ops", "service:orchestrator"],
    scope: "any SKU (stock is not personal)",
  },
  setStock: { allow: ["ops"] },
};
