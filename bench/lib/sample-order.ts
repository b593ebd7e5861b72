import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type OrderPlaced, OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";

/**
 * The OrderPlaced the benches encode, decode and send: three lines, an
 * address and timestamps, the size of a real checkout's event.
 */
export function sampleOrderPlaced(who: {
  orderId: string;
  customerId: string;
  customerEmail: string;
}): OrderPlaced {
  const money = (amountMinor: bigint) => ({ currencyCode: "EUR", amountMinor });
  return create(OrderPlacedSchema, {
    order: {
      ...who,
      lines: [
        { sku: "BOOK-001", quantity: 2, unitPrice: money(1250n) },
        { sku: "MUG-042", quantity: 1, unitPrice: money(899n) },
        { sku: "PEN-007", quantity: 10, unitPrice: money(149n) },
      ],
      total: money(4889n),
      shippingAddress: {
        recipientName: "Jane Doe",
        line1: "Hauptstrasse 1",
        city: "Berlin",
        postalCode: "10115",
        countryCode: "DE",
      },
      status: OrderStatus.PENDING,
      createdAt: timestampNow(),
      updatedAt: timestampNow(),
    },
  });
}
