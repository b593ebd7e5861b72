// Sends sample orders through the running platform and prints how each ends:
// a normal order, one for an item out of stock, one the payment provider
// declines (an order total of 666 minor units always declines), and one the
// customer cancels at once. Each is watched until its saga finishes. Prices
// come from the catalog: the orders carry none, and one that shows a price
// the catalog does not have is refused with the current price.
// Everyone is someone: olivia (ops) sets the stock, alice (customer) places
// and reads her orders, bob (another customer) cannot see hers; tokens come
// from the development realm (lib/auth/dev-identities.ts, dev-only logins).
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { CatalogService } from "#gen/accord/catalog/v1/catalog_pb.js";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import {
  OrderService,
  OrderStatus,
  type PlaceOrderRequest,
  PlaceOrderRequestSchema,
  PriceChangedSchema,
} from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS, type DemoUser, demoUserTokens } from "#lib/auth/dev-identities.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { parseDemoSeed } from "#services/catalog/src/domain/seed.ts";
import { describeOrder, watchOrder } from "./accord.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ordersUrl = process.env.ORDERS_URL ?? `http://127.0.0.1:${process.env.ORDERS_PORT ?? 8081}`;
const inventoryUrl = process.env.INVENTORY_URL ?? `http://127.0.0.1:${process.env.INVENTORY_PORT ?? 8082}`;
const catalogUrl = process.env.CATALOG_URL ?? `http://127.0.0.1:${process.env.CATALOG_PORT ?? 8087}`;
const as = (user: DemoUser, audience: string) => ({ tokens: demoUserTokens(user), audience });
const overJson = rpcClient(OrderService, ordersUrl, "connect-json", as("alice", "orders"));
const overGrpc = rpcClient(OrderService, ordersUrl, "grpc", as("alice", "orders"));
const bobOrders = rpcClient(OrderService, ordersUrl, "connect-json", as("bob", "orders"));
const opsInventory = rpcClient(InventoryService, inventoryUrl, "grpc", as("olivia", "inventory"));
const aliceInventory = rpcClient(InventoryService, inventoryUrl, "connect-json", as("alice", "inventory"));
const aliceCatalog = rpcClient(CatalogService, catalogUrl, "connect-json", as("alice", "catalog"));

/** The demo product priced at 666 minor units, the total the simulated payment provider always declines. */
const DECLINED_SKU = "CARD-666";
/** The demo product that is no longer sold (inactive): checkout refuses it. */
const INACTIVE_SKU = "PEN-003";

/** The Connect code a call fails with, or "ok" when it does not fail. */
async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return "ok";
  } catch (error) {
    return Code[ConnectError.from(error).code] ?? "unknown";
  }
}

function order(lines: { sku: string; quantity: number; shownPrice?: bigint }[]): PlaceOrderRequest {
  return create(PlaceOrderRequestSchema, {
    idempotencyKey: `demo-${randomUUID()}`,
    // Alice orders for herself: her id is her token's subject (orders checks it).
    customerId: DEMO_USERS.alice.id,
    customerEmail: "alice@example.com",
    currencyCode: "EUR",
    // No price: the catalog's is charged. A shown price is only compared with it.
    lines: lines.map((l) => ({
      sku: l.sku,
      quantity: l.quantity,
      ...(l.shownPrice === undefined
        ? {}
        : { unitPrice: { currencyCode: "EUR", amountMinor: l.shownPrice } }),
    })),
    shippingAddress: {
      recipientName: "Alice Example",
      line1: "Hauptstrasse 1",
      city: "Berlin",
      postalCode: "10115",
      countryCode: "DE",
    },
  });
}

// The demo products and their stock come from one file (infra/demo/catalog.json):
// the catalog creates the products at start, ops set the stock here.
const seed = parseDemoSeed(readFileSync(path.join(ROOT, "infra/demo/catalog.json"), "utf8"));
const { products } = await aliceCatalog.listProducts({ pageSize: 100, currencyCode: "EUR" });
const eur = (p: (typeof products)[number]) => p.prices.find((m) => m.currencyCode === "EUR")?.amountMinor;
console.log(
  `[demo] alice sees the catalog (EUR minor units): ${products.map((p) => `${p.sku} ${eur(p)}`).join(", ")}`,
);
const aliceWrites = await outcome(() =>
  aliceCatalog.upsertProduct({
    product: {
      sku: "DEMO-FORBIDDEN",
      name: "Cheap",
      prices: [{ currencyCode: "EUR", amountMinor: 1n }],
      active: true,
    },
  }),
);
console.log(`[demo] alice (customer) writing to the catalog -> ${aliceWrites}`);

