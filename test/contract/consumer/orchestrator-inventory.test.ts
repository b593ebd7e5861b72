import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import {
  CONNECT_HTTP_STATUS,
  CONNECT_REQUEST_HEADERS,
  type ConsumerPact,
  connectPath,
  consumerPact,
  enumName,
  JSON_RESPONSE_HEADERS,
  stateIdempotencyKey,
  stateOrderId,
  uuid,
} from "#test/support/pact-consumer.ts";
import { failureOf, ORDER_ID, ORDER_JSON, RESERVATION_ID, SKU, withActivities } from "./fixtures.ts";

const { eachLike, like, regex } = MatchersV3;

// The saga's inventory steps (Reserve) and compensation (Release), driven
// through the orchestrator's real activities.
let c: ConsumerPact;
beforeAll(async () => {
  c = await consumerPact("orchestrator", "inventory");
});
afterAll(async () => {
  await c?.cleanup();
});

const reserveRequest = {
  idempotencyKey: stateIdempotencyKey("reserve", ORDER_ID),
  orderId: stateOrderId(ORDER_ID),
  items: eachLike({ sku: like(SKU), quantity: like(2) }),
};

describe("orchestrator -> inventory", () => {
  it("Reserve takes the order's items and answers the reservation", async () => {
    await c.pact
      .addInteraction()
      .given("a SKU has stock", { sku: SKU, available: 10 })
      .uponReceiving("Reserve for an order whose items are in stock")
      .withRequest("POST", connectPath(InventoryService, "Reserve"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(reserveRequest),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          reservationId: uuid(RESERVATION_ID),
          status: enumName("RESERVATION_STATUS", "RESERVATION_STATUS_RESERVED"),
        }),
      )
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) => h.activities.reserveInventory(ORDER_JSON));
        expect(res).toEqual({ reservationId: RESERVATION_ID });
      });
  });

  it("Reserve refuses an order it cannot fill with failed_precondition", async () => {
    await c.pact
      .addInteraction()
      .given("a SKU has stock", { sku: SKU, available: 0 })
      .uponReceiving("Reserve for an order whose items are out of stock")
      .withRequest("POST", connectPath(InventoryService, "Reserve"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(reserveRequest),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.failed_precondition, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          code: "failed_precondition",
          message: regex("^out of stock: .+", "out of stock: BOOK-001"),
        }),
      )
      .executeTest(async (mock) => {
        const failure = await failureOf(
          withActivities(mock.url, (h) => h.activities.reserveInventory(ORDER_JSON)),
        );
        // The workflow tells "out of stock" from transient failures by this type.
        expect(failure.type).toBe("FailedPrecondition");
        expect(failure.nonRetryable).toBe(true);
      });
  });

  it("Release gives back the order's reservation", async () => {
    await c.pact
      .addInteraction()
      .given("an order has a reservation", { sku: SKU, quantity: 2 })
      .uponReceiving("Release for an order with a reservation")
      .withRequest("POST", connectPath(InventoryService, "Release"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({
          idempotencyKey: stateIdempotencyKey("release", ORDER_ID),
          orderId: stateOrderId(ORDER_ID),
          reason: like("payment declined"),
        }),
      )
      .willRespondWith(200, (b) => b.headers(JSON_RESPONSE_HEADERS).jsonBody({ released: true }))
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) =>
          h.activities.releaseInventory(ORDER_ID, "payment declined"),
        );
        expect(res).toEqual({ released: true });
      });
  });

  it("Release with nothing to give back succeeds harmlessly (released omitted = false)", async () => {
    await c.pact
      .addInteraction()
      .given("an order has no reservation")
      .uponReceiving("Release for an order without a reservation")
      .withRequest("POST", connectPath(InventoryService, "Release"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({
          idempotencyKey: stateIdempotencyKey("release", ORDER_ID),
          orderId: stateOrderId(ORDER_ID),
          reason: like("cancelled by customer"),
        }),
      )
      // proto3 JSON leaves out false: the body is {} and must not carry released=true.
      .willRespondWith(200, (b) => b.headers(JSON_RESPONSE_HEADERS).jsonBody({}))
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) =>
          h.activities.releaseInventory(ORDER_ID, "cancelled by customer"),
        );
        expect(res).toEqual({ released: false });
      });
  });

  it("matches the committed contracts/orchestrator-inventory.json", () => c.checkCommitted());
});
