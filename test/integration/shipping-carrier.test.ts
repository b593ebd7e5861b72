import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceProcess } from "#test/support/service-process.ts";
import { startSimulator } from "#test/support/service-under-test.ts";

// The simulated carrier as its own process, over real HTTP.
let carrier: ServiceProcess;

beforeAll(async () => {
  carrier = await startSimulator("carrier");
});

afterAll(async () => {
  const code = await carrier?.stop();
  expect(code).toBe(0);
});

function booking(reference = randomUUID(), country = "DE") {
  return {
    reference,
    address: { line1: "Hauptstrasse 1", city: "Berlin", postal_code: "10115", country_code: country },
    items: [{ sku: "BOOK-1", quantity: 2 }],
  };
}

async function call(method: string, path: string, body?: unknown, key?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key) headers["idempotency-key"] = key;
  const res = await fetch(`${carrier.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function behave(b: { latencyMs?: number; errorRate?: number; outage?: boolean }) {
  const res = await call("POST", "/admin/behaviour", b);
  expect(res.status).toBe(200);
}

async function bookingsOf(reference: string) {
  const res = await call("GET", `/v1/shipments?reference=${encodeURIComponent(reference)}`);
  return res.body.shipments as { shipment_ref: string; status: string }[];
}

describe("carrier simulator", () => {
  it("books once per idempotency key and answers a replay with the same booking", async () => {
    const body = booking();
    const key = `k-${randomUUID()}`;
    const first = await call("POST", "/v1/shipments", body, key);
    expect(first.status).toBe(201);
    expect(first.body.carrier).toBe("accord-express");
    expect(first.body.shipment_ref).toMatch(/^shp_/);
    expect(first.body.tracking_number).toMatch(/^AX/);
    const again = await call("POST", "/v1/shipments", body, key);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(await bookingsOf(body.reference)).toHaveLength(1);

    const changed = { ...body, items: [{ sku: "BOOK-1", quantity: 3 }] };
    expect((await call("POST", "/v1/shipments", changed, key)).status).toBe(409);
    expect(await bookingsOf(body.reference)).toHaveLength(1);
  });

  it("refuses a missing key, an invalid body and an unserved destination", async () => {
    expect((await call("POST", "/v1/shipments", booking())).status).toBe(400);
    const invalid = await call("POST", "/v1/shipments", { reference: "x", items: [] }, "k-invalid");
    expect(invalid.status).toBe(422);
    expect(invalid.body.field).toBe("address");
    const unserved = await call("POST", "/v1/shipments", booking(randomUUID(), "AQ"), `k-${randomUUID()}`);
    expect(unserved.status).toBe(422);
    expect(unserved.body.error).toBe("destination_not_served");
  });

  it("cancels idempotently and answers 404 for an unknown shipment", async () => {
    const created = await call("POST", "/v1/shipments", booking(), `k-${randomUUID()}`);
    const ref = created.body.shipment_ref as string;
    const first = await call("POST", `/v1/shipments/${ref}/cancel`, {});
    expect(first.status).toBe(200);
    expect(first.body.status).toBe("cancelled");
    const again = await call("POST", `/v1/shipments/${ref}/cancel`, {});
    expect(again.status).toBe(200);
    expect(again.body.status).toBe("cancelled");
    expect((await call("POST", "/v1/shipments/shp_nope/cancel", {})).status).toBe(404);
    expect((await call("GET", `/v1/shipments/${ref}`)).body.status).toBe("cancelled");
  });

  it("simulates an outage, failures and latency, changeable at runtime", async () => {
    try {
      await behave({ outage: true });
      const down = await call("POST", "/v1/shipments", booking(), `k-${randomUUID()}`);
      expect(down.status).toBe(503);
      expect((await fetch(`${carrier.url}/readyz`)).status).toBe(200);

      await behave({ outage: false, errorRate: 1 });
      const body = booking();
      expect((await call("POST", "/v1/shipments", body, `k-${randomUUID()}`)).status).toBe(500);
      // A 500 has no effect.
      expect(await bookingsOf(body.reference)).toHaveLength(0);

      await behave({ errorRate: 0, latencyMs: 300 });
      const started = performance.now();
      expect((await call("POST", "/v1/shipments", booking(), `k-${randomUUID()}`)).status).toBe(201);
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);

      expect((await call("POST", "/admin/behaviour", { errorRate: 2 })).status).toBe(400);
      expect((await call("GET", "/admin/behaviour")).body).toEqual({
        latencyMs: 300,
        errorRate: 0,
        outage: false,
      });
    } finally {
      await behave({ latencyMs: 0, errorRate: 0, outage: false });
    }
  });
});
