// Sends a sample order through the running platform and prints what happens:
// PlaceOrder over Connect JSON (HTTP/1.1), then GetOrder over gRPC (HTTP/2).
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { OrderService, OrderStatus, PlaceOrderRequestSchema } from "../gen/accord/orders/v1/orders_pb.js";
import { rpcClient } from "../lib/rpc-clients.js";

const ordersUrl = process.env.ORDERS_URL ?? `http://127.0.0.1:${process.env.ORDERS_PORT ?? 8081}`;
const overJson = rpcClient(OrderService, ordersUrl, "connect-json");
const overGrpc = rpcClient(OrderService, ordersUrl, "grpc");

const request = create(PlaceOrderRequestSchema, {
  idempotencyKey: `demo-${randomUUID()}`,
  customerId: "customer-demo",
  customerEmail: "demo@example.com",
  currencyCode: "EUR",
  lines: [
    { sku: "BOOK-001", quantity: 2, unitPrice: { currencyCode: "EUR", amountMinor: 1_250n } },
    { sku: "MUG-042", quantity: 1, unitPrice: { currencyCode: "EUR", amountMinor: 899n } },
  ],
  shippingAddress: {
    recipientName: "Ada Example",
    line1: "Hauptstrasse 1",
    city: "Berlin",
    postalCode: "10115",
    countryCode: "DE",
  },
});

const placed = await overJson.placeOrder(request);
const order = placed.order;
if (!order) throw new Error("PlaceOrder answered without an order");
console.log(
  `[demo] PlaceOrder (Connect JSON)  -> order ${order.orderId} ${OrderStatus[order.status]} total ${order.total?.amountMinor} ${order.total?.currencyCode}`,
);
const again = await overJson.placeOrder(request);
console.log(
  `[demo] PlaceOrder replayed       -> same order: ${again.order?.orderId === order.orderId} (replayed=${again.replayed})`,
);
const fetched = await overGrpc.getOrder({ orderId: order.orderId });
console.log(
  `[demo] GetOrder (gRPC, HTTP/2)  -> ${fetched.order?.orderId} ${OrderStatus[fetched.order?.status ?? 0]}`,
);
