import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  InventoryReleasedSchema,
  InventoryReservationRejectedSchema,
  InventoryReservedSchema,
} from "#gen/accord/inventory/v1/events_pb.js";
import { ReservationStatus } from "#gen/accord/inventory/v1/inventory_pb.js";
import { decodeEvent, eventRegistry, isEventOf } from "#lib/messaging/events.ts";
import { bearerFor } from "#test/support/identity.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The real inventory process on its own database, with the real Kafka: stock
// numbers are checked through GetStock and straight in SQL. Reservations are
// called as the orchestrator (the saga's), stock levels set as ops (olivia),
// each with a real token from the realm.
const SEED_SKU = `SEED-${randomUUID().slice(0, 12)}`;
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const WAIT = { timeout: 20_000, interval: 100 };

let service: ServiceUnderTest<"inventory">;
let db: pg.Pool;

beforeAll(async () => {
  service = await startServiceUnderTest("inventory", { env: { INVENTORY_SEED_STOCK: `${SEED_SKU}=7` } });
  db = service.pool;
});

afterAll(async () => {
  const code = await service?.stop();
  expect(code).toBe(0);
});

const client = () => service.client;
const ops = () => service.clientAs("olivia");
const sku = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;
const orderId = () => `ord-${randomUUID()}`;

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

async function stockRow(name: string) {
  const { rows } = await db.query<{ available: string; reserved: string }>(
    "SELECT available::text, reserved::text FROM stock WHERE sku = $1",
    [name],
  );
  return rows[0] ? { available: Number(rows[0].available), reserved: Number(rows[0].reserved) } : undefined;
}

async function stockOf(name: string) {
  const { stock } = await client().getStock({ sku: name });
  return { available: Number(stock?.available), reserved: Number(stock?.reserved) };
}

async function outboxTypes(order: string): Promise<string[]> {
  const { rows } = await db.query<{ event_type: string }>(
    "SELECT event_type FROM outbox WHERE message_key = $1 ORDER BY id",
    [order],
  );
  return rows.map((r) => r.event_type);
}

