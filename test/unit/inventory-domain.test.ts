import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  GetStockRequestSchema,
  ReleaseRequestSchema,
  type ReserveRequest,
  ReserveRequestSchema,
  SetStockRequestSchema,
} from "#gen/accord/inventory/v1/inventory_pb.js";
import { loadInventoryConfig } from "#services/inventory/src/config.ts";
import {
  outOfStockMessage,
  parseSeedStock,
  reservationFingerprint,
  validateGetStock,
  validateRelease,
  validateReserve,
  validateSetStock,
} from "#services/inventory/src/domain/reservation.ts";

function reserveRequest(overrides: Partial<Omit<ReserveRequest, "$typeName">> = {}): ReserveRequest {
  const req = create(ReserveRequestSchema, {
    idempotencyKey: "order-1/reserve",
    orderId: "order-1",
    items: [
      { sku: "MUG-042", quantity: 1 },
      { sku: "BOOK-001", quantity: 2 },
    ],
  });
  return Object.assign(req, overrides);
}

function reserveFields(req: ReserveRequest): string[] {
  const result = validateReserve(req);
  return "violations" in result ? result.violations.map((v) => v.field) : [];
}

describe("validateReserve and the reservation plan", () => {
  it("plans one line per SKU in SKU order, duplicates summed", () => {
    const result = validateReserve(
      reserveRequest({
        items: [
          { sku: "MUG-042", quantity: 1 },
          { sku: "BOOK-001", quantity: 2 },
          { sku: "MUG-042", quantity: 3 },
        ] as ReserveRequest["items"],
      }),
    );
    if (!("plan" in result)) throw new Error(JSON.stringify(result.violations));
    expect(result.plan.items).toEqual([
      { sku: "BOOK-001", quantity: 2 },
      { sku: "MUG-042", quantity: 4 },
    ]);
    expect(result.plan.orderId).toBe("order-1");
    expect(result.plan.idempotencyKey).toBe("order-1/reserve");
  });

  it("sorts by code unit, not by locale (the lock order must be the same everywhere)", () => {
    const result = validateReserve(
      reserveRequest({
        items: [
          { sku: "b-1", quantity: 1 },
          { sku: "B-2", quantity: 1 },
          { sku: "a-3", quantity: 1 },
        ] as ReserveRequest["items"],
      }),
    );
    if (!("plan" in result)) throw new Error(JSON.stringify(result.violations));
    expect(result.plan.items.map((i) => i.sku)).toEqual(["B-2", "a-3", "b-1"]);
  });

  it("fingerprints the goods, not their listing: reordered lines match, other quantities do not", () => {
    const a = validateReserve(reserveRequest());
    const b = validateReserve(
      reserveRequest({
        idempotencyKey: "another-key",
        items: [
          { sku: "BOOK-001", quantity: 1 },
          { sku: "MUG-042", quantity: 1 },
          { sku: "BOOK-001", quantity: 1 },
        ] as ReserveRequest["items"],
      }),
    );
    const c = validateReserve(
      reserveRequest({
        items: [
          { sku: "BOOK-001", quantity: 3 },
          { sku: "MUG-042", quantity: 1 },
        ] as ReserveRequest["items"],
      }),
    );
    const d = validateReserve(reserveRequest({ orderId: "order-2" }));
    if (!("plan" in a && "plan" in b && "plan" in c && "plan" in d)) throw new Error("unexpected violations");
    expect(b.plan.requestHash).toBe(a.plan.requestHash);
    expect(c.plan.requestHash).not.toBe(a.plan.requestHash);
    expect(d.plan.requestHash).not.toBe(a.plan.requestHash);
    expect(reservationFingerprint("order-1", [...a.plan.items].reverse())).toBe(a.plan.requestHash);
  });

  it("names idempotency_key, order_id and items when they are missing", () => {
    expect(reserveFields(reserveRequest({ idempotencyKey: " ", orderId: "", items: [] }))).toEqual([
      "idempotency_key",
      "order_id",
      "items",
    ]);
  });

  it("names the item for a bad SKU or a quantity below 1 or above the cap", () => {
    const fields = reserveFields(
      reserveRequest({
        items: [
          { sku: "", quantity: 1 },
          { sku: "OK-1", quantity: 0 },
          { sku: "bad sku!", quantity: -2 },
          { sku: "OK-2", quantity: 10_001 },
          { sku: "OK-3", quantity: 1 },
        ] as ReserveRequest["items"],
      }),
    );
    expect(fields).toEqual([
      "items[0].sku",
      "items[1].quantity",
      "items[2].sku",
      "items[2].quantity",
      "items[3].quantity",
    ]);
  });

  it("enforces sizes: key, order id, SKU length, item count, summed quantity", () => {
    expect(reserveFields(reserveRequest({ idempotencyKey: "k".repeat(129) }))).toEqual(["idempotency_key"]);
    expect(reserveFields(reserveRequest({ orderId: "o".repeat(129) }))).toEqual(["order_id"]);
    expect(
      reserveFields(
        reserveRequest({ items: [{ sku: "S".repeat(65), quantity: 1 }] as ReserveRequest["items"] }),
      ),
    ).toEqual(["items[0].sku"]);
    const many = Array.from({ length: 101 }, (_, i) => ({ sku: `SKU-${i}`, quantity: 1 }));
    expect(reserveFields(reserveRequest({ items: many as ReserveRequest["items"] }))).toEqual(["items"]);
    const split = [
      { sku: "SKU-1", quantity: 6000 },
      { sku: "SKU-1", quantity: 6000 },
    ];
    expect(reserveFields(reserveRequest({ items: split as ReserveRequest["items"] }))).toEqual(["items"]);
  });
});

