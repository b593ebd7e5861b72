import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, it } from "vitest";
import {
  OrderCancellationRequestedSchema,
  OrderCancelledSchema,
  OrderConfirmedSchema,
  OrderFailedSchema,
  OrderPlacedSchema,
} from "#gen/accord/orders/v1/events_pb.js";
import { FailureCode } from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { ensureProducts } from "#test/support/catalog.ts";
import { outboxMessage } from "#test/support/pact-provider.ts";
import { pactSourceFromEnv, verifyProvider } from "#test/support/pact-verify.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The real orders process on its own database verifies the pacts of every
// consumer (orchestrator, accord-cli, notifications): RPCs over HTTP, and the
// events its outbox holds after the real RPCs ran. Every call carries a real
// token: orders are alice's (the CLI's customer), the transitions the saga's.
let catalog: ServiceUnderTest<"catalog">;
let service: ServiceUnderTest<"orders">;
let orders: ServiceUnderTest<"orders">["client"];
let saga: ServiceUnderTest<"orders">["client"];

/** The product the states' orders are for, at its catalog price (2 x 1250 = the pacts' 2500). */
const BOOK = { sku: "BOOK-001", prices: { EUR: 1250n } };

beforeAll(async () => {
  // Orders takes its prices from a real catalog: the states put products there as ops.
  catalog = await startServiceUnderTest("catalog", { tag: "pact" });
  await ensureProducts(catalog.url, [BOOK]);
  service = await startServiceUnderTest("orders", { tag: "pact", env: { CATALOG_URL: catalog.url } });
  orders = service.client;
  saga = service.clientAs("orchestrator");
});

afterAll(async () => {
  await service?.stop();
  await catalog?.stop();
});

/** A new order through PlaceOrder, as alice places it (the customer the CLI's pact calls as). */
async function placeOrder(): Promise<string> {
  const { order } = await orders.placeOrder({
    idempotencyKey: `pact-${randomUUID()}`,
    customerId: DEMO_USERS.alice.id,
    customerEmail: "ada@example.com",
    currencyCode: "EUR",
    lines: [{ sku: BOOK.sku, quantity: 2 }],
    shippingAddress: {
      recipientName: "Ada Lovelace",
      line1: "Hauptstrasse 1",
      city: "Berlin",
      postalCode: "10115",
      countryCode: "DE",
    },
  });
  if (!order) throw new Error("PlaceOrder answered without an order");
  return order.orderId;
}

/** An order brought to a status through the service's own RPCs (the saga's path). */
async function orderIn(status: string): Promise<string> {
  const orderId = await placeOrder();
  switch (status) {
    case "PENDING":
      break;
    case "CONFIRMED":
      await saga.confirmOrder({ orderId, paymentId: randomUUID(), shipmentId: randomUUID() });
      break;
    case "CANCELLING":
      await orders.cancelOrder({ orderId, reason: "changed my mind" });
      break;
    case "FAILED":
      await saga.failOrder({ orderId, failureCode: FailureCode.OTHER, reason: "test" });
      break;
    default:
      throw new Error(`provider state: unsupported order status ${status}`);
  }
  return orderId;
}

const outbox = (typeName: string, orderId: string) =>
  outboxMessage(service.pool, typeName, orderId, service.topicPrefix);

describe("orders provider", () => {
  it("honours every consumer's pact", async () => {
    await verifyProvider({
      provider: "orders",
      baseUrl: service.url,
      source: await pactSourceFromEnv("orders"),
      // Each RPC with a caller the table allows: the CLI's calls as alice,
      // whose orders the states place; the saga's transitions as the orchestrator.
      callers: {
        PlaceOrder: "alice",
        GetOrder: "alice",
        ListOrders: "alice",
        CancelOrder: "alice",
        ConfirmOrder: "orchestrator",
        FailOrder: "orchestrator",
        MarkOrderCancelled: "orchestrator",
        MarkOrderDelivered: "orchestrator",
      },
      stateHandlers: {
        "an order exists": async (params) => {
          const { status } = (params ?? {}) as { status?: string };
          return { orderId: await orderIn(status ?? "PENDING") };
        },
        // A fresh database holds no order: nothing to set up.
        "no order exists": async () => undefined,
        "the catalog prices a SKU": async (params) => {
          const { sku, currencyCode, amountMinor } = (params ?? {}) as Record<string, string>;
          if (!sku || !currencyCode || !amountMinor)
            throw new Error("provider state: sku, currencyCode, amountMinor");
          await ensureProducts(catalog.url, [{ sku, prices: { [currencyCode]: BigInt(amountMinor) } }]);
          return undefined;
        },
      },
      messageProviders: {
        "an OrderPlaced event": async () => outbox(OrderPlacedSchema.typeName, await placeOrder()),
        "an OrderCancellationRequested event": async () => {
          const orderId = await placeOrder();
          await orders.cancelOrder({ orderId, reason: "changed my mind" });
          return outbox(OrderCancellationRequestedSchema.typeName, orderId);
        },
        "an OrderConfirmed event": async () => {
          const orderId = await placeOrder();
          await saga.confirmOrder({ orderId, paymentId: randomUUID(), shipmentId: randomUUID() });
          return outbox(OrderConfirmedSchema.typeName, orderId);
        },
        "an OrderFailed event": async () => {
          const orderId = await placeOrder();
          await saga.failOrder({
            orderId,
            failureCode: FailureCode.PAYMENT_DECLINED,
            reason: "payment declined: insufficient_funds",
          });
          return outbox(OrderFailedSchema.typeName, orderId);
        },
        "an OrderCancelled event": async () => {
          const orderId = await placeOrder();
          await orders.cancelOrder({ orderId, reason: "changed my mind" });
          await saga.markOrderCancelled({ orderId });
          return outbox(OrderCancelledSchema.typeName, orderId);
        },
      },
    });
  });
});