describe("Reserve and Release", () => {
  it("holds every line, then gives it back, visible in GetStock and SQL", async () => {
    const [book, mug] = [sku("BOOK"), sku("MUG")];
    await ops().setStock({ sku: book, available: 5n });
    await ops().setStock({ sku: mug, available: 3n });
    const order = orderId();

    const reserved = await client().reserve({
      idempotencyKey: `order-${order}/reserve`,
      orderId: order,
      items: [
        { sku: mug, quantity: 1 },
        { sku: book, quantity: 2 },
      ],
    });
    expect(reserved.status).toBe(ReservationStatus.RESERVED);
    expect(await stockOf(book)).toEqual({ available: 3, reserved: 2 });
    expect(await stockOf(mug)).toEqual({ available: 2, reserved: 1 });
    const { rows } = await db.query(
      `SELECT r.status, i.sku, i.quantity FROM reservations r JOIN reservation_items i USING (reservation_id)
        WHERE r.order_id = $1 ORDER BY i.sku`,
      [order],
    );
    expect(rows).toEqual(
      [
        { status: "RESERVED", sku: book, quantity: 2 },
        { status: "RESERVED", sku: mug, quantity: 1 },
      ].sort((a, b) => (a.sku < b.sku ? -1 : 1)),
    );

    const released = await client().release({
      idempotencyKey: `order-${order}/release`,
      orderId: order,
      reason: "payment declined",
    });
    expect(released.released).toBe(true);
    expect(await stockOf(book)).toEqual({ available: 5, reserved: 0 });
    expect(await stockRow(mug)).toEqual({ available: 3, reserved: 0 });
    expect(await outboxTypes(order)).toEqual([
      InventoryReservedSchema.typeName,
      InventoryReleasedSchema.typeName,
    ]);

    // The reserve key now names a released reservation.
    const replay = await client().reserve({
      idempotencyKey: `order-${order}/reserve`,
      orderId: order,
      items: [
        { sku: book, quantity: 2 },
        { sku: mug, quantity: 1 },
      ],
    });
    expect(replay).toMatchObject({
      reservationId: reserved.reservationId,
      status: ReservationStatus.RELEASED,
    });
  });

  it("releases once when Release is repeated with its key, and answers false for another key", async () => {
    const item = sku("PEN");
    await ops().setStock({ sku: item, available: 4n });
    const order = orderId();
    await client().reserve({
      idempotencyKey: `${order}/reserve`,
      orderId: order,
      items: [{ sku: item, quantity: 3 }],
    });

    const key = `${order}/release`;
    const results = await Promise.all([
      client().release({ idempotencyKey: key, orderId: order }),
      client().release({ idempotencyKey: key, orderId: order }),
    ]);
    expect(results.map((r) => r.released)).toEqual([true, true]);
    expect((await client().release({ idempotencyKey: key, orderId: order })).released).toBe(true);
    expect((await client().release({ idempotencyKey: `${order}/other`, orderId: order })).released).toBe(
      false,
    );
    expect(await stockRow(item)).toEqual({ available: 4, reserved: 0 });
    expect(await outboxTypes(order)).toEqual([
      InventoryReservedSchema.typeName,
      InventoryReleasedSchema.typeName,
    ]);

    // The same release key for another order is a different request.
    const error = await failure(client().release({ idempotencyKey: key, orderId: orderId() }));
    expect(error.code).toBe(Code.AlreadyExists);
  });

  it("answers released=false when nothing was reserved; a later Reserve still reserves", async () => {
    const item = sku("LAMP");
    await ops().setStock({ sku: item, available: 2n });
    const order = orderId();
    const release = { idempotencyKey: `order-${order}/release`, orderId: order, reason: "cancelled" };
    expect((await client().release(release)).released).toBe(false);
    expect(await outboxTypes(order)).toEqual([]);

    const late = await client().reserve({
      idempotencyKey: `order-${order}/reserve`,
      orderId: order,
      items: [{ sku: item, quantity: 2 }],
    });
    expect(late.status).toBe(ReservationStatus.RESERVED);
    expect(await stockRow(item)).toEqual({ available: 0, reserved: 2 });
    // A retry of the compensation with its own key now frees the late reservation.
    expect((await client().release(release)).released).toBe(true);
    expect(await stockRow(item)).toEqual({ available: 2, reserved: 0 });
  });
});

describe("idempotency", () => {
  it("takes stock once for a repeated key and returns the first reservation even after stock changed", async () => {
    const item = sku("CUP");
    await ops().setStock({ sku: item, available: 10n });
    const order = orderId();
    const req = {
      idempotencyKey: `order-${order}/reserve`,
      orderId: order,
      items: [{ sku: item, quantity: 4 }],
    };
    const [a, b] = await Promise.all([client().reserve(req), client().reserve(req)]);
    const c = await service.clientOver("grpc").reserve(req);
    expect(b.reservationId).toBe(a.reservationId);
    expect(c.reservationId).toBe(a.reservationId);
    expect(await stockRow(item)).toEqual({ available: 6, reserved: 4 });

    await ops().setStock({ sku: item, available: 0n });
    const again = await client().reserve(req);
    expect(again).toMatchObject({ reservationId: a.reservationId, status: ReservationStatus.RESERVED });
    expect(await stockRow(item)).toEqual({ available: 0, reserved: 4 });
    const count = await db.query("SELECT count(*)::int AS n FROM reservations WHERE idempotency_key = $1", [
      req.idempotencyKey,
    ]);
    expect(count.rows[0].n).toBe(1);
  });

  it("refuses the same key with other items (AlreadyExists) and a second key for one order (FailedPrecondition)", async () => {
    const item = sku("FORK");
    await ops().setStock({ sku: item, available: 10n });
    const order = orderId();
    const key = `order-${order}/reserve`;
    await client().reserve({ idempotencyKey: key, orderId: order, items: [{ sku: item, quantity: 1 }] });

    const changed = await failure(
      client().reserve({ idempotencyKey: key, orderId: order, items: [{ sku: item, quantity: 2 }] }),
    );
    expect(changed.code).toBe(Code.AlreadyExists);
    expect(changed.rawMessage).toContain("idempotency_key");

    const secondKey = await failure(
      client().reserve({ idempotencyKey: `${key}-2`, orderId: order, items: [{ sku: item, quantity: 1 }] }),
    );
    expect(secondKey.code).toBe(Code.FailedPrecondition);
    expect(secondKey.rawMessage).toContain("order_id");
    expect(await stockRow(item)).toEqual({ available: 9, reserved: 1 });
  });
});

