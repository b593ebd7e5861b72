import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ShipmentStatus } from "#gen/accord/shipping/v1/shipping_pb.js";
import { shipmentRequest } from "#test/support/requests.ts";
import type { ServiceProcess } from "#test/support/service-process.ts";
import {
  type ServiceUnderTest,
  setSimulatorBehaviour,
  startServiceUnderTest,
  startSimulator,
} from "#test/support/service-under-test.ts";

// Shipping's carrier breaker against the real, slowed-down carrier process:
// timeouts open it, an open breaker answers Unavailable at once without a
// carrier call, and after the reset time one probe closes it again. Its own
// processes, so no other test's calls sit in the breaker's window.
const TIMEOUT_MS = 300;
const VOLUME = 3;
const RESET_MS = 1500;

let carrier: ServiceProcess;
let shipping: ServiceUnderTest<"shipping">;

beforeAll(async () => {
  carrier = await startSimulator("carrier");
  shipping = await startServiceUnderTest("shipping", {
    env: {
      CARRIER_URL: carrier.url,
      SHIPPING_CARRIER_BREAKER_TIMEOUT_MS: String(TIMEOUT_MS),
      SHIPPING_CARRIER_BREAKER_VOLUME_THRESHOLD: String(VOLUME),
      SHIPPING_CARRIER_BREAKER_ERROR_PERCENT: "50",
      SHIPPING_CARRIER_BREAKER_RESET_MS: String(RESET_MS),
    },
  });
});

afterAll(async () => {
  const code = await shipping?.stop();
  await carrier?.stop();
  expect(code).toBe(0);
});

const behave = (change: Parameters<typeof setSimulatorBehaviour>[1]) =>
  setSimulatorBehaviour(carrier, change);

async function carrierStats() {
  return (await (await fetch(`${carrier.url}/admin/stats`)).json()) as { createRequests: number };
}

async function bookings(orderId: string) {
  const res = await fetch(`${carrier.url}/v1/shipments?reference=${orderId}`);
  return ((await res.json()) as { shipments: unknown[] }).shipments;
}

describe("carrier circuit breaker", () => {
  it("opens on timeouts, fails fast while open, and recovers through the half-open probe", async () => {
    const client = shipping.client;
    const req = shipmentRequest();

    // Carrier slower than shipping's per-call timeout: each try (same key, as a saga retry) times out.
    await behave({ latencyMs: 1_000 });
    for (let i = 0; i < VOLUME; i++) {
      const started = performance.now();
      const error = await client.createShipment(req).catch((e: unknown) => ConnectError.from(e));
      expect((error as ConnectError).code).toBe(Code.Unavailable);
      expect((error as ConnectError).rawMessage).toContain(`${TIMEOUT_MS} ms`);
      expect(performance.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    }

    // Open: Unavailable at once, and the carrier hears nothing.
    const before = await carrierStats();
    for (const attempt of [req, shipmentRequest()]) {
      const started = performance.now();
      const error = await client.createShipment(attempt).catch((e: unknown) => ConnectError.from(e));
      const elapsed = performance.now() - started;
      expect((error as ConnectError).code).toBe(Code.Unavailable);
      expect((error as ConnectError).rawMessage).toContain("circuit breaker is open");
      // Answered without waiting for the carrier: sooner than one call's timeout
      // (the carrier's request count below proves no call was made).
      expect(elapsed).toBeLessThan(TIMEOUT_MS);
    }
    expect((await carrierStats()).createRequests).toBe(before.createRequests);

    // Carrier fast again; after the reset time the next call is the probe, and it succeeds.
    await behave({ latencyMs: 0 });
    await new Promise((r) => setTimeout(r, RESET_MS + 300));
    const { shipment } = await client.createShipment(req);
    expect(shipment?.status).toBe(ShipmentStatus.CREATED);
    expect(shipment?.orderId).toBe(req.orderId);
    // The timed-out tries and the probe carried one key: exactly one booking.
    expect(await bookings(req.orderId)).toHaveLength(1);

    // Closed again: a new order books normally.
    const next = await client.createShipment(shipmentRequest());
    expect(next.shipment?.status).toBe(ShipmentStatus.CREATED);
  });
});
