import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import {
  FailureCode,
  type Order,
  OrderService,
  OrderStatus,
  type PlaceOrderRequest,
  PlaceOrderRequestSchema,
} from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { verifySignature } from "#services/notifications/src/domain/signature.ts";
import { ensureProducts, testSku } from "#test/support/catalog.ts";
import { callerAs } from "#test/support/identity.ts";
import { type Platform, queryDb, startPlatform } from "#test/support/platform.ts";
import { setSimulatorBehaviour } from "#test/support/service-under-test.ts";

// The whole platform as real processes on real infrastructure: every order
// goes orders -> outbox -> Kafka -> orchestrator -> Temporal saga ->
// inventory / payments / shipping -> orders, and the test only talks to the
// public APIs and the simulated external parties, as the people who use them
// (real tokens from the realm): alice places and watches her orders, olivia
// (ops) stocks the shelves, the partner acme subscribes to a webhook. The
// services call one another as themselves.
let platform: Platform;
let orders: ReturnType<typeof rpcClient<typeof OrderService>>;
let inventory: ReturnType<typeof rpcClient<typeof InventoryService>>;
// A partner's webhook endpoint: records every POST with its headers.
const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
let receiver: http.Server;
let signingSecret = "";

const WAIT = { timeout: 20_000, interval: 200 };
const FINAL = new Set([
  OrderStatus.CONFIRMED,
  OrderStatus.FAILED,
  OrderStatus.CANCELLED,
  OrderStatus.DELIVERED,
]);

