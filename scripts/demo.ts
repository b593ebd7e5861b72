// Sends sample orders through the running platform and prints how each ends:
// a normal order, one for an item out of stock, one the payment provider
// declines (an order total of 666 minor units always declines), and one the
// customer cancels at once. Each is watched until its saga finishes.
// Everyone is someone: olivia (ops) sets the stock, alice (customer) places
// and reads her orders, bob (another customer) cannot see hers; tokens come
// from the development realm (lib/auth/dev-identities.ts, dev-only logins).
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import {
  OrderService,
  OrderStatus,
  type PlaceOrderRequest,
  PlaceOrderRequestSchema,
} from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS, type DemoUser, demoUserTokens } from "#lib/auth/dev-identities.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { describeOrder, watchOrder } from "./accord.ts";

const ordersUrl = process.env.ORDERS_URL ?? `http://127.0.0.1:${process.env.ORDERS_PORT ?? 8081}`;
const inventoryUrl = process.env.INVENTORY_URL ?? `http://127.0.0.1:${process.env.INVENTORY_PORT ?? 8082}`;
const as = (user: DemoUser, audience: string) => ({ tokens: demoUserTokens(user), audience });
const overJson = rpcClient(OrderService, ordersUrl, "connect-json", as("alice", "orders"));
const overGrpc = rpcClient(OrderService, ordersUrl, "grpc", as("alice", "orders"));
const bobOrders = rpcClient(OrderService, ordersUrl, "connect-json", as("bob", "orders"));
const opsInventory = rpcClient(InventoryService, inventoryUrl, "grpc", as("olivia", "inventory"));
const aliceInventory = rpcClient(InventoryService, inventoryUrl, "connect-json", as("alice", "inventory"));

/** The Connect code a call fails with, or "ok" when it does not fail. */
async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return "ok";
  } catch (error) {
    return Code[ConnectError.from(error).code] ?? "unknown";
  }
}

function order(lines: { sku: string; quantity: number; price: bigint }[]): PlaceOrderRequest {
  return create(PlaceOrderRequestSchema, {
    idempotencyKey: `demo-${randomUUID()}`,
    // Alice orders for herself: her id is her token's subject (orders checks it).
    customerId: DEMO_USERS.alice.id,
    customerEmail: "alice@example.com",
    currencyCode: "EUR",
    lines: lines.map((l) => ({
      sku: l.sku,
      quantity: l.quantity,
      unitPrice: { currencyCode: "EUR", amountMinor: l.price },
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

// Demo stock, set by ops: plenty of books and mugs, no lamps.
await opsInventory.setStock({ sku: "BOOK-001", available: 1000n });
await opsInventory.setStock({ sku: "MUG-042", available: 1000n });
await opsInventory.setStock({ sku: "LAMP-007", available: 0n });
console.log("[demo] olivia (ops) set the stock: BOOK-001 1000, MUG-042 1000, LAMP-007 0");
const aliceSetsStock = await outcome(() => aliceInventory.setStock({ sku: "BOOK-001", available: 1n }));
console.log(`[demo] alice (customer) setting stock -> ${aliceSetsStock}`);
let demoFailed = aliceSetsStock !== "PermissionDenied";

const samples: { label: string; request: PlaceOrderRequest; cancel?: boolean }[] = [
  {
    label: "normal order",
    request: order([
      { sku: "BOOK-001", quantity: 2, price: 1250n },
      { sku: "MUG-042", quantity: 1, price: 899n },
    ]),
  },
  { label: "out of stock", request: order([{ sku: "LAMP-007", quantity: 1, price: 4599n }]) },
  { label: "payment declined", request: order([{ sku: "MUG-042", quantity: 1, price: 666n }]) },
  {
    label: "cancelled at once",
    request: order([{ sku: "BOOK-001", quantity: 1, price: 1250n }]),
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
