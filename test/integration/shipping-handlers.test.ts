import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ShipmentStatus, ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import { createBreaker } from "#lib/breaker.ts";
import { type CarrierBooking, createCarrierClient } from "#services/shipping/src/carrier-client.ts";
import { isCarrierBusinessError } from "#services/shipping/src/domain/carrier-errors.ts";
import { type CarrierBreaker, createShippingService } from "#services/shipping/src/shipping-service.ts";
import { type HandlersUnderTest, startHandlersUnderTest } from "#test/support/handlers-under-test.ts";
import { servicePrincipal } from "#test/support/identity.ts";
import { prefixedTopic } from "#test/support/kafka.ts";
import { shipmentRequest } from "#test/support/requests.ts";
import type { ServiceProcess } from "#test/support/service-process.ts";
import { startSimulator } from "#test/support/service-under-test.ts";

// The shipping handlers in this process, on a migrated database of their
// own, with their real carrier client and breaker in front of the real
// carrier simulator (its own process): called with the generated client
// through createRouterTransport.
let carrier: ServiceProcess;
let breaker: CarrierBreaker | undefined;
let shipping: HandlersUnderTest<typeof ShippingService>;

beforeAll(async () => {
  carrier = await startSimulator("carrier", { CARRIER_ERROR_RATE: "0" });
  shipping = await startHandlersUnderTest({
    name: "shipping",
    service: ShippingService,
    handlers: ({ pool, logger, topicPrefix }) => {
      breaker = createBreaker(
        "carrier",
        (signal: AbortSignal, operation: (signal: AbortSignal) => Promise<CarrierBooking>) =>
          operation(signal),
        { timeoutMs: 2_000, isBusinessError: isCarrierBusinessError, logger },
      );
      return createShippingService({
        pool,
        logger,
        carrier: createCarrierClient(carrier.url),
        breaker,
        topic: prefixedTopic(topicPrefix, "shipping"),
      });
    },
    caller: servicePrincipal("orchestrator"),
  });
});

afterAll(async () => {
  breaker?.shutdown();
  await shipping?.stop();
  await carrier?.stop();
});

async function bookings(orderId: string): Promise<unknown[]> {
  const res = await fetch(`${carrier.url}/v1/shipments?reference=${orderId}`);
  return ((await res.json()) as { shipments: unknown[] }).shipments;
}

const failure = (e: unknown) => ConnectError.from(e);

describe("shipping handlers in process", () => {
  it("books at the carrier, stores the shipment with its ShipmentCreated outbox row, and delivers it", async () => {
    const req = shipmentRequest();
    const { shipment } = await shipping.client.createShipment(req);
    expect(shipment?.status).toBe(ShipmentStatus.CREATED);
    expect(shipment?.trackingNumber).toMatch(/^AX/);
    expect(await bookings(req.orderId)).toHaveLength(1);

    const delivered = await shipping
      .clientAs(servicePrincipal("carrier"))
      .confirmDelivery({ shipmentId: shipment?.shipmentId ?? "" });
    expect(delivered.shipment?.status).toBe(ShipmentStatus.DELIVERED);
    const { rows } = await shipping.pool.query<{ event_type: string }>(
      "SELECT event_type FROM outbox WHERE message_key = $1 ORDER BY id",
      [req.orderId],
    );
    expect(rows.map((r) => r.event_type)).toEqual([
      "accord.shipping.v1.ShipmentCreated",
      "accord.shipping.v1.ShipmentDelivered",
    ]);
  });

  it("answers InvalidArgument naming the fields, without calling the carrier", async () => {
    const req = shipmentRequest();
    req.items = [];
    if (req.address) req.address.postalCode = "";
    const error = await shipping.client.createShipment(req).catch(failure);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toContain("address.postal_code");
    expect((error as ConnectError).rawMessage).toContain("items");
    expect(await bookings(req.orderId)).toHaveLength(0);
  });

  it("books once for a repeated key, and refuses the key with another body", async () => {
    const req = shipmentRequest();
    const first = await shipping.client.createShipment(req);
    const replay = await shipping.client.createShipment(req);
    expect(replay.shipment?.shipmentId).toBe(first.shipment?.shipmentId);
    expect(await bookings(req.orderId)).toHaveLength(1);

    const changed = shipmentRequest(req.orderId);
    changed.items = [{ $typeName: "accord.common.v1.SkuQuantity", sku: "MUG-2", quantity: 1 }];
    const error = await shipping.client.createShipment(changed).catch(failure);
    expect((error as ConnectError).code).toBe(Code.AlreadyExists);
    expect((error as ConnectError).rawMessage).toContain("idempotency_key");
  });

  it("cancels once for a repeated key, and finds nothing to cancel for an order without a shipment", async () => {
    const req = shipmentRequest();
    const { shipment } = await shipping.client.createShipment(req);
    const cancel = { idempotencyKey: `order-${req.orderId}/cancel-shipment`, orderId: req.orderId };
    const first = await shipping.client.cancelShipment(cancel);
    const again = await shipping.client.cancelShipment(cancel);
    expect(first.cancelled).toBe(true);
    expect(first.shipment?.status).toBe(ShipmentStatus.CANCELLED);
    expect(again.cancelled).toBe(true);
    expect(again.shipment?.shipmentId).toBe(shipment?.shipmentId);

    const nothing = await shipping.client.cancelShipment({
      idempotencyKey: `order-${randomUUID()}/cancel-shipment`,
      orderId: uuidv7(),
    });
    expect(nothing.cancelled).toBe(false);
  });
});
