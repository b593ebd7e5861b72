import { execFile } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService, PriceChangedSchema } from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import {
  CONNECT_HTTP_STATUS,
  CONNECT_REQUEST_HEADERS,
  type ConsumerPact,
  connectErrorBody,
  connectPath,
  consumerPact,
  enumOf,
  exactly,
  exactMoney,
  JSON_RESPONSE_HEADERS,
  money,
  stateOrderId,
  uuid,
} from "#test/support/pact-consumer.ts";
import { CUSTOMER_EMAIL, ORDER_ID, SKU, UNKNOWN_ORDER_ID } from "./fixtures.ts";

const { eachLike, like, regex } = MatchersV3;

// The CLI (scripts/accord.ts) run as the real command against the mock
// server: the contract is what `npm run accord -- ...` sends and reads. It
// logs in as alice for real (the dev-only password grant) and sends her
// token; the pact records the header with a matcher and a made-up example.
// A customer orders for herself: customer_id is her own id, the token's subject.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const TSX = path.join(ROOT, "node_modules/.bin/tsx");

function accord(url: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      [path.join(ROOT, "scripts/accord.ts"), ...args],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          ORDERS_URL: url,
          ACCORD_USER: "alice",
          ACCORD_PASSWORD: DEMO_USERS.alice.password,
          // No device login cached by a developer takes part.
          ACCORD_HOME: path.join(os.tmpdir(), "accord-cli-pact-home"),
        },
        timeout: 20_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let c: ConsumerPact;
beforeAll(async () => {
  c = await consumerPact("accord-cli", "orders");
});
afterAll(async () => {
  await c?.cleanup();
});

const stateId = stateOrderId(ORDER_ID);
/**
 * The order fields describeOrder prints, for the order the call is about:
 * the status it must be in, and its total (2 x 1250 EUR) in minor units.
 */
const order = (status: string) => ({
  orderId: uuid(ORDER_ID),
  status: exactly(status),
  total: exactMoney("EUR", "2500"),
});
/** Every status describeOrder names (UNSPECIFIED is never stored). */
const PRINTED_STATUSES = [
  "ORDER_STATUS_PENDING",
  "ORDER_STATUS_CONFIRMED",
  "ORDER_STATUS_FAILED",
  "ORDER_STATUS_CANCELLED",
  "ORDER_STATUS_DELIVERED",
  "ORDER_STATUS_CANCELLING",
];
/** Any order of a list: any status the CLI prints, any amount. */
const listedOrder = {
  orderId: uuid(ORDER_ID),
  status: enumOf(PRINTED_STATUSES, "ORDER_STATUS_PENDING"),
  total: money("EUR", "2500"),
};

const placeRequest = (email: string) => ({
  idempotencyKey: regex("^cli-[0-9a-f-]{36}$", "cli-0190f1a7-5555-4555-8555-555555555555"),
  customerId: like(DEMO_USERS.alice.id),
  customerEmail: like(email),
  // No price: the catalog prices the order (a shown price is --price's, below).
  lines: eachLike({ sku: like(SKU), quantity: like(2) }),
  shippingAddress: {
    recipientName: like("CLI Customer"),
    line1: like("Hauptstrasse 1"),
    city: like("Berlin"),
    postalCode: like("10115"),
    countryCode: regex("^[A-Z]{2}$", "DE"),
  },
  currencyCode: regex("^[A-Z]{3}$", "EUR"),
});

/** The catalog's price of SKU, which the provider state puts there. */
const CATALOG_PRICE = { sku: SKU, currencyCode: "EUR", amountMinor: "1250" };

/** The PriceChanged detail of a 1-cent shown price, as Connect JSON carries it (binary, base64). */
const PRICE_CHANGED_DETAIL = Buffer.from(
  toBinary(
    PriceChangedSchema,
    create(PriceChangedSchema, {
      lineIndex: 0,
      sku: SKU,
      shownPrice: { currencyCode: "EUR", amountMinor: 1n },
      currentPrice: { currencyCode: "EUR", amountMinor: 1250n },
    }),
  ),
)
  .toString("base64")
  .replace(/=+$/, "");

