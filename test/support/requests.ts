import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { v7 as uuidv7 } from "uuid";
import { type PlaceOrderRequest, PlaceOrderRequestSchema } from "#gen/accord/orders/v1/orders_pb.js";
import { type ChargeRequest, ChargeRequestSchema } from "#gen/accord/payments/v1/payments_pb.js";
import {
  type CreateShipmentRequest,
  CreateShipmentRequestSchema,
} from "#gen/accord/shipping/v1/shipping_pb.js";

/**
 * Valid requests, the same for a service's process-level and in-process
 * tests: a test changes only what it is about. Each call has a fresh
 * idempotency key (and order id where the key is derived from it).
 */

/**
 * The product placeOrderRequest orders, as a test must put it in the catalog
 * first (orders takes prices from there): BOOK-1 at 10.00 EUR.
 */
export const BOOK = { sku: "BOOK-1", currencyCode: "EUR", amountMinor: 1000n } as const;

/**
 * 3 x BOOK-1 (total 30.00 EUR at the catalog's price, see BOOK) for
 * it@example.com, shipped to Berlin. No price: the catalog decides it.
 */
export function placeOrderRequest(
  overrides: Omit<MessageInitShape<typeof PlaceOrderRequestSchema>, "$typeName"> = {},
): PlaceOrderRequest {
  return create(PlaceOrderRequestSchema, {
    idempotencyKey: `it-${randomUUID()}`,
    customerId: "customer-it",
    customerEmail: "it@example.com",
    currencyCode: "EUR",
    lines: [{ sku: BOOK.sku, quantity: 3 }],
    shippingAddress: { line1: "Main St 1", city: "Berlin", postalCode: "10115", countryCode: "DE" },
    ...overrides,
  });
}

export interface ChargeFields {
  idempotencyKey?: string;
  orderId?: string;
  customerId?: string;
  amount?: { currencyCode: string; amountMinor: bigint } | undefined;
}

/** 42.00 EUR for a new order, keyed as the saga keys its charge step. */
export function chargeRequest(overrides: ChargeFields = {}): ChargeRequest {
  const orderId = overrides.orderId ?? randomUUID();
  return create(ChargeRequestSchema, {
    idempotencyKey: `order-${orderId}/charge`,
    orderId,
    customerId: "customer-it",
    amount: { currencyCode: "EUR", amountMinor: 4200n },
    ...overrides,
  });
}

/** 2 x BOOK-1 to Ada in Berlin, keyed as the saga keys its ship step. */
export function shipmentRequest(
  orderId: string = uuidv7(),
  overrides: Partial<CreateShipmentRequest> = {},
): CreateShipmentRequest {
  const req = create(CreateShipmentRequestSchema, {
    idempotencyKey: `order-${orderId}/ship`,
    orderId,
    address: {
      recipientName: "Ada",
      line1: "Hauptstrasse 1",
      city: "Berlin",
      postalCode: "10115",
      countryCode: "DE",
    },
    items: [{ sku: "BOOK-1", quantity: 2 }],
  });
  return Object.assign(req, overrides);
}
