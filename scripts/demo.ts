// Sends sample orders through the running platform and prints how each ends:
// a normal order, one for an item out of stock, one the payment provider
// declines (an order total of 666 minor units always declines), and one the
// customer cancels at once. Each is watched until its saga finishes.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import {
  OrderService,
  OrderStatus,
  type PlaceOrderRequest,
  PlaceOrderRequestSchema,
} from "#gen/accord/orders/v1/orders_pb.js";
import { rpcClient } from "#lib/rpc/clients.ts";
import { describeOrder, watchOrder } from "./accord.ts";

const ordersUrl = process.env.ORDERS_URL ?? `http://127.0.0.1:${process.env.ORDERS_PORT ?? 8081}`;
const inventoryUrl = process.env.INVENTORY_URL ?? `http://127.0.0.1:${process.env.INVENTORY_PORT ?? 8082}`;
const overJson = rpcClient(OrderService, ordersUrl, "connect-json");
const overGrpc = rpcClient(OrderService, ordersUrl, "grpc");
const inventory = rpcClient(InventoryService, inventoryUrl, "grpc");

function order(lines: { sku: string; quantity: number; price: bigint }[]): PlaceOrderRequest {
  return create(PlaceOrderRequestSchema, {
    idempotencyKey: `demo-${randomUUID()}`,
    customerId: "customer-demo",
    customerEmail: "demo@example.com",
    currencyCode: "EUR",
    lines: lines.map((l) => ({
      sku: l.sku,
      quantity: l.quantity,
      unitPrice: { currencyCode: "EUR", amountMinor: l.price },
    })),
    shippingAddress: {
      recipientName: "Ada Example",
      line1: "Hauptstrasse 1",
      city: "Berlin",
      postalCode: "10115",
      countryCode: "DE",
    },
  });
}

// Demo stock: plenty of books and mugs, no lamps.
await inventory.setStock({ sku: "BOOK-001", available: 1000n });
await inventory.setStock({ sku: "MUG-042", available: 1000n });
await inventory.setStock({ sku: "LAMP-007", available: 0n });

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

const placed = [];
for (const sample of samples) {
  const { order: accepted } = await overJson.placeOrder(sample.request);
  if (!accepted) throw new Error("PlaceOrder answered without an order");
  console.log(`[demo] placed ${sample.label.padEnd(18)} ${describeOrder(accepted)}`);
  if (sample.cancel)
    await overJson.cancelOrder({ orderId: accepted.orderId, reason: "customer changed their mind" });
  placed.push({ ...sample, orderId: accepted.orderId });
}

const replay = await overJson.placeOrder(samples[0]?.request ?? order([]));
console.log(
  `[demo] same idempotency key again -> same order: ${replay.order?.orderId === placed[0]?.orderId}`,
);

console.log("[demo] waiting for the sagas (GetOrder over gRPC)...");
let allFinal = true;
for (const sample of placed) {
  const final = await watchOrder(sample.orderId, 60_000, () => {});
  const viaGrpc = (await overGrpc.getOrder({ orderId: sample.orderId })).order ?? final;
  if (viaGrpc.status === OrderStatus.PENDING || viaGrpc.status === OrderStatus.CANCELLING) allFinal = false;
  console.log(`[demo] ${sample.label.padEnd(18)} -> ${describeOrder(viaGrpc)}`);
}
if (!allFinal) {
  console.log("[demo] some orders did not finish within 60 s; see .accord/logs/*.log");
  process.exitCode = 1;
}
