import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, it } from "vitest";
import {
  ShipmentCancelledSchema,
  ShipmentCreatedSchema,
  ShipmentDeliveredSchema,
} from "#gen/accord/shipping/v1/events_pb.js";
import { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import { rpcClient } from "#lib/rpc/clients.ts";
import { outboxMessage, type ProviderSandbox, providerSandbox } from "#test/support/pact-provider.ts";
import { pactSourceFromEnv, verifyProvider } from "#test/support/pact-verify.ts";
import { freePort, type ServiceProcess, startServiceProcess } from "#test/support/service-process.ts";

// The real shipping process (own database) in front of the simulated carrier,
// which serves every country but AQ. States make up a new order id per
// interaction and book shipments through CreateShipment.
let sandbox: ProviderSandbox;
let carrier: ServiceProcess;
let service: ServiceProcess;
let pool: pg.Pool;
let shipping: ReturnType<typeof rpcClient<typeof ShippingService>>;

beforeAll(async () => {
  sandbox = providerSandbox();
  const [carrierPort, port] = [await freePort(), await freePort()];
  carrier = await startServiceProcess(
    "services/carrier/src/main.ts",
    { CARRIER_PORT: String(carrierPort), CARRIER_ERROR_RATE: "0" },
    carrierPort,
  );
  const database = sandbox.databaseName("shipping");
  service = await startServiceProcess(
    "services/shipping/src/main.ts",
    {
      SHIPPING_PORT: String(port),
      SHIPPING_DATABASE: database,
      CARRIER_URL: carrier.url,
      ACCORD_TOPIC_PREFIX: sandbox.topicPrefix,
    },
    port,
  );
  pool = sandbox.pool(database);
  shipping = rpcClient(ShippingService, service.url);
});

afterAll(async () => {
  await service?.stop();
  await carrier?.stop();
  await sandbox?.cleanup();
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

const outbox = (typeName: string, orderId: string) =>
  outboxMessage(pool, typeName, orderId, sandbox.topicPrefix);

describe("shipping provider", () => {
  it("honours every consumer's pact", async () => {
    await verifyProvider({
      provider: "shipping",
      baseUrl: service.url,
      source: await pactSourceFromEnv("shipping"),
      stateHandlers: {
        "the carrier accepts bookings": async () => ({ orderId: randomUUID() }),
        "the carrier does not serve AQ": async () => ({ orderId: randomUUID() }),
        "an order has a booked shipment": async () => {
          const orderId = randomUUID();
          await book(orderId);
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