describe("accord-cli -> orders", () => {
  it("place: PlaceOrder answers the new pending order at the catalog's prices", async () => {
    await c.pact
      .addInteraction()
      .given("the catalog prices a SKU", CATALOG_PRICE)
      .uponReceiving("PlaceOrder for a valid order")
      .withRequest("POST", connectPath(OrderService, "PlaceOrder"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(placeRequest(CUSTOMER_EMAIL)),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          order: {
            ...order("ORDER_STATUS_PENDING"),
            // The CLI prints each line at the price the order was accepted at.
            lines: eachLike({ sku: like(SKU), quantity: like(2), unitPrice: exactMoney("EUR", "1250") }),
          },
        }),
      )
      .executeTest(async (mock) => {
        const out = await accord(mock.url, "place", "--item", `${SKU}:2`, "--email", CUSTOMER_EMAIL);
        expect(out.stderr).toBe("");
        expect(out.stdout).toContain(`${ORDER_ID}  PENDING  2500 EUR`);
        expect(out.stdout).toContain(`${SKU} x2 at 1250 EUR each`);
      });
  });

  it("place --price: a shown price the catalog no longer has is failed_precondition with the current price", async () => {
    await c.pact
      .addInteraction()
      .given("the catalog prices a SKU", CATALOG_PRICE)
      .uponReceiving("PlaceOrder with a shown price that is not the catalog's")
      .withRequest("POST", connectPath(OrderService, "PlaceOrder"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({
          ...placeRequest(CUSTOMER_EMAIL),
          // Its own example key: the verifier replays examples, and one key with two bodies is already_exists.
          idempotencyKey: regex("^cli-[0-9a-f-]{36}$", "cli-0190f1a7-6666-4666-8666-666666666666"),
          lines: eachLike({ sku: like(SKU), quantity: like(2), unitPrice: exactMoney("EUR", "1") }),
        }),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.failed_precondition, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          code: "failed_precondition",
          message: regex(
            "^lines\\[0\\]\\.unit_price: price changed .+",
            "lines[0].unit_price: price changed from 1 EUR to 1250 EUR (minor units)",
          ),
          details: [{ type: exactly("accord.orders.v1.PriceChanged"), value: like(PRICE_CHANGED_DETAIL) }],
        }),
      )
      .executeTest(async (mock) => {
        const out = await accord(
          mock.url,
          "place",
          "--item",
          `${SKU}:2`,
          "--price",
          "1",
          "--email",
          CUSTOMER_EMAIL,
        );
        expect(out.code).toBe(1);
        expect(out.stderr).toMatch(/^error: \[FailedPrecondition\] lines\[0\]\.unit_price: price changed/);
        expect(out.stderr).toContain(`line 0 ${SKU}: shown 1 EUR, now 1250 EUR`);
      });
  });

  it("place: PlaceOrder with a bad email is invalid_argument naming the field", async () => {
    await c.pact
      .addInteraction()
      .uponReceiving("PlaceOrder with an invalid customer email")
      .withRequest("POST", connectPath(OrderService, "PlaceOrder"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(placeRequest("not-an-email")),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.invalid_argument, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          code: "invalid_argument",
          message: regex("^customer_email: .+", "customer_email: must be an email address"),
        }),
      )
      .executeTest(async (mock) => {
        const out = await accord(mock.url, "place", "--item", `${SKU}:2`, "--email", "not-an-email");
        expect(out.code).toBe(1);
        expect(out.stderr).toMatch(/^error: \[\w+\] customer_email: /);
      });
  });

  it("get: GetOrder answers an existing order", async () => {
    await c.pact
      .addInteraction()
      .given("an order exists", { status: "PENDING" })
      .uponReceiving("GetOrder for an existing order")
      .withRequest("POST", connectPath(OrderService, "GetOrder"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({ orderId: stateId }),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({ order: order("ORDER_STATUS_PENDING") }),
      )
      .executeTest(async (mock) => {
        const out = await accord(mock.url, "get", ORDER_ID);
        expect(out.stdout).toContain(`${ORDER_ID}  PENDING`);
      });
  });

  it("get: GetOrder for an unknown order is not_found", async () => {
    await c.pact
      .addInteraction()
      .given("no order exists", { orderId: UNKNOWN_ORDER_ID })
      .uponReceiving("GetOrder for an unknown order")
      .withRequest("POST", connectPath(OrderService, "GetOrder"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({ orderId: uuid(UNKNOWN_ORDER_ID) }),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.not_found, (b) =>
        b
          .headers(JSON_RESPONSE_HEADERS)
          .jsonBody(connectErrorBody("not_found", `order ${UNKNOWN_ORDER_ID} not found`)),
      )
      .executeTest(async (mock) => {
        const out = await accord(mock.url, "get", UNKNOWN_ORDER_ID);
        expect(out.code).toBe(1);
        expect(out.stderr).toMatch(/^error: \[\w+\] order .+ not found/);
      });
  });

  it("cancel: CancelOrder asks to cancel a pending order", async () => {
    await c.pact
      .addInteraction()
      .given("an order exists", { status: "PENDING" })
      .uponReceiving("CancelOrder for a pending order")
      .withRequest("POST", connectPath(OrderService, "CancelOrder"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({ orderId: stateId, reason: like("changed my mind") }),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({ order: order("ORDER_STATUS_CANCELLING") }),
      )
      .executeTest(async (mock) => {
        const out = await accord(mock.url, "cancel", ORDER_ID, "--reason", "changed my mind");
        expect(out.stdout).toContain(`${ORDER_ID}  CANCELLING`);
      });
  });

  it("cancel: CancelOrder on a confirmed order is failed_precondition", async () => {
    await c.pact
      .addInteraction()
      .given("an order exists", { status: "CONFIRMED" })
      .uponReceiving("CancelOrder for a confirmed order")
      .withRequest("POST", connectPath(OrderService, "CancelOrder"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({ orderId: stateId, reason: like("too late") }),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.failed_precondition, (b) =>
        b
          .headers(JSON_RESPONSE_HEADERS)
          .jsonBody(
            connectErrorBody(
              "failed_precondition",
              `order ${ORDER_ID} is ORDER_STATUS_CONFIRMED and cannot become ORDER_STATUS_CANCELLING`,
            ),
          ),
      )
      .executeTest(async (mock) => {
        const out = await accord(mock.url, "cancel", ORDER_ID, "--reason", "too late");
        expect(out.code).toBe(1);
        expect(out.stderr).toMatch(/^error: \[\w+\] order .+ cannot become/);
      });
  });

  it("list: ListOrders answers a page of orders", async () => {
    await c.pact
      .addInteraction()
      .given("an order exists", { status: "PENDING" })
      .uponReceiving("ListOrders for the first page")
      .withRequest("POST", connectPath(OrderService, "ListOrders"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({ pageSize: like(20) }),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({ orders: eachLike(listedOrder) }),
      )
      .executeTest(async (mock) => {
        const out = await accord(mock.url, "list");
        expect(out.stdout).toContain(`${ORDER_ID}  PENDING`);
      });
  });

  it("matches the committed contracts/accord-cli-orders.json", () => c.checkCommitted());
});
