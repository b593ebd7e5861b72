import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  ShipmentCancelledSchema,
  ShipmentCreatedSchema,
  ShipmentDeliveredSchema,
} from "#gen/accord/shipping/v1/events_pb.js";
import { ShipmentStatus } from "#gen/accord/shipping/v1/shipping_pb.js";
import { isEventOf } from "#lib/messaging/events.ts";
import { shipmentRequest } from "#test/support/requests.ts";
import type { ServiceProcess } from "#test/support/service-process.ts";
import {
  type ServiceUnderTest,
  setSimulatorBehaviour,
  startServiceUnderTest,
  startSimulator,
} from "#test/support/service-under-test.ts";

// The real carrier and shipping processes, shipping on its own database and
// its own events topic, called with the generated Connect client: as the
// orchestrator (the saga books and cancels), deliveries reported as the
// carrier, each with a real token from the realm.
const WAIT = { timeout: 15_000, interval: 50 };

let carrier: ServiceProcess;
let shipping: ServiceUnderTest<"shipping">;
let db: pg.Pool;

beforeAll(async () => {
  carrier = await startSimulator("carrier");
  shipping = await startServiceUnderTest("shipping", {
    env: {
      CARRIER_URL: carrier.url,
      SHIPPING_CARRIER_BREAKER_TIMEOUT_MS: "300",
      SHIPPING_CARRIER_BREAKER_VOLUME_THRESHOLD: "5",
      SHIPPING_CARRIER_BREAKER_RESET_MS: "1000",
    },
  });
  db = shipping.pool;
  // The events reader joins now, so a test waiting for its events does not wait for the group to form.
  await shipping.events.received();
});

afterAll(async () => {
  const shippingCode = await shipping?.stop();
  await carrier?.stop();
  expect(shippingCode).toBe(0);
});

const client = () => shipping.client;
const carrierCaller = () => shipping.clientAs("carrier");
const failure = (e: unknown) => ConnectError.from(e);

async function bookings(orderId: string) {
  const res = await fetch(`${carrier.url}/v1/shipments?reference=${orderId}`);
  return ((await res.json()) as { shipments: { shipment_ref: string; status: string }[] }).shipments;
}

const behave = (change: Parameters<typeof setSimulatorBehaviour>[1]) =>
  setSimulatorBehaviour(carrier, change);

