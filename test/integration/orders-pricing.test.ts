import { randomUUID } from "node:crypto";
import net from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus, PriceChangedSchema } from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { ensureProducts, testSku } from "#test/support/catalog.ts";
import { bearerFor } from "#test/support/identity.ts";
import { BOOK, placeOrderRequest } from "#test/support/requests.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// Checkout against a real catalog: the real orders and catalog processes,
// each on its own database, orders calling the catalog with its own token;
// the products are put in the catalog by ops (olivia's real token). What the
// customer sends as unit_price never becomes the price.
let catalog: ServiceUnderTest<"catalog">;
let orders: ServiceUnderTest<"orders">;
let db: pg.Pool;

const ALICE = DEMO_USERS.alice.id;
const MUG = { sku: "MUG-2", currencyCode: "EUR", amountMinor: 899n } as const;
const RETIRED = "RETIRED-1";
const DOLLARS_ONLY = "USD-ONLY-1";
// A short breaker, so the catalog-down cases finish quickly.
const BREAKER = {
  ORDERS_CATALOG_BREAKER_TIMEOUT_MS: "800",
  ORDERS_CATALOG_BREAKER_VOLUME_THRESHOLD: "3",
  ORDERS_CATALOG_BREAKER_RESET_MS: "60000",
};

/** Puts one product in the catalog as ops (test/support/catalog.ts), prices per currency. */
const putProduct = (sku: string, prices: Record<string, bigint>, active = true) =>
  ensureProducts(catalog.url, [{ sku, prices, active }]);

const alicesOrder = (overrides: Parameters<typeof placeOrderRequest>[0] = {}) =>
  placeOrderRequest({ customerId: ALICE, ...overrides });

const refusal = (call: Promise<unknown>): Promise<ConnectError> =>
  call.then(
    () => {
      throw new Error("expected the call to be refused");
    },
    (e: unknown) => ConnectError.from(e),
  );

async function storedUnder(key: string): Promise<number> {
  const rows = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM orders WHERE idempotency_key = $1",
    [key],
  );
  return rows.rows[0]?.n ?? -1;
}

beforeAll(async () => {
  catalog = await startServiceUnderTest("catalog", { tag: "pricing" });
  await putProduct(BOOK.sku, { [BOOK.currencyCode]: BOOK.amountMinor });
  await putProduct(MUG.sku, { [MUG.currencyCode]: MUG.amountMinor });
  await putProduct(RETIRED, { EUR: 500n }, false);
  await putProduct(DOLLARS_ONLY, { USD: 700n });
  orders = await startServiceUnderTest("orders", {
    tag: "pricing",
    env: { CATALOG_URL: catalog.url, ...BREAKER },
  });
  db = orders.pool;
}, 120_000);

afterAll(async () => {
  await orders?.stop();
  await catalog?.stop();
});

