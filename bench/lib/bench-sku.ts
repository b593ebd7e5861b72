import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { ensureProducts } from "#test/support/catalog.ts";
import type { Platform } from "#test/support/platform.ts";
import { benchCaller } from "./identity.ts";

/** The price of a bench SKU in the catalog, what each of its orders is charged (the bodies carry no price). */
export const BENCH_UNIT_PRICE_EUR = 1250n;

/**
 * Makes a round's own SKU orderable without limit: olivia (ops) puts it in
 * the catalog at BENCH_UNIT_PRICE_EUR and gives it more stock than any round
 * can sell, so a round's orders never fail for price or stock and its
 * queries can tell its orders apart by SKU (upper case, as the catalog wants).
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
  await ensureProducts(platform.urls.catalog, [{ sku, prices: { EUR: BENCH_UNIT_PRICE_EUR } }]);
  await inventory.setStock({ sku, available: 1_000_000_000n });
}