describe("out of stock", () => {
  it("refuses with FailedPrecondition naming every short SKU, holds nothing, records the rejection", async () => {
    const [plenty, scarce, unknown] = [sku("A"), sku("B"), sku("ZZ-UNKNOWN")];
    await ops().setStock({ sku: plenty, available: 5n });
    await ops().setStock({ sku: scarce, available: 1n });
    const order = orderId();
    const error = await failure(
      client().reserve({
        idempotencyKey: `order-${order}/reserve`,
        orderId: order,
        items: [
          { sku: plenty, quantity: 2 },
          { sku: scarce, quantity: 2 },
          { sku: unknown, quantity: 1 },
        ],
      }),
    );
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toBe(`out of stock: ${scarce}, ${unknown}`);
    expect(await stockRow(plenty)).toEqual({ available: 5, reserved: 0 });
    expect(await stockRow(scarce)).toEqual({ available: 1, reserved: 0 });
    expect(await stockRow(unknown)).toBeUndefined();
    const held = await db.query("SELECT 1 FROM reservations WHERE order_id = $1", [order]);
    expect(held.rowCount).toBe(0);

    const { rows } = await db.query<{ event_type: string; payload: Buffer; headers: Record<string, string> }>(
      "SELECT event_type, payload, headers FROM outbox WHERE message_key = $1",
      [order],
    );
    expect(rows.map((r) => r.event_type)).toEqual([InventoryReservationRejectedSchema.typeName]);
    const event = decodeEvent(eventRegistry, { value: rows[0]?.payload ?? null, headers: rows[0]?.headers });
    if (!isEventOf(event, InventoryReservationRejectedSchema)) throw new Error(`unexpected ${event.type}`);
    expect(event.message.shortSkus).toEqual([scarce, unknown]);

    // Once restocked, the same key reserves: a refusal is not remembered.
    await ops().setStock({ sku: scarce, available: 2n });
    await ops().setStock({ sku: unknown, available: 1n });
    const retry = await client().reserve({
      idempotencyKey: `order-${order}/reserve`,
      orderId: order,
      items: [
        { sku: plenty, quantity: 2 },
        { sku: scarce, quantity: 2 },
        { sku: unknown, quantity: 1 },
      ],
    });
    expect(retry.status).toBe(ReservationStatus.RESERVED);
  });

  it("lets exactly 10 of 20 concurrent one-unit reservations through on stock 10", async () => {
    const item = sku("HOT");
    await ops().setStock({ sku: item, available: 10n });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, () => {
        const order = orderId();
        return client().reserve({
          idempotencyKey: `order-${order}/reserve`,
          orderId: order,
          items: [{ sku: item, quantity: 1 }],
        });
      }),
    );
    const ok = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.flatMap((o) => (o.status === "rejected" ? [ConnectError.from(o.reason)] : []));
    expect(ok).toHaveLength(10);
    expect(refused.map((e) => e.code)).toEqual(Array(10).fill(Code.FailedPrecondition));
    expect(await stockOf(item)).toEqual({ available: 0, reserved: 10 });
    const held = await db.query<{ n: number }>(
      "SELECT coalesce(sum(quantity), 0)::int AS n FROM reservation_items WHERE sku = $1",
      [item],
    );
    expect(held.rows[0]?.n).toBe(10);
  });

  it("does not deadlock when concurrent reservations list shared SKUs in opposite orders", async () => {
    const [x, y] = [sku("X"), sku("Y")];
    await ops().setStock({ sku: x, available: 100n });
    await ops().setStock({ sku: y, available: 100n });
    const calls = Array.from({ length: 16 }, (_, i) => {
      const order = orderId();
      const items =
        i % 2 === 0
          ? [
              { sku: x, quantity: 1 },
              { sku: y, quantity: 2 },
            ]
          : [
              { sku: y, quantity: 2 },
              { sku: x, quantity: 1 },
            ];
      return client().reserve({ idempotencyKey: `order-${order}/reserve`, orderId: order, items });
    });
    await Promise.all(calls);
    expect(await stockRow(x)).toEqual({ available: 84, reserved: 16 });
    expect(await stockRow(y)).toEqual({ available: 68, reserved: 32 });
  });
});

