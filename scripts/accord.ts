// The Accord command line: place an order, watch it, cancel it, look around.
//   npm run accord -- place --item BOOK-001:2 --item MUG-042:1 [--email a@b.c] [--currency EUR]
//   npm run accord -- get <order-id> | watch <order-id> | cancel <order-id> [--reason text] | list
//   npm run accord -- stock <sku> [--set <units>]
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { FailureCode, type Order, OrderService, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { rpcClient } from "#lib/rpc/clients.ts";

const ordersUrl = process.env.ORDERS_URL ?? `http://127.0.0.1:${process.env.ORDERS_PORT ?? 8081}`;
const inventoryUrl = process.env.INVENTORY_URL ?? `http://127.0.0.1:${process.env.INVENTORY_PORT ?? 8082}`;
const orders = rpcClient(OrderService, ordersUrl, "connect-json");
const inventory = rpcClient(InventoryService, inventoryUrl, "connect-json");

const FINAL = new Set([
  OrderStatus.CONFIRMED,
  OrderStatus.FAILED,
  OrderStatus.CANCELLED,
  OrderStatus.DELIVERED,
]);
const PRICES: Record<string, bigint> = { "BOOK-001": 1250n, "MUG-042": 899n, "LAMP-007": 4599n };

export function describeOrder(order: Order): string {
  const status = OrderStatus[order.status] ?? "UNKNOWN";
  const total = order.total ? `${order.total.amountMinor} ${order.total.currencyCode} (minor units)` : "";
  const why =
    order.status === OrderStatus.FAILED
      ? ` — ${FailureCode[order.failureCode]}: ${order.failureReason}`
      : order.status === OrderStatus.CANCELLED
        ? ` — ${order.failureReason}`
        : "";
  return `${order.orderId}  ${status}  ${total}${why}`;
}

/** Polls GetOrder until the order reaches a final status or the timeout passes. */
export async function watchOrder(
  orderId: string,
  timeoutMs: number,
  onChange: (o: Order) => void,
): Promise<Order> {
  let last: OrderStatus | undefined;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { order } = await orders.getOrder({ orderId });
    if (!order) throw new Error(`order ${orderId} vanished`);
    if (order.status !== last) {
      last = order.status;
      onChange(order);
    }
    if (FINAL.has(order.status) || Date.now() > deadline) return order;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      item: { type: "string", multiple: true },
      email: { type: "string", default: "customer@example.com" },
      customer: { type: "string", default: "customer-cli" },
      currency: { type: "string", default: "EUR" },
      reason: { type: "string" },
      set: { type: "string" },
      timeout: { type: "string", default: "60" },
    },
  });
  const [command, arg] = positionals;
  switch (command) {
    case "place": {
      const items = values.item?.length ? values.item : ["BOOK-001:1"];
      const lines = items.map((spec) => {
        const [sku = "", qty = "1", price] = spec.split(":");
        return {
          sku,
          quantity: Number(qty),
          unitPrice: {
            currencyCode: values.currency,
            amountMinor: price ? BigInt(price) : (PRICES[sku] ?? 1000n),
          },
        };
      });
      const { order } = await orders.placeOrder({
        idempotencyKey: `cli-${randomUUID()}`,
        customerId: values.customer,
        customerEmail: values.email,
        currencyCode: values.currency,
        lines,
        shippingAddress: {
          recipientName: "CLI Customer",
          line1: "Hauptstrasse 1",
          city: "Berlin",
          postalCode: "10115",
          countryCode: "DE",
        },
      });
      if (order) console.log(describeOrder(order));
      return;
    }
    case "get":
    case "watch": {
      if (!arg) throw new Error(`usage: ${command} <order-id>`);
      if (command === "get") {
        const { order } = await orders.getOrder({ orderId: arg });
        if (order) console.log(describeOrder(order));
        return;
      }
      await watchOrder(arg, Number(values.timeout) * 1000, (o) => console.log(describeOrder(o)));
      return;
    }
    case "cancel": {
      if (!arg) throw new Error("usage: cancel <order-id> [--reason text]");
      const { order } = await orders.cancelOrder({ orderId: arg, reason: values.reason ?? "" });
      if (order) console.log(describeOrder(order));
      return;
    }
    case "list": {
      const { orders: page } = await orders.listOrders({ pageSize: 20 });
      for (const o of page) console.log(describeOrder(o));
      return;
    }
    case "stock": {
      if (!arg) throw new Error("usage: stock <sku> [--set units]");
      const { stock } =
        values.set !== undefined
          ? await inventory.setStock({ sku: arg, available: BigInt(values.set) })
          : await inventory.getStock({ sku: arg });
      console.log(`${stock?.sku}  available ${stock?.available}  reserved ${stock?.reserved}`);
      return;
    }
    default:
      console.log("usage: accord place|get|watch|cancel|list|stock ... (see scripts/accord.ts)");
      process.exitCode = 2;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    const e = ConnectError.from(error);
    console.error(`error: [${Code[e.code]}] ${e.rawMessage}`);
    process.exitCode = 1;
  });
}
