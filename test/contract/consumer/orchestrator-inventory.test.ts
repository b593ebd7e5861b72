import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import {
  CONNECT_HTTP_STATUS,
  CONNECT_REQUEST_HEADERS,
  type ConsumerPact,
  connectPath,
  consumerPact,
  exactly,
  JSON_RESPONSE_HEADERS,
  stateIdempotencyKey,
  stateOrderId,
  uuid,
} from "#test/support/pact-consumer.ts";
import {
  FIRST_RESERVATION_ID,
  failureOf,
  ORDER_ID,
  ORDER_JSON,
  RESERVATION_ID,
  SKU,
  withActivities,
} from "./fixtures.ts";

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

const reserveRequestFor = (quantity: number) => ({
  idempotencyKey: stateIdempotencyKey("reserve", ORDER_ID),
  orderId: stateOrderId(ORDER_ID),
  items: eachLike({ sku: like(SKU), quantity: like(quantity) }),
});
const reserveRequest = reserveRequestFor(2);
/** The saga treats an answer without error as "held": the status must say so. */
const RESERVED = exactly("RESERVATION_STATUS_RESERVED");

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
          status: RESERVED,
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

  // A retried Reserve (same key, same items) must get the first reservation
  // back, even though the stock it took is gone now; never a second one.
  it("Reserve replayed with the same key and items answers the first reservation", async () => {
    await c.pact
      .addInteraction()
      .given("an order has a reservation", {
        sku: SKU,
        quantity: 2,
        reservationId: FIRST_RESERVATION_ID,
        availableAfter: 0,
      })
      .uponReceiving("Reserve replayed with the key and items of a held reservation")
      .withRequest("POST", connectPath(InventoryService, "Reserve"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(reserveRequest),
      )
      .willRespondWith(200, (b) =>
        b
          .headers(JSON_RESPONSE_HEADERS)
          .jsonBody({ reservationId: exactly(FIRST_RESERVATION_ID), status: RESERVED }),
      )
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) => h.activities.reserveInventory(ORDER_JSON));
        expect(res).toEqual({ reservationId: FIRST_RESERVATION_ID });
      });
  });

  it("Reserve with a used key and other items is refused with already_exists", async () => {
    const changed = { ...ORDER_JSON, lines: [{ sku: SKU, quantity: 3 }] };
    await c.pact
      .addInteraction()
      .given("an order has a reservation", { sku: SKU, quantity: 2 })
      .uponReceiving("Reserve with the key of a held reservation and other items")
      .withRequest("POST", connectPath(InventoryService, "Reserve"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(reserveRequestFor(3)),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.already_exists, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          code: "already_exists",
          message: regex("^idempotency_key: .+", "idempotency_key: already used for a different reservation"),
        }),
      )
      .executeTest(async (mock) => {
        const failure = await failureOf(
          withActivities(mock.url, (h) => h.activities.reserveInventory(changed)),
        );
        expect(failure.type).toBe("AlreadyExists");
        expect(failure.nonRetryable).toBe(true);
      });
  });

  it("Release replayed with the same key answers released=true again", async () => {
    await c.pact
      .addInteraction()
      .given("an order's reservation was released", { sku: SKU, quantity: 2, reason: "payment declined" })
      .uponReceiving("Release replayed with the key of a done release")
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

  it("matches the committed contracts/orchestrator-inventory.json", () => c.checkCommitted());
});
