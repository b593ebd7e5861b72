import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { OrderService, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentService, PaymentStatus } from "#gen/accord/payments/v1/payments_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { callerAs } from "#test/support/identity.ts";
import { type Platform, startPlatform } from "#test/support/platform.ts";
import { ROOT } from "#test/support/service-process.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// An ops refund end to end, as real processes on real infrastructure: alice
// orders a product priced by the catalog, the saga confirms it, olivia (ops)
// refunds it through PaymentService.Refund, orders makes it REFUNDED from
// payments' PaymentRefunded, and notifications emails alice (the SMTP sink)
// and posts the partner acme's webhook without her personal data.
let catalog: ServiceUnderTest<"catalog">;
let platform: Platform;
const received: string[] = [];
let receiver: http.Server;
const WAIT = { timeout: 30_000, interval: 250 };
const SKU = `REFUND-${randomUUID().slice(0, 8).toUpperCase()}`;
const PRICE = 2500n;
const exec = promisify(execFile);

beforeAll(async () => {
  catalog = await startServiceUnderTest("catalog");
  await catalog.client.upsertProduct({
    product: {
      sku: SKU,
      name: "Refund test product",
      prices: [{ currencyCode: "EUR", amountMinor: PRICE }],
      active: true,
    },
  });
  platform = await startPlatform({ orders: { CATALOG_URL: catalog.url } });
  await rpcClient(
    InventoryService,
    platform.urls.inventory,
    "connect-json",
    callerAs("olivia", "inventory"),
  ).setStock({ sku: SKU, available: 10n });
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      received.push(body);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  await rpcClient(
    NotificationService,
    platform.urls.notifications,
    "connect-json",
    callerAs("acme", "notifications"),
  ).createWebhookSubscription({
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/refunds`,
    eventTypes: ["accord.orders.v1.OrderRefunded"],
  });
}, 240_000);

afterAll(async () => {
  receiver?.close();
  await platform?.stop();
  await catalog?.stop();
}, 90_000);

describe("an ops refund of a confirmed order", () => {
  it("makes the order REFUNDED, emails the customer and tells the partner", async () => {
    const alice = rpcClient(OrderService, platform.urls.orders, "connect-json", callerAs("alice", "orders"));
    const email = `refund-${randomUUID().slice(0, 8)}@example.com`;
    const { order: placed } = await alice.placeOrder({
      idempotencyKey: `e2e-refund-${randomUUID()}`,
      customerId: DEMO_USERS.alice.id,
      customerEmail: email,
      currencyCode: "EUR",
      lines: [{ sku: SKU, quantity: 2 }],
      shippingAddress: {
        recipientName: "Alice",
        line1: "Teststrasse 1",
        city: "Berlin",
        postalCode: "10115",
        countryCode: "DE",
      },
    });
    const orderId = placed?.orderId ?? "";
    expect(placed?.total?.amountMinor).toBe(2n * PRICE);

    const confirmed = await vi.waitFor(
      async () => {
        const { order } = await alice.getOrder({ orderId });
        if (order?.status !== OrderStatus.CONFIRMED && order?.status !== OrderStatus.DELIVERED) {
          throw new Error(`order ${orderId} is ${OrderStatus[order?.status ?? 0]}`);
        }
        return order;
      },
      { timeout: 60_000, interval: 250 },
    );

    // A customer may not refund her own order.
    const asAlice = rpcClient(
      PaymentService,
      platform.urls.payments,
      "connect-json",
      callerAs("alice", "payments"),
    );
    await expect(
      asAlice.refund({ idempotencyKey: `r-${randomUUID()}`, orderId, reason: "mine" }),
    ).rejects.toThrow(/permission_denied|may not call Refund/);

    const ops = rpcClient(
      PaymentService,
      platform.urls.payments,
      "connect-json",
      callerAs("olivia", "payments"),
    );
    const key = `e2e-ops-${randomUUID()}`;
    const refund = await ops.refund({ idempotencyKey: key, orderId, reason: "goodwill" });
    expect(refund.refunded).toBe(true);
    expect(refund.payment?.paymentId).toBe(confirmed.paymentId);
    expect(refund.payment?.status).toBe(PaymentStatus.REFUNDED);
    expect(refund.payment?.amount?.amountMinor).toBe(2n * PRICE);

    const refunded = await vi.waitFor(async () => {
      const { order } = await alice.getOrder({ orderId });
      if (order?.status !== OrderStatus.REFUNDED)
        throw new Error(`order ${orderId} is ${OrderStatus[order?.status ?? 0]}`);
      return order;
    }, WAIT);
    expect(refunded.paymentId).toBe(confirmed.paymentId);

    const mail = await vi.waitFor(async () => {
      const res = await fetch(`${platform.smtpSinkUrl}/messages?to=${encodeURIComponent(email)}`);
      const messages = (await res.json()) as { subject?: string; text?: string }[];
      const found = messages.find((m) => m.subject?.includes("refunded"));
      if (!found) throw new Error("the refund email has not arrived");
      return found;
    }, WAIT);
    expect(mail.subject).toBe(`Your payment for order ${orderId} was refunded`);
    expect(mail.text).toContain("Amount refunded: 50.00 EUR.");
    expect(mail.text).not.toContain("goodwill");

    const hook = await vi.waitFor(() => {
      const found = received.find((body) => body.includes(orderId));
      if (!found) throw new Error("the OrderRefunded webhook has not arrived");
      return JSON.parse(found) as { eventType?: string; data?: Record<string, unknown> };
    }, WAIT);
    expect(hook.eventType).toBe("accord.orders.v1.OrderRefunded");
    expect(hook.data).toEqual({ orderId, amount: { currencyCode: "EUR", amountMinor: String(2n * PRICE) } });

    // The CLI's command repeats the refund by its key: the first outcome, no second refund.
    const { stdout } = await exec(
      process.execPath,
      [
        path.join(ROOT, "scripts/accord.ts"),
        "payment",
        "refund",
        orderId,
        "--key",
        key,
        "--reason",
        "goodwill",
      ],
      { env: { ...process.env, ACCORD_USER: "olivia", PAYMENTS_URL: platform.urls.payments }, cwd: ROOT },
    );
    expect(stdout).toContain(`refunded ${2n * PRICE} EUR`);
    expect(stdout).toContain(refund.payment?.refundId ?? "no refund id");
  }, 180_000);
});
