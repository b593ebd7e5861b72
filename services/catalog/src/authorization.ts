import type { CatalogService } from "#gen/accord/catalog/v1/catalog_pb.js";
import type { AuthorizationTable } from "#lib/auth/authorization.ts";

/**
 * Who may call each CatalogService method: what is for sale is open to every
 * signed-in caller, checkout's batch lookup to the orders service (and ops),
 * changes to ops only.
 */
export const catalogAuthorization: AuthorizationTable<typeof CatalogService> = {
  listProducts: {
    allow: ["customer", "partner", "ops", "service:orders"],
    scope: "active products; include_inactive: ops only (permission_denied for anyone else)",
  },
  getProduct: {
    allow: ["customer", "partner", "ops", "service:orders"],
    scope: "active products; an inactive one is not_found to anyone but ops",
  },
  lookupPrices: { allow: ["ops", "service:orders"] },
  upsertProduct: { allow: ["ops"] },
};