beforeAll(async () => {
  platform = await startPlatform();
  orders = rpcClient(OrderService, platform.urls.orders, "connect-json", callerAs("alice", "orders"));
  inventory = rpcClient(InventoryService, platform.urls.inventory, "grpc", callerAs("olivia", "inventory"));
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const notifications = rpcClient(
    NotificationService,
    platform.urls.notifications,
    "connect-json",
    callerAs("acme", "notifications"),
  );
  const created = await notifications.createWebhookSubscription({
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/accord`,
    eventTypes: ["accord.orders.v1.OrderConfirmed"],
  });
  signingSecret = created.signingSecret;
}, 180_000);

afterAll(async () => {
  receiver?.close();
  await platform?.stop();
}, 60_000);

/** An order of alice's for `quantity` x `sku`, with no price: the catalog prices it (see freshSku). */
function request(sku: string, quantity: number, country = "DE"): PlaceOrderRequest {
  return create(PlaceOrderRequestSchema, {
    idempotencyKey: `e2e-${randomUUID()}`,
    // The customer is the caller: her own id (the token's subject).
    customerId: DEMO_USERS.alice.id,
    customerEmail: `e2e-${randomUUID().slice(0, 8)}@example.com`,
    currencyCode: "EUR",
    lines: [{ sku, quantity }],
    shippingAddress: {
      recipientName: "E2E",
      line1: "Teststrasse 1",
      city: "Berlin",
      postalCode: "10115",
      countryCode: country,
    },
  });
}

/** A SKU of the test's own: `available` units in stock, priced at `priceMinor` EUR in the catalog (as ops). */
async function freshSku(available: number, priceMinor: bigint): Promise<string> {
  const sku = testSku("SKU");
  await ensureProducts(platform.urls.catalog, [{ sku, prices: { EUR: priceMinor } }]);
  await inventory.setStock({ sku, available: BigInt(available) });
  return sku;
}

/** The order once the saga finished with it (CONFIRMED, FAILED, CANCELLED or DELIVERED). */
function waitFinal(orderId: string, timeout = 45_000): Promise<Order> {
  return vi.waitFor(
    async () => {
      const { order } = await orders.getOrder({ orderId });
      if (!order || !FINAL.has(order.status))
        throw new Error(`order ${orderId} still ${OrderStatus[order?.status ?? 0]}`);
      return order;
    },
    { timeout, interval: 200 },
  );
}

async function available(sku: string): Promise<bigint> {
  const { stock } = await inventory.getStock({ sku });
  return stock?.available ?? -1n;
}

async function providerCharges(
  orderId: string,
): Promise<{ captured: number; refunded: number; total: number }> {
  const res = await fetch(`${platform.urls["payment-provider"]}/v1/charges?reference=${orderId}`);
  const body = (await res.json()) as { charges: unknown[]; captured: number; refunded: number };
  return { captured: body.captured, refunded: body.refunded, total: body.charges.length };
}

async function carrierBookings(orderId: string): Promise<{ status: string }[]> {
  const res = await fetch(`${platform.urls.carrier}/v1/shipments?reference=${orderId}`);
  return ((await res.json()) as { shipments: { status: string }[] }).shipments;
}

function behave(party: "payment-provider" | "carrier", change: Parameters<typeof setSimulatorBehaviour>[1]) {
  return setSimulatorBehaviour({ url: platform.urls[party] }, change);
}

describe("order saga end to end", () => {
  it("happy path: CONFIRMED, stock taken once, one charge, one shipment, email and signed webhook", async () => {
    const sku = await freshSku(10, 500n);
    const placeRequest = request(sku, 3);
    const { order } = await orders.placeOrder(placeRequest);
    expect(order?.status).toBe(OrderStatus.PENDING);
    const final = await waitFinal(order?.orderId ?? "");
    expect(OrderStatus[final.status]).toBe("CONFIRMED");
    expect(final.paymentId).not.toBe("");
    expect(final.shipmentId).not.toBe("");
    expect(await available(sku)).toBe(7n);
    expect(await providerCharges(final.orderId)).toEqual({ captured: 1, refunded: 0, total: 1 });
    expect((await carrierBookings(final.orderId)).length).toBe(1);

    const email = await vi.waitFor(async () => {
      const res = await fetch(
        `${platform.smtpSinkUrl}/messages?to=${encodeURIComponent(placeRequest.customerEmail)}`,
      );
      const [first] = (await res.json()) as { subject?: string; text?: string }[];
      if (!first) throw new Error("the confirmation email has not arrived");
      return first;
    }, WAIT);
    expect(email.text ?? "").toContain(final.orderId);

    const hook = await vi.waitFor(() => {
      const found = received.find((r) => r.body.includes(final.orderId));
      if (!found) throw new Error("the OrderConfirmed webhook has not arrived");
      return found;
    }, WAIT);
    const timestamp = String(hook.headers["accord-timestamp"]);
    const signature = String(hook.headers["accord-signature"]);
    expect(verifySignature(signingSecret, timestamp, hook.body, signature, 300)).toBe(true);
    expect(
      verifySignature(signingSecret, timestamp, hook.body.replace("Confirmed", "Failed"), signature, 300),
    ).toBe(false);
    expect(JSON.parse(hook.body).eventType).toBe("accord.orders.v1.OrderConfirmed");
  });

  it("out of stock: FAILED with the reason, nothing charged or shipped", async () => {
    const sku = await freshSku(1, 500n);
    const { order } = await orders.placeOrder(request(sku, 2));
    const final = await waitFinal(order?.orderId ?? "");
    expect(OrderStatus[final.status]).toBe("FAILED");
    expect(final.failureCode).toBe(FailureCode.OUT_OF_STOCK);
    expect(final.failureReason).toContain(sku);
    expect(await available(sku)).toBe(1n);
    expect((await providerCharges(final.orderId)).total).toBe(0);
    expect((await carrierBookings(final.orderId)).length).toBe(0);
  });

  it("payment declined: FAILED, the reservation released, nothing shipped", async () => {
    const sku = await freshSku(5, 666n);
    const { order } = await orders.placeOrder(request(sku, 1));
    const final = await waitFinal(order?.orderId ?? "");
    expect(OrderStatus[final.status]).toBe("FAILED");
    expect(final.failureCode).toBe(FailureCode.PAYMENT_DECLINED);
    expect(await available(sku)).toBe(5n);
    expect((await providerCharges(final.orderId)).captured).toBe(0);
    expect((await carrierBookings(final.orderId)).length).toBe(0);
  });

  it("carrier refuses: FAILED, refunded and released", async () => {
    const sku = await freshSku(5, 700n);
    // The simulated carrier does not serve Antarctica: a business refusal.
    const { order } = await orders.placeOrder(request(sku, 2, "AQ"));
    const final = await waitFinal(order?.orderId ?? "");
    expect(OrderStatus[final.status]).toBe("FAILED");
    expect(final.failureCode).toBe(FailureCode.SHIPPING_FAILED);
    expect(await available(sku)).toBe(5n);
    // The provider counts every capture, refunded ones included.
    expect(await providerCharges(final.orderId)).toEqual({ captured: 1, refunded: 1, total: 1 });
  });

  it("cancel before shipping: CANCELLED, refunded and released", async () => {
    const sku = await freshSku(4, 900n);
    // A slow provider keeps the saga in its charge step while the cancel arrives.
    await behave("payment-provider", { latencyMs: 800 });
    try {
      const { order } = await orders.placeOrder(request(sku, 1));
      const orderId = order?.orderId ?? "";
      // The provider records a charge when it arrives and answers 800 ms later: cancel in between.
      await expect
        .poll(async () => (await providerCharges(orderId)).total, { timeout: 20_000, interval: 50 })
        .toBe(1);
      const cancelling = await orders.cancelOrder({ orderId, reason: "changed my mind" });
      expect(OrderStatus[cancelling.order?.status ?? 0]).toBe("CANCELLING");
      const final = await waitFinal(orderId);
      expect(OrderStatus[final.status]).toBe("CANCELLED");
      expect(await available(sku)).toBe(4n);
      // The charge was in flight when the cancel came: it went through once and was refunded.
      expect(await providerCharges(orderId)).toEqual({ captured: 1, refunded: 1, total: 1 });
      expect((await carrierBookings(orderId)).length).toBe(0);
    } finally {
      await behave("payment-provider", { latencyMs: 0 });
    }
  });

  it("the same OrderPlaced event delivered twice starts one saga and charges once", async () => {
    const sku = await freshSku(10, 400n);
    const { order } = await orders.placeOrder(request(sku, 1));
    const orderId = order?.orderId ?? "";
    await waitFinal(orderId);
    // Publish the very same outbox row again, as a relay retry after a lost ack would.
    await queryDb(
      platform.databases.orders,
      "UPDATE outbox SET published_at = NULL WHERE message_key = $1 AND event_type = 'accord.orders.v1.OrderPlaced'",
      [orderId],
    );
    await expect
      .poll(
        async () => {
          const rows = await queryDb<{ published: boolean }>(
            platform.databases.orders,
            "SELECT published_at IS NOT NULL AS published FROM outbox WHERE message_key = $1 AND event_type = 'accord.orders.v1.OrderPlaced'",
            [orderId],
          );
          return rows[0]?.published;
        },
        { timeout: 10_000, interval: 100 },
      )
      .toBe(true);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await providerCharges(orderId)).toEqual({ captured: 1, refunded: 0, total: 1 });
    expect(await available(sku)).toBe(9n);
    expect((await carrierBookings(orderId)).length).toBe(1);
  });

  it("payments down for a while: the order waits, then completes with one charge", async () => {
    const sku = await freshSku(3, 300n);
    await behave("payment-provider", { outage: true });
    let orderId = "";
    try {
      const { order } = await orders.placeOrder(request(sku, 1));
      orderId = order?.orderId ?? "";
      await new Promise((r) => setTimeout(r, 3_000));
      expect(OrderStatus[(await orders.getOrder({ orderId })).order?.status ?? 0]).toBe("PENDING");
    } finally {
      await behave("payment-provider", { outage: false });
    }
    const final = await waitFinal(orderId, 60_000);
    expect(OrderStatus[final.status]).toBe("CONFIRMED");
    expect(await providerCharges(orderId)).toEqual({ captured: 1, refunded: 0, total: 1 });
  });

  it("carrier slow: the breaker opens, shipping answers fast, the saga completes after recovery", async () => {
    const sku = await freshSku(3, 300n);
    await behave("carrier", { latencyMs: 1_500 });
    let orderId = "";
    try {
      const { order } = await orders.placeOrder(request(sku, 1));
      orderId = order?.orderId ?? "";
      await new Promise((r) => setTimeout(r, 5_000));
      expect(OrderStatus[(await orders.getOrder({ orderId })).order?.status ?? 0]).toBe("PENDING");
    } finally {
      await behave("carrier", { latencyMs: 0 });
    }
    const final = await waitFinal(orderId, 60_000);
    expect(OrderStatus[final.status]).toBe("CONFIRMED");
    expect((await carrierBookings(orderId)).filter((b) => b.status !== "cancelled").length).toBe(1);
    expect(await providerCharges(orderId)).toEqual({ captured: 1, refunded: 0, total: 1 });
  });
});
