import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, it } from "vitest";
import {
  ShipmentCancelledSchema,
  ShipmentCreatedSchema,
  ShipmentDeliveredSchema,
} from "#gen/accord/shipping/v1/events_pb.js";
import { orderHolding, outboxMessage, pinId } from "#test/support/pact-provider.ts";
import { pactSourceFromEnv, verifyProvider } from "#test/support/pact-verify.ts";
import type { ServiceProcess } from "#test/support/service-process.ts";
import {
  type ServiceUnderTest,
  startServiceUnderTest,
  startSimulator,
} from "#test/support/service-under-test.ts";

// The real shipping process (own database) in front of the simulated carrier,
// which serves every country but AQ. States make up a new order id per
// interaction and book shipments through CreateShipment.
let carrier: ServiceProcess;
let service: ServiceUnderTest<"shipping">;
let shipping: ServiceUnderTest<"shipping">["client"];

beforeAll(async () => {
  carrier = await startSimulator("carrier", { CARRIER_ERROR_RATE: "0" });
  service = await startServiceUnderTest("shipping", { tag: "pact", env: { CARRIER_URL: carrier.url } });
  shipping = service.client;
});

afterAll(async () => {
  await service?.stop();
  await carrier?.stop();
});

async function book(orderId: string): Promise<string> {
  const { shipment } = await shipping.createShipment({
    idempotencyKey: `order-${orderId}/ship`,
    orderId,
    address: {
      recipientName: "Ada Lovelace",
      line1: "Hauptstrasse 1",
      city: "Berlin",
      postalCode: "10115",
      countryCode: "DE",
    },
    items: [{ sku: "BOOK-001", quantity: 2 }],
  });
  if (!shipment) throw new Error("CreateShipment answered without a shipment");
  return shipment.shipmentId;
}

/**
 * A new order's shipment booked by the real CreateShipment; with shipmentId,
 * it carries the id a replay interaction expects back (reused when the same
 * interaction is verified again).
 */
async function booked(shipmentId: string | undefined): Promise<{ orderId: string; reused: boolean }> {
  if (shipmentId) {
    const earlier = await orderHolding(service.pool, "shipments", shipmentId);
    if (earlier) return { orderId: earlier, reused: true };
  }
  const orderId = randomUUID();
  await book(orderId);
  if (shipmentId) await pinId(service.pool, "shipments", `order-${orderId}/ship`, shipmentId);
  return { orderId, reused: false };
}

const outbox = (typeName: string, orderId: string) =>
  outboxMessage(service.pool, typeName, orderId, service.topicPrefix);

describe("shipping provider", () => {
  it("honours every consumer's pact", async () => {
    await verifyProvider({
      provider: "shipping",
      baseUrl: service.url,
      source: await pactSourceFromEnv("shipping"),
      // The saga's calls, with the orchestrator's real token.
      callers: { CreateShipment: "orchestrator", CancelShipment: "orchestrator" },
      stateHandlers: {
        "the carrier accepts bookings": async () => ({ orderId: randomUUID() }),
        "the carrier does not serve AQ": async () => ({ orderId: randomUUID() }),
        "an order has a booked shipment": async (params) => {
          const { shipmentId } = (params ?? {}) as { shipmentId?: string };
          return { orderId: (await booked(shipmentId)).orderId };
        },
        "an order's shipment was cancelled": async (params) => {
          const { shipmentId } = (params ?? {}) as { shipmentId?: string };
          const { orderId, reused } = await booked(shipmentId);
          if (!reused) {
            const res = await shipping.cancelShipment({
              idempotencyKey: `order-${orderId}/cancel-shipment`,
              orderId,
              reason: "cancelled by customer",
            });
            if (!res.cancelled) throw new Error("provider state: the shipment was not cancelled");
          }
          return { orderId };
        },
        "an order has no shipment": async () => ({ orderId: randomUUID() }),
      },
      messageProviders: {
        "a ShipmentCreated event": async () => {
          const orderId = randomUUID();
          await book(orderId);
          return outbox(ShipmentCreatedSchema.typeName, orderId);
        },
        "a ShipmentCancelled event": async () => {
          const orderId = randomUUID();
          await book(orderId);
          await shipping.cancelShipment({
            idempotencyKey: `order-${orderId}/cancel-shipment`,
            orderId,
            reason: "cancelled by customer",
          });
          return outbox(ShipmentCancelledSchema.typeName, orderId);
        },
        "a ShipmentDelivered event": async () => {
          const orderId = randomUUID();
          const shipmentId = await book(orderId);
          await shipping.confirmDelivery({ shipmentId });
          return outbox(ShipmentDeliveredSchema.typeName, orderId);
        },
      },
    });
  });
});