describe("validateRelease", () => {
  it("accepts a key and an order, the reason being optional", () => {
    const result = validateRelease(create(ReleaseRequestSchema, { idempotencyKey: "k", orderId: "o" }));
    expect(result).toEqual({ plan: { idempotencyKey: "k", orderId: "o", reason: "" } });
  });

  it("names missing fields and an overlong reason", () => {
    const result = validateRelease(
      create(ReleaseRequestSchema, { idempotencyKey: "", orderId: "", reason: "r".repeat(501) }),
    );
    expect("violations" in result && result.violations.map((v) => v.field)).toEqual([
      "idempotency_key",
      "order_id",
      "reason",
    ]);
  });
});

describe("validateSetStock and validateGetStock", () => {
  it("accepts zero and refuses negative or huge stock, naming available", () => {
    expect(validateSetStock(create(SetStockRequestSchema, { sku: "BOOK-001", available: 0n }))).toEqual([]);
    expect(
      validateSetStock(create(SetStockRequestSchema, { sku: "BOOK-001", available: -1n })).map(
        (v) => v.field,
      ),
    ).toEqual(["available"]);
    expect(
      validateSetStock(create(SetStockRequestSchema, { sku: "BOOK-001", available: 10n ** 13n })).map(
        (v) => v.field,
      ),
    ).toEqual(["available"]);
  });

  it("names sku when it is empty or malformed", () => {
    expect(
      validateSetStock(create(SetStockRequestSchema, { sku: "", available: 1n })).map((v) => v.field),
    ).toEqual(["sku"]);
    expect(validateGetStock(create(GetStockRequestSchema, { sku: "no spaces" })).map((v) => v.field)).toEqual(
      ["sku"],
    );
    expect(validateGetStock(create(GetStockRequestSchema, { sku: "MUG-042" }))).toEqual([]);
  });
});

describe("outOfStockMessage", () => {
  it("names every short SKU", () => {
    expect(outOfStockMessage(["SKU-1", "SKU-2"])).toBe("out of stock: SKU-1, SKU-2");
  });
});

describe("INVENTORY_SEED_STOCK", () => {
  it("parses SKU=units pairs, tolerating spaces and empty entries", () => {
    expect(parseSeedStock(" BOOK-001=100, MUG-042 = 50,,")).toEqual(
      new Map([
        ["BOOK-001", 100n],
        ["MUG-042", 50n],
      ]),
    );
    expect(parseSeedStock("")).toEqual(new Map());
  });

  it("refuses malformed entries, negative units and repeated SKUs", () => {
    expect(() => parseSeedStock("BOOK-001")).toThrow(/BOOK-001/);
    expect(() => parseSeedStock("BOOK-001=-3")).toThrow(/SKU=units/);
    expect(() => parseSeedStock("A=1,A=2")).toThrow(/twice/);
    expect(() => parseSeedStock("bad!sku=1")).toThrow(/sku/);
  });

  it("makes the config fail naming the variable", () => {
    expect(() => loadInventoryConfig({ INVENTORY_SEED_STOCK: "BOOK-001=lots" })).toThrow(
      /INVENTORY_SEED_STOCK/,
    );
    expect(() => loadInventoryConfig({ INVENTORY_PORT: "99999" })).toThrow(/INVENTORY_PORT/);
    const config = loadInventoryConfig({ INVENTORY_SEED_STOCK: "BOOK-001=100" });
    expect(config.INVENTORY_PORT).toBe(8082);
    expect(config.INVENTORY_HOST).toBe("127.0.0.1");
    expect(config.database.url).toMatch(/\/accord_inventory$/);
    expect(config.database.poolSize).toBe(20);
    expect(config.INVENTORY_SEED_STOCK.get("BOOK-001")).toBe(100n);
  });
});
