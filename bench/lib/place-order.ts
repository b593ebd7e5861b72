import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";

/** PlaceOrder's path, for the raw HTTP posters the load generators use. */
export const PLACE_ORDER_PATH = `/${OrderService.typeName}/${OrderService.method.placeOrder.name}`;

/**
 * A PlaceOrder request (Connect JSON) for order number i of a run: one line
 * of the given SKU, customers spread over 100 ids (so it is placed by ops,
 * who may name any customer). No price: the catalog prices it (the SKU must
 * be a catalog product, see bench/lib/bench-sku.ts).
 */
export function platformOrderJson(idempotencyKey: string, sku: string, i: number): string {
  return JSON.stringify({
    idempotencyKey,
    customerId: `customer-${i % 100}`,
    customerEmail: `customer-${i % 100}@example.com`,
    currencyCode: "EUR",
    lines: [{ sku, quantity: 1 }],
    shippingAddress: { line1: "Hauptstrasse 1", city: "Berlin", postalCode: "10115", countryCode: "DE" },
  });
}
