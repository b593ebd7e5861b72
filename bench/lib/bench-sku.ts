import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import type { Platform } from "#test/support/platform.ts";
import { benchCaller } from "./identity.ts";

/**
 * Makes a round's own SKU orderable without limit: olivia (ops) gives it
 * more stock than any round can sell, so a round's orders never fail for
 * stock and its queries can tell its orders apart by SKU.
 */
export async function stockBenchSku(platform: Platform, sku: string): Promise<void> {
  const opsOnInventory = await benchCaller("olivia", "inventory");
  const inventory = createClient(
    InventoryService,
    createConnectTransport({
      baseUrl: platform.urls.inventory,
      httpVersion: "1.1",
      interceptors: [opsOnInventory.interceptor],
    }),
  );
  await inventory.setStock({ sku, available: 1_000_000_000n });
}