for (const [sku, available] of seed.stock) await opsInventory.setStock({ sku, available });
console.log(
  `[demo] olivia (ops) set the stock: ${[...seed.stock].map(([sku, n]) => `${sku} ${n}`).join(", ")}`,
);
const aliceSetsStock = await outcome(() => aliceInventory.setStock({ sku: "BOOK-001", available: 1n }));
console.log(`[demo] alice (customer) setting stock -> ${aliceSetsStock}`);
let demoFailed = aliceSetsStock !== "PermissionDenied" || aliceWrites !== "PermissionDenied";

// A shown price the catalog does not have (1 cent for a book) is refused,
// with the current price in a PriceChanged detail, and nothing is stored.
try {
  await overJson.placeOrder(order([{ sku: "BOOK-001", quantity: 1, shownPrice: 1n }]));
  console.log("[demo] alice's order at a shown price of 1 cent was ACCEPTED (it must not be)");
  demoFailed = true;
} catch (error) {
  const refused = ConnectError.from(error);
  const [change] = refused.findDetails(PriceChangedSchema);
  console.log(
    `[demo] alice's order at a shown price of 1 cent -> ${Code[refused.code]}: ${refused.rawMessage}` +
      (change
        ? ` (current price ${change.currentPrice?.amountMinor} ${change.currentPrice?.currencyCode})`
        : ""),
  );
  if (refused.code !== Code.FailedPrecondition || !change) demoFailed = true;
}

// A product no longer sold is refused, naming the line.
const inactive = await outcome(() => overJson.placeOrder(order([{ sku: INACTIVE_SKU, quantity: 1 }])));
console.log(`[demo] alice's order for ${INACTIVE_SKU} (inactive in the catalog) -> ${inactive}`);
if (inactive !== "InvalidArgument") demoFailed = true;

const samples: { label: string; request: PlaceOrderRequest; cancel?: boolean }[] = [
  {
    label: "normal order",
    request: order([
      { sku: "BOOK-001", quantity: 2 },
      { sku: "MUG-042", quantity: 1 },
    ]),
  },
  { label: "out of stock", request: order([{ sku: "LAMP-007", quantity: 1 }]) },
  { label: "payment declined", request: order([{ sku: DECLINED_SKU, quantity: 1 }]) },
  {
    label: "cancelled at once",
    request: order([{ sku: "BOOK-001", quantity: 1 }]),
    cancel: true,
  },
];

const placed: { label: string; orderId: string; cancel?: boolean }[] = [];
for (const sample of samples) {
  const { order: accepted } = await overJson.placeOrder(sample.request);
  if (!accepted) throw new Error("PlaceOrder answered without an order");
  console.log(`[demo] alice placed ${sample.label.padEnd(18)} ${describeOrder(accepted)}`);
  if (sample.cancel)
    await overJson.cancelOrder({ orderId: accepted.orderId, reason: "customer changed their mind" });
  placed.push({ ...sample, orderId: accepted.orderId });
}

const replay = await overJson.placeOrder(samples[0]?.request ?? order([]));
console.log(
  `[demo] same idempotency key again -> same order: ${replay.order?.orderId === placed[0]?.orderId}`,
);

const aliceOrderId = placed[0]?.orderId ?? "";
const bobReads = await outcome(() => bobOrders.getOrder({ orderId: aliceOrderId }));
console.log(`[demo] bob (customer) reading alice's order -> ${bobReads}`);
const bobList = await bobOrders.listOrders({ pageSize: 100 });
const bobSeesAlice = bobList.orders.some((o) => placed.some((p) => p.orderId === o.orderId));
console.log(`[demo] bob's ListOrders shows alice's orders: ${bobSeesAlice}`);
if (bobReads !== "NotFound" || bobSeesAlice) demoFailed = true;

console.log("[demo] waiting for the sagas (alice's GetOrder over gRPC)...");
let allFinal = true;
for (const sample of placed) {
  const final = await watchOrder(overJson, sample.orderId, 60_000, () => {});
  const viaGrpc = (await overGrpc.getOrder({ orderId: sample.orderId })).order ?? final;
  if (viaGrpc.status === OrderStatus.PENDING || viaGrpc.status === OrderStatus.CANCELLING) allFinal = false;
  console.log(`[demo] ${sample.label.padEnd(18)} -> ${describeOrder(viaGrpc)}`);
}
if (!allFinal) {
  console.log("[demo] some orders did not finish within 60 s; see .accord/logs/*.log");
  process.exitCode = 1;
}
if (demoFailed) {
  console.log("[demo] a caller got further than its rights allow (see the lines above)");
  process.exitCode = 1;
}
