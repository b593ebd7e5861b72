import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryService, ReservationStatus } from "#gen/accord/inventory/v1/inventory_pb.js";
import { createInventoryService } from "#services/inventory/src/inventory-service.ts";
import { type HandlersUnderTest, startHandlersUnderTest } from "#test/support/handlers-under-test.ts";
import { personPrincipal, servicePrincipal } from "#test/support/identity.ts";
import { prefixedTopic } from "#test/support/kafka.ts";

// The inventory handlers in this process, on a migrated database of their
// own, called with the generated client through createRouterTransport:
// reservations as the orchestrator (the saga's), stock levels as ops.
let inventory: HandlersUnderTest<typeof InventoryService>;
let ops: HandlersUnderTest<typeof InventoryService>["client"];

beforeAll(async () => {
  inventory = await startHandlersUnderTest({
    name: "inventory",
    service: InventoryService,
    handlers: ({ pool, logger, topicPrefix }) =>
      createInventoryService({ pool, logger, topic: prefixedTopic(topicPrefix, "inventory") }),
    caller: servicePrincipal("orchestrator"),
  });
  ops = inventory.clientAs(personPrincipal("olivia"));
});

afterAll(async () => {
  await inventory?.stop();
});

const sku = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;
const failure = (e: unknown) => ConnectError.from(e);

async function stock(name: string) {
  const { stock } = await inventory.client.getStock({ sku: name });
  return { available: stock?.available, reserved: stock?.reserved };
}

describe("inventory handlers in process", () => {
  it("reserves stock and releases it again", async () => {
    const item = sku("BOOK");
    await ops.setStock({ sku: item, available: 5n });
    const orderId = randomUUID();
    const reserved = await inventory.client.reserve({
      idempotencyKey: `order-${orderId}/reserve`,
      orderId,
      items: [{ sku: item, quantity: 2 }],
    });
    expect(reserved.status).toBe(ReservationStatus.RESERVED);
    expect(await stock(item)).toEqual({ available: 3n, reserved: 2n });

    const released = await inventory.client.release({ idempotencyKey: `order-${orderId}/release`, orderId });
    expect(released.released).toBe(true);
    expect(await stock(item)).toEqual({ available: 5n, reserved: 0n });
    const { rows } = await inventory.pool.query<{ event_type: string }>(
      "SELECT event_type FROM outbox WHERE message_key = $1 ORDER BY id",
      [orderId],
    );
    expect(rows.map((r) => r.event_type)).toEqual([
      "accord.inventory.v1.InventoryReserved",
      "accord.inventory.v1.InventoryReleased",
    ]);
  });

  it("answers InvalidArgument naming the fields", async () => {
    const empty = await inventory.client
      .reserve({ idempotencyKey: "", orderId: "o", items: [] })
      .catch(failure);
    expect(empty).toBeInstanceOf(ConnectError);
    expect((empty as ConnectError).code).toBe(Code.InvalidArgument);
    expect((empty as ConnectError).rawMessage).toBe(
      "idempotency_key: is required; items: must contain at least one item",
    );
    const negative = await ops.setStock({ sku: "BOOK-1", available: -1n }).catch(failure);
    expect((negative as ConnectError).code).toBe(Code.InvalidArgument);
    expect((negative as ConnectError).rawMessage).toContain("available");
  });

  it("takes stock once for a repeated key and refuses the key with other items", async () => {
    const item = sku("CUP");
    await ops.setStock({ sku: item, available: 10n });
    const orderId = randomUUID();
    const req = { idempotencyKey: `order-${orderId}/reserve`, orderId, items: [{ sku: item, quantity: 4 }] };
    const [a, b] = await Promise.all([inventory.client.reserve(req), inventory.client.reserve(req)]);
    expect(b.reservationId).toBe(a.reservationId);
    expect(await stock(item)).toEqual({ available: 6n, reserved: 4n });

    const changed = await inventory.client
      .reserve({ ...req, items: [{ sku: item, quantity: 5 }] })
      .catch(failure);
    expect((changed as ConnectError).code).toBe(Code.AlreadyExists);
    expect((changed as ConnectError).rawMessage).toContain("idempotency_key");
  });

  it("refuses a reservation it cannot fill with FailedPrecondition naming the SKU, holding nothing", async () => {
    const item = sku("RARE");
    await ops.setStock({ sku: item, available: 1n });
    const orderId = randomUUID();
    const error = await inventory.client
      .reserve({ idempotencyKey: `order-${orderId}/reserve`, orderId, items: [{ sku: item, quantity: 2 }] })
      .catch(failure);
    expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((error as ConnectError).rawMessage).toBe(`out of stock: ${item}`);
    expect(await stock(item)).toEqual({ available: 1n, reserved: 0n });
  });
});