describe("checkout prices from the catalog", () => {
  it("stores the catalog's unit prices and the total the server computed", async () => {
    const { order } = await orders.client.placeOrder(
      alicesOrder({
        lines: [
          { sku: BOOK.sku, quantity: 3 },
          { sku: MUG.sku, quantity: 2 },
        ],
      }),
    );
    expect(order?.status).toBe(OrderStatus.PENDING);
    expect(order?.lines.map((l) => [l.sku, l.unitPrice?.amountMinor, l.unitPrice?.currencyCode])).toEqual([
      [BOOK.sku, 1000n, "EUR"],
      [MUG.sku, 899n, "EUR"],
    ]);
    expect(order?.total?.amountMinor).toBe(3n * 1000n + 2n * 899n);
    const stored = await db.query<{ sku: string; unit_price_minor: string }>(
      "SELECT sku, unit_price_minor FROM order_lines WHERE order_id = $1 ORDER BY line_no",
      [order?.orderId],
    );
    expect(stored.rows).toEqual([
      { sku: BOOK.sku, unit_price_minor: "1000" },
      { sku: MUG.sku, unit_price_minor: "899" },
    ]);
    const total = await db.query("SELECT total_minor FROM orders WHERE order_id = $1", [order?.orderId]);
    expect(total.rows).toEqual([{ total_minor: "4798" }]);
  });

  it("still serves an old client that sends the right price", async () => {
    const { order } = await orders.client.placeOrder(
      alicesOrder({
        lines: [{ sku: BOOK.sku, quantity: 1, unitPrice: { currencyCode: "EUR", amountMinor: 1000n } }],
      }),
    );
    expect(order?.total?.amountMinor).toBe(1000n);
  });

  it("refuses a 1-cent shown price with failed_precondition and a PriceChanged detail, storing nothing", async () => {
    for (const protocol of ["connect-json", "grpc"] as const) {
      const req = alicesOrder({
        lines: [
          { sku: MUG.sku, quantity: 1 },
          { sku: BOOK.sku, quantity: 2, unitPrice: { currencyCode: "EUR", amountMinor: 1n } },
        ],
      });
      const error = await refusal(orders.clientOver(protocol).placeOrder(req));
      expect(error.code).toBe(Code.FailedPrecondition);
      expect(error.rawMessage).toMatch(/^lines\[1\]\.unit_price: price changed/);
      const details = error.findDetails(PriceChangedSchema);
      expect(details).toHaveLength(1);
      expect(details[0]?.lineIndex).toBe(1);
      expect(details[0]?.sku).toBe(BOOK.sku);
      expect(details[0]?.shownPrice?.amountMinor).toBe(1n);
      expect(details[0]?.currentPrice?.amountMinor).toBe(1000n);
      expect(await storedUnder(req.idempotencyKey)).toBe(0);
      const listed = await orders.client.listOrders({ pageSize: 100 });
      expect(listed.orders.filter((o) => o.total?.amountMinor === 899n + 2n)).toEqual([]);
    }
  });

  it("refuses a shown price in another currency as a changed price", async () => {
    const req = alicesOrder({
      lines: [{ sku: BOOK.sku, quantity: 1, unitPrice: { currencyCode: "USD", amountMinor: 1000n } }],
    });
    const error = await refusal(orders.client.placeOrder(req));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.findDetails(PriceChangedSchema)[0]?.shownPrice?.currencyCode).toBe("USD");
    expect(await storedUnder(req.idempotencyKey)).toBe(0);
  });

  it("answers plain JSON clients the same (the detail in the Connect error body)", async () => {
    const res = await fetch(`${orders.url}/accord.orders.v1.OrderService/PlaceOrder`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: await bearerFor("alice", "orders") },
      body: JSON.stringify({
        idempotencyKey: `json-${randomUUID()}`,
        customerEmail: "json@example.com",
        currencyCode: "EUR",
        lines: [{ sku: BOOK.sku, quantity: 1, unitPrice: { currencyCode: "EUR", amountMinor: "1" } }],
        shippingAddress: { line1: "1 Road", city: "Berlin", postalCode: "10115", countryCode: "DE" },
      }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string; details?: { type: string }[] };
    expect(body.code).toBe("failed_precondition");
    expect(body.details?.map((d) => d.type)).toEqual(["accord.orders.v1.PriceChanged"]);
  });

  it("names lines[i].sku for an unknown, an inactive and a not-in-currency SKU, storing nothing", async () => {
    const cases = [
      { sku: testSku("NOPE"), says: "not in the catalog" },
      { sku: RETIRED, says: "inactive" },
      { sku: DOLLARS_ONLY, says: "not sold in EUR" },
    ];
    for (const { sku, says } of cases) {
      const req = alicesOrder({
        lines: [
          { sku: BOOK.sku, quantity: 1 },
          { sku, quantity: 1 },
        ],
      });
      const error = await refusal(orders.client.placeOrder(req));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(/^lines\[1\]\.sku: /);
      expect(error.rawMessage).toContain(says);
      expect(await storedUnder(req.idempotencyKey)).toBe(0);
    }
  });

  it("replays a placed order even after its price changed in the catalog", async () => {
    const sku = testSku("REPRICE");
    await putProduct(sku, { EUR: 300n });
    const req = alicesOrder({
      lines: [{ sku, quantity: 1, unitPrice: { currencyCode: "EUR", amountMinor: 300n } }],
    });
    const first = await orders.client.placeOrder(req);
    await putProduct(sku, { EUR: 350n });
    const again = await orders.client.placeOrder(req);
    expect(again.replayed).toBe(true);
    expect(again.order?.orderId).toBe(first.order?.orderId);
    expect(again.order?.total?.amountMinor).toBe(300n);
    // A new key at the old shown price is a new order, and the price has changed.
    const fresh = await refusal(orders.client.placeOrder({ ...req, idempotencyKey: `it-${randomUUID()}` }));
    expect(fresh.code).toBe(Code.FailedPrecondition);
  });
});

describe("checkout when the catalog cannot answer", () => {
  it("answers unavailable quickly, then at once from the open breaker, and stores nothing", async () => {
    const placedRequest = alicesOrder();
    const placedBefore = await orders.client.placeOrder(placedRequest);
    await catalog.stop();
    // Refused connections fail fast, each well inside the breaker's timeout,
    // until enough failures in its window open it (earlier successes count too).
    const breakerOpen = async () =>
      /breaker_state\{breaker="catalog"\} 2/.test(await fetch(`${orders.url}/metrics`).then((r) => r.text()));
    let attempts = 0;
    while (!(await breakerOpen())) {
      expect(attempts++).toBeLessThan(40);
      const req = alicesOrder();
      const t0 = performance.now();
      const error = await refusal(orders.client.placeOrder(req));
      expect(performance.now() - t0).toBeLessThan(2_000);
      expect(error.code).toBe(Code.Unavailable);
      expect(await storedUnder(req.idempotencyKey)).toBe(0);
    }
    expect(attempts).toBeGreaterThan(0);
    // Open: the catalog is not even called.
    const t0 = performance.now();
    expect((await refusal(orders.client.placeOrder(alicesOrder()))).code).toBe(Code.Unavailable);
    expect(performance.now() - t0).toBeLessThan(300);
    // A replay needs no catalog; reads go on.
    const replay = await orders.client.placeOrder(placedRequest);
    expect(replay.replayed).toBe(true);
    expect(replay.order?.orderId).toBe(placedBefore.order?.orderId);
    expect((await orders.client.getOrder({ orderId: placedBefore.order?.orderId ?? "" })).order?.status).toBe(
      OrderStatus.PENDING,
    );
  });
});

describe("checkout when the catalog is slow", () => {
  it("answers unavailable once the breaker's timeout passes, never waiting on the catalog, and stores nothing", async () => {
    // A catalog that takes the connection and never answers.
    const held = new Set<net.Socket>();
    const silent = net.createServer((socket) => held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      await orders.restart({ CATALOG_URL: `http://127.0.0.1:${port}`, ...BREAKER });
      const req = alicesOrder();
      const t0 = performance.now();
      const error = await refusal(orders.client.placeOrder(req));
      const took = performance.now() - t0;
      expect(error.code).toBe(Code.Unavailable);
      expect(error.rawMessage).toContain("did not answer within 800 ms");
      expect(took).toBeGreaterThanOrEqual(700);
      expect(took).toBeLessThan(3_000);
      expect(await storedUnder(req.idempotencyKey)).toBe(0);
      expect(held.size).toBeGreaterThan(0);
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });
});