describe("CreateShipment", () => {
  it("books once with the carrier and answers a replay with the same shipment", async () => {
    const req = shipmentRequest();
    const first = await client().createShipment(req);
    expect(first.shipment?.status).toBe(ShipmentStatus.CREATED);
    expect(first.shipment?.carrier).toBe("accord-express");
    expect(first.shipment?.trackingNumber).toMatch(/^AX/);
    expect(first.shipment?.orderId).toBe(req.orderId);
    expect(await bookings(req.orderId)).toHaveLength(1);

    const replay = await client().createShipment(req);
    expect(replay.shipment?.shipmentId).toBe(first.shipment?.shipmentId);
    expect(replay.shipment?.trackingNumber).toBe(first.shipment?.trackingNumber);
    expect(await bookings(req.orderId)).toHaveLength(1);

    const fetched = await client().getShipment({ shipmentId: first.shipment?.shipmentId ?? "" });
    expect(fetched.shipment?.address?.city).toBe("Berlin");

    const rows = await db.query("SELECT count(*)::int AS n FROM shipments WHERE order_id = $1", [
      req.orderId,
    ]);
    expect(rows.rows[0].n).toBe(1);
  });

  it("rejects the same key with a different body, and a second shipment for the order", async () => {
    const req = shipmentRequest();
    await client().createShipment(req);
    const changed = shipmentRequest(req.orderId, {
      items: [{ $typeName: "accord.common.v1.SkuQuantity", sku: "MUG-2", quantity: 1 }],
    });
    const sameKey = await client().createShipment(changed).catch(failure);
    expect(sameKey).toBeInstanceOf(ConnectError);
    expect((sameKey as ConnectError).code).toBe(Code.AlreadyExists);
    expect((sameKey as ConnectError).rawMessage).toContain("idempotency_key");

    const otherKey = await client()
      .createShipment(shipmentRequest(req.orderId, { idempotencyKey: `other-${randomUUID()}` }))
      .catch(failure);
    expect((otherKey as ConnectError).code).toBe(Code.AlreadyExists);
    expect((otherKey as ConnectError).rawMessage).toContain("order_id");
    expect(await bookings(req.orderId)).toHaveLength(1);
  });

  it("answers InvalidArgument naming the fields", async () => {
    const req = shipmentRequest(uuidv7(), { items: [] });
    if (req.address) req.address.postalCode = "";
    const error = await client().createShipment(req).catch(failure);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toContain("address.postal_code");
    expect((error as ConnectError).rawMessage).toContain("items");
    const noKey = await client()
      .createShipment(shipmentRequest(uuidv7(), { idempotencyKey: "" }))
      .catch(failure);
    expect((noKey as ConnectError).rawMessage).toContain("idempotency_key");
    const badId = await client().getShipment({ shipmentId: "nope" }).catch(failure);
    expect((badId as ConnectError).code).toBe(Code.InvalidArgument);
    const unknown = await client().getShipment({ shipmentId: randomUUID() }).catch(failure);
    expect((unknown as ConnectError).code).toBe(Code.NotFound);
  });

  it("turns a carrier refusal into FailedPrecondition, the same on replay, and frees the order", async () => {
    const orderId = uuidv7();
    const req = shipmentRequest(orderId);
    if (req.address) req.address.countryCode = "AQ";
    const refused = await client().createShipment(req).catch(failure);
    expect((refused as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((refused as ConnectError).rawMessage).toContain("no service to AQ");
    const again = await client().createShipment(req).catch(failure);
    expect((again as ConnectError).code).toBe(Code.FailedPrecondition);
    // A refused booking is not an active shipment: the order can ship under a new key.
    const fixed = await client().createShipment(
      shipmentRequest(orderId, { idempotencyKey: `fixed-${orderId}` }),
    );
    expect(fixed.shipment?.status).toBe(ShipmentStatus.CREATED);
  });
});

describe("CancelShipment", () => {
  it("cancels once at the carrier, answers a replay the same, and is harmless with nothing to cancel", async () => {
    const req = shipmentRequest();
    const { shipment } = await client().createShipment(req);
    const cancelKey = `order-${req.orderId}/cancel-shipment`;
    const first = await client().cancelShipment({
      idempotencyKey: cancelKey,
      orderId: req.orderId,
      reason: "payment failed",
    });
    expect(first.cancelled).toBe(true);
    expect(first.shipment?.shipmentId).toBe(shipment?.shipmentId);
    expect(first.shipment?.status).toBe(ShipmentStatus.CANCELLED);
    const atCarrier = await bookings(req.orderId);
    expect(atCarrier).toHaveLength(1);
    expect(atCarrier[0]?.status).toBe("cancelled");

    const replay = await client().cancelShipment({ idempotencyKey: cancelKey, orderId: req.orderId });
    expect(replay.cancelled).toBe(true);
    expect(replay.shipment?.shipmentId).toBe(shipment?.shipmentId);

    const other = await client().cancelShipment({
      idempotencyKey: `again-${randomUUID()}`,
      orderId: req.orderId,
    });
    expect(other.cancelled).toBe(false);

    const nothing = await client().cancelShipment({
      idempotencyKey: `order-${randomUUID()}/cancel-shipment`,
      orderId: uuidv7(),
    });
    expect(nothing.cancelled).toBe(false);
    expect(nothing.shipment).toBeUndefined();

    const events = await vi.waitFor(async () => {
      const found = await shipping.events.received(req.orderId);
      expect(found.some((e) => isEventOf(e.event, ShipmentCancelledSchema))).toBe(true);
      return found;
    }, WAIT);
    expect(events.filter((e) => isEventOf(e.event, ShipmentCancelledSchema))).toHaveLength(1);
  });

  it("resolves a booking whose outcome was unknown after a timeout, then cancels it", async () => {
    const req = shipmentRequest();
    await behave({ latencyMs: 700 });
    try {
      const timedOut = await client().createShipment(req).catch(failure);
      expect((timedOut as ConnectError).code).toBe(Code.Unavailable);
      const row = await db.query(
        "SELECT status, carrier_attempts FROM shipments WHERE idempotency_key = $1",
        [req.idempotencyKey],
      );
      expect(row.rows[0]).toEqual({ status: "PENDING", carrier_attempts: 1 });
      // The slow carrier books after all.
      await new Promise((r) => setTimeout(r, 600));
      expect(await bookings(req.orderId)).toHaveLength(1);
    } finally {
      await behave({ latencyMs: 0 });
    }
    const cancelled = await client().cancelShipment({
      idempotencyKey: `order-${req.orderId}/cancel-shipment`,
      orderId: req.orderId,
      reason: "compensation",
    });
    expect(cancelled.cancelled).toBe(true);
    expect(cancelled.shipment?.status).toBe(ShipmentStatus.CANCELLED);
    const atCarrier = await bookings(req.orderId);
    expect(atCarrier).toHaveLength(1);
    expect(atCarrier[0]?.status).toBe("cancelled");
  });
});

describe("ConfirmDelivery", () => {
  it("marks the shipment DELIVERED and publishes ShipmentCreated then ShipmentDelivered keyed by order", async () => {
    const req = shipmentRequest();
    const { shipment } = await client().createShipment(req);
    const shipmentId = shipment?.shipmentId ?? "";
    const delivered = await carrierCaller().confirmDelivery({ shipmentId });
    expect(delivered.shipment?.status).toBe(ShipmentStatus.DELIVERED);
    const again = await carrierCaller().confirmDelivery({ shipmentId });
    expect(again.shipment?.status).toBe(ShipmentStatus.DELIVERED);
    expect((await client().getShipment({ shipmentId })).shipment?.status).toBe(ShipmentStatus.DELIVERED);

    const cancel = await client()
      .cancelShipment({ idempotencyKey: `c-${randomUUID()}`, orderId: req.orderId })
      .catch(failure);
    expect((cancel as ConnectError).code).toBe(Code.FailedPrecondition);

    const seen = await vi.waitFor(async () => {
      const found = await shipping.events.received(req.orderId);
      expect(found.some((e) => isEventOf(e.event, ShipmentDeliveredSchema))).toBe(true);
      return found;
    }, WAIT);
    expect(seen.map((e) => e.event.type)).toEqual([
      ShipmentCreatedSchema.typeName,
      ShipmentDeliveredSchema.typeName,
    ]);
    const last = seen[1];
    if (!last || !isEventOf(last.event, ShipmentDeliveredSchema)) throw new Error("no ShipmentDelivered");
    expect(last.event.message.shipmentId).toBe(shipmentId);
    expect(last.event.message.orderId).toBe(req.orderId);
    expect(last.record.key).toBe(req.orderId);
    expect(last.event.source).toBe("/accord/shipping");
  });

  it("refuses an unknown shipment with NotFound", async () => {
    const error = await carrierCaller().confirmDelivery({ shipmentId: randomUUID() }).catch(failure);
    expect((error as ConnectError).code).toBe(Code.NotFound);
  });
});

describe("health", () => {
  it("is live and ready while Postgres answers, even when the carrier is down", async () => {
    await behave({ outage: true });
    try {
      expect((await fetch(`${shipping.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${shipping.url}/readyz`)).status).toBe(200);
    } finally {
      await behave({ outage: false });
    }
  });
});