describe("validation and lookups", () => {
  it("answers InvalidArgument naming the fields", async () => {
    const empty = await failure(client().reserve({ idempotencyKey: "", orderId: "o", items: [] }));
    expect(empty.code).toBe(Code.InvalidArgument);
    expect(empty.rawMessage).toBe("idempotency_key: is required; items: must contain at least one item");

    const bad = await failure(
      client().reserve({ idempotencyKey: "k", orderId: "o", items: [{ sku: "ok", quantity: 0 }] }),
    );
    expect(bad.rawMessage).toContain("items[0].quantity");
    const negative = await failure(ops().setStock({ sku: "BOOK-1", available: -1n }));
    expect(negative.code).toBe(Code.InvalidArgument);
    expect(negative.rawMessage).toContain("available");
    const noOrder = await failure(client().release({ idempotencyKey: "k", orderId: "" }));
    expect(noOrder.rawMessage).toContain("order_id");
    const res = await fetch(`${service.url}/accord.inventory.v1.InventoryService/Reserve`, {
      method: "POST",
      // A valid token, so the malformed body is what is refused.
      headers: {
        "content-type": "application/json",
        authorization: await bearerFor("orchestrator", "inventory"),
      },
      body: '{"items": 3',
    });
    expect(res.status).toBe(400);
  });

  it("answers NotFound for an unknown SKU and returns seeded stock", async () => {
    const error = await failure(client().getStock({ sku: sku("NOPE") }));
    expect(error.code).toBe(Code.NotFound);
    expect(await stockOf(SEED_SKU)).toEqual({ available: 7, reserved: 0 });
  });
});

describe("events", () => {
  it("publishes outbox rows (published_at set) and puts InventoryReserved with CloudEvents headers on inventory.events", async () => {
    const item = sku("EVT");
    await ops().setStock({ sku: item, available: 3n });
    const order = orderId();
    const { reservationId } = await client().reserve(
      { idempotencyKey: `order-${order}/reserve`, orderId: order, items: [{ sku: item, quantity: 2 }] },
      { headers: { traceparent: TRACEPARENT } },
    );

    await vi.waitFor(async () => {
      const { rows } = await db.query<{ published: boolean }>(
        "SELECT published_at IS NOT NULL AS published FROM outbox WHERE message_key = $1",
        [order],
      );
      expect(rows).toEqual([{ published: true }]);
    }, WAIT);

    const seen = await vi.waitFor(async () => {
      const received = await service.events.received(order);
      expect(received).toHaveLength(1);
      return received;
    }, WAIT);
    const [{ event, record }] = seen as [(typeof seen)[number]];
    if (!isEventOf(event, InventoryReservedSchema)) throw new Error(`unexpected ${event.type}`);
    expect(event.message.orderId).toBe(order);
    expect(event.message.reservationId).toBe(reservationId);
    expect(event.message.items.map((i) => ({ sku: i.sku, quantity: i.quantity }))).toEqual([
      { sku: item, quantity: 2 },
    ]);
    expect(record.topic).toBe(`${service.topicPrefix}inventory.events`);
    expect(record.headers).toMatchObject({
      ce_type: "accord.inventory.v1.InventoryReserved",
      ce_source: "/accord/inventory",
      ce_specversion: "1.0",
      "content-type": "application/protobuf",
    });
    // The caller's trace goes on: same trace id, the span of the service's own work as the parent.
    const [, callerTraceId] = TRACEPARENT.split("-");
    expect(record.headers.traceparent).toMatch(new RegExp(`^00-${callerTraceId}-[0-9a-f]{16}-01$`));
    expect(record.headers.traceparent).not.toBe(TRACEPARENT);
    expect(record.headers.ce_id).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("restart", () => {
  it("shuts down gracefully and seeds only SKUs that do not exist yet", async () => {
    await ops().setStock({ sku: SEED_SKU, available: 1n });
    expect(await service.restart()).toBe(0);
    expect(await stockOf(SEED_SKU)).toEqual({ available: 1, reserved: 0 });
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
  });
});
