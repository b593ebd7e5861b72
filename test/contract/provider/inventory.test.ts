import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, it } from "vitest";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { rpcClient } from "#lib/rpc/clients.ts";
import { type ProviderSandbox, providerSandbox } from "#test/support/pact-provider.ts";
import { pactSourceFromEnv, verifyProvider } from "#test/support/pact-verify.ts";
import { freePort, type ServiceProcess, startServiceProcess } from "#test/support/service-process.ts";

// The real inventory process on its own database. Provider states set stock
// with SetStock and make reservations with Reserve, each for a new order id
// that the state hands to the request (fromProviderState).
let sandbox: ProviderSandbox;
let service: ServiceProcess;
let inventory: ReturnType<typeof rpcClient<typeof InventoryService>>;

beforeAll(async () => {
  sandbox = providerSandbox();
  const port = await freePort();
  service = await startServiceProcess(
    "services/inventory/src/main.ts",
    {
      INVENTORY_PORT: String(port),
      INVENTORY_DATABASE: sandbox.databaseName("inventory"),
      ACCORD_TOPIC_PREFIX: sandbox.topicPrefix,
    },
    port,
  );
  inventory = rpcClient(InventoryService, service.url);
});

afterAll(async () => {
  await service?.stop();
  await sandbox?.cleanup();
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
