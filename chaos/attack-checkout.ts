import { randomUUID } from "node:crypto";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { ensureProducts, testSku } from "#test/support/catalog.ts";
import { bearerFor } from "#test/support/identity.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";
import type { CaseResult } from "./attack.ts";
import { type Answer, call, describeAnswer, type Wire } from "./attack-wire.ts";

/**
 * The checkout attack cases of issue 11, against an orders process and a
 * catalog process of this run's own, sent as raw Connect and gRPC calls with
 * alice's real token: an order for a book at 1 cent, a stale (changed) price,
 * an unknown SKU, an inactive one and one not sold in the order's currency.
 * Each case then looks in orders' database: a refused order must leave no
 * order row and no OrderPlaced outbox row, so no saga starts and nothing is
 * charged; a right code with an order stored is still a breach.
 */

const GROUP = "checkout";
/** The catalog's price of the run's book, in EUR minor units. */
const BOOK_PRICE = 1250n;

export async function attackCheckout(log: (line: string) => void, tag: string): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  let catalog: ServiceUnderTest<"catalog"> | undefined;
  let orders: ServiceUnderTest<"orders"> | undefined;
  try {
    const runTag = `attackcheckout${tag.replace(/[^a-z0-9]/g, "")}`;
    catalog = await startServiceUnderTest("catalog", { tag: runTag });
    const book = testSku("ATTACK-BOOK");
    const retired = testSku("ATTACK-RETIRED");
    const dollars = testSku("ATTACK-USD");
    await ensureProducts(catalog.url, [
      { sku: book, prices: { EUR: BOOK_PRICE } },
      { sku: retired, prices: { EUR: 100n }, active: false },
      { sku: dollars, prices: { USD: 100n } },
    ]);
    orders = await startServiceUnderTest("orders", {
      tag: runTag,
      // Under "chaos-": the sandbox prefix Kafka's ACL table grants command-line runs.
      topicPrefix: `chaos-attack-checkout-${tag}.`,
      env: { CATALOG_URL: catalog.url },
    });
    const pool = orders.pool;
    const alice = await bearerFor("alice", "orders");

    const stored = async (key: string) => {
      const { rows } = await pool.query<{ orders: number; events: number }>(
        `SELECT (SELECT count(*)::int FROM orders WHERE idempotency_key = $1) AS orders,
                (SELECT count(*)::int FROM outbox) AS events`,
        [key],
      );
      return rows[0] ?? { orders: -1, events: -1 };
    };
    const place = (key: string, line: Record<string, unknown>, wire: Wire) =>
      call(
        orders?.url ?? "",
        OrderService.method.placeOrder,
        {
          idempotencyKey: key,
          customerId: DEMO_USERS.alice.id,
          customerEmail: "alice@example.com",
          currencyCode: "EUR",
          lines: [{ quantity: 1, ...line }],
          shippingAddress: { line1: "Teststrasse 1", city: "Berlin", postalCode: "10115", countryCode: "DE" },
        },
        alice,
        wire,
      );
    const attempt = async (c: {
      name: string;
      sent: string;
      line: Record<string, unknown>;
      wire: Wire;
      expected: string;
      code: string;
      /** What the refusal must name. */
      names: RegExp;
    }) => {
      const key = `attack-${randomUUID()}`;
      const before = await stored(key);
      const answer: Answer = await place(key, c.line, c.wire);
      const after = await stored(key);
      const nothingStored = after.orders === 0 && after.events === before.events;
      const pass = answer.code === c.code && c.names.test(answer.message) && nothingStored;
      results.push({
        group: GROUP,
        name: c.name,
        sent: c.sent,
        expected: c.expected,
        actual: describeAnswer(answer),
        state: `${after.orders} orders under the key, ${after.events - before.events} new outbox rows`,
        pass,
      });
      log(`[attack] ${pass ? "ok    " : "FAILED"} ${GROUP}: ${c.name} -> ${describeAnswer(answer)}`);
    };

    const cent = { currencyCode: "EUR", amountMinor: "1" };
    for (const wire of ["connect", "grpc"] as const) {
      await attempt({
        name: `the 1-cent order over ${wire === "grpc" ? "gRPC" : "Connect"}`,
        sent: `orders PlaceOrder {1 x ${book} at unit_price 1 EUR cent (catalog: ${BOOK_PRICE})}, alice's real token, ${wire}`,
        line: { sku: book, unitPrice: cent },
        wire,
        expected:
          "failed_precondition (HTTP 400) lines[0].unit_price: price changed; no order, no OrderPlaced",
        code: "failed_precondition",
        names: /^lines\[0\]\.unit_price: price changed/,
      });
    }
    await attempt({
      name: "a changed price (the one shown before a price rise)",
      sent: `orders PlaceOrder {1 x ${book} at unit_price ${BOOK_PRICE - 100n} EUR minor (catalog: ${BOOK_PRICE})}, alice's real token`,
      line: { sku: book, unitPrice: { currencyCode: "EUR", amountMinor: String(BOOK_PRICE - 100n) } },
      wire: "connect",
      expected: "failed_precondition (HTTP 400) lines[0].unit_price: price changed; no order",
      code: "failed_precondition",
      names: /^lines\[0\]\.unit_price: price changed/,
    });
    await attempt({
      name: "the right amount in a cheaper currency",
      sent: `orders PlaceOrder {EUR order, 1 x ${book} at unit_price ${BOOK_PRICE} JPY}, alice's real token`,
      line: { sku: book, unitPrice: { currencyCode: "JPY", amountMinor: String(BOOK_PRICE) } },
      wire: "connect",
      expected: "failed_precondition (HTTP 400) lines[0].unit_price: price changed; no order",
      code: "failed_precondition",
      names: /^lines\[0\]\.unit_price: price changed/,
    });
    const refusedSkus = [
      { what: "an unknown SKU", sku: testSku("ATTACK-NOPE") },
      { what: "an inactive SKU", sku: retired },
      { what: "a SKU not sold in the order's currency", sku: dollars },
    ];
    for (const { what, sku } of refusedSkus) {
      await attempt({
        name: `${what}, priced by the client at 1 cent`,
        sent: `orders PlaceOrder {1 x ${sku} at unit_price 1 EUR cent}, alice's real token`,
        line: { sku, unitPrice: cent },
        wire: "connect",
        expected: "invalid_argument (HTTP 400) lines[0].sku; no order",
        code: "invalid_argument",
        names: /^lines\[0\]\.sku: /,
      });
    }
  } finally {
    await orders?.stop().catch(() => null);
    await catalog?.stop().catch(() => null);
  }
  return results;
}
