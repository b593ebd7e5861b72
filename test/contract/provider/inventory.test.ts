import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, it } from "vitest";
import { pactSourceFromEnv, verifyProvider } from "#test/support/pact-verify.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The real inventory process on its own database. Provider states set stock
// with SetStock and make reservations with Reserve, each for a new order id
// that the state hands to the request (fromProviderState).
let service: ServiceUnderTest<"inventory">;
let inventory: ServiceUnderTest<"inventory">["client"];

beforeAll(async () => {
  service = await startServiceUnderTest("inventory", { tag: "pact" });
  inventory = service.client;
});

afterAll(async () => {
  await service?.stop();
});

describe("inventory provider", () => {
  it("honours every consumer's pact", async () => {
    await verifyProvider({
      provider: "inventory",
      baseUrl: service.url,
      source: await pactSourceFromEnv("inventory"),
      stateHandlers: {
        "a SKU has stock": async (params) => {
          const { sku, available } = params as { sku: string; available: number };
          await inventory.setStock({ sku, available: BigInt(available) });
          return { orderId: randomUUID() };
        },
        "an order has a reservation": async (params) => {
          const { sku, quantity } = params as { sku: string; quantity: number };
          const orderId = randomUUID();
          await inventory.setStock({ sku, available: BigInt(quantity * 5) });
          await inventory.reserve({
            idempotencyKey: `order-${orderId}/reserve`,
            orderId,
            items: [{ sku, quantity }],
          });
          return { orderId };
        },
        "an order has no reservation": async () => ({ orderId: randomUUID() }),
      },
    });
  });
});
