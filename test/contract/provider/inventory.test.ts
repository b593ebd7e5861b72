import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, it } from "vitest";
import { orderHolding, pinReservationId } from "#test/support/pact-provider.ts";
import { pactSourceFromEnv, verifyProvider } from "#test/support/pact-verify.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The real inventory process on its own database. Provider states set stock
// with SetStock and make reservations with Reserve, each for a new order id
// that the state hands to the request (fromProviderState).
let service: ServiceUnderTest<"inventory">;
let inventory: ServiceUnderTest<"inventory">["client"];
/** Stock levels are ops' to set (the table's setStock rule). */
let ops: ServiceUnderTest<"inventory">["client"];

beforeAll(async () => {
  service = await startServiceUnderTest("inventory", { tag: "pact" });
  inventory = service.client;
  ops = service.clientAs("olivia");
});

afterAll(async () => {
  await service?.stop();
});

/** A new order's reservation of quantity x sku, made by the real Reserve. */
async function reserved(sku: string, quantity: number): Promise<string> {
  const orderId = randomUUID();
  await ops.setStock({ sku, available: BigInt(quantity * 5) });
  await inventory.reserve({
    idempotencyKey: `order-${orderId}/reserve`,
    orderId,
    items: [{ sku, quantity }],
  });
  return orderId;
}

describe("inventory provider", () => {
  it("honours every consumer's pact", async () => {
    await verifyProvider({
      provider: "inventory",
      baseUrl: service.url,
      source: await pactSourceFromEnv("inventory"),
      // The saga's calls, with the orchestrator's real token.
      callers: { Reserve: "orchestrator", Release: "orchestrator" },
      stateHandlers: {
        "a SKU has stock": async (params) => {
          const { sku, available } = params as { sku: string; available: number };
          await ops.setStock({ sku, available: BigInt(available) });
          return { orderId: randomUUID() };
        },
        // With reservationId, the first reservation carries the id the replay
        // interaction expects back; with availableAfter, the stock is set so
        // afterwards (0: a replay that re-evaluated stock would be refused).
        "an order has a reservation": async (params) => {
          const { sku, quantity, reservationId, availableAfter } = params as {
            sku: string;
            quantity: number;
            reservationId?: string;
            availableAfter?: number;
          };
          const earlier = reservationId && (await orderHolding(service.pool, "reservations", reservationId));
          const orderId = earlier || (await reserved(sku, quantity));
          if (reservationId && !earlier)
            await pinReservationId(service.pool, `order-${orderId}/reserve`, reservationId);
          if (availableAfter !== undefined) await ops.setStock({ sku, available: BigInt(availableAfter) });
          return { orderId };
        },
        "an order's reservation was released": async (params) => {
          const { sku, quantity, reason } = params as { sku: string; quantity: number; reason: string };
          const orderId = await reserved(sku, quantity);
          const res = await inventory.release({
            idempotencyKey: `order-${orderId}/release`,
            orderId,
            reason,
          });
          if (!res.released) throw new Error("provider state: the reservation was not released");
          return { orderId };
        },
        "an order has no reservation": async () => ({ orderId: randomUUID() }),
      },
    });
  });
});
