import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ShipmentDeliveredSchema } from "#gen/accord/shipping/v1/events_pb.js";
import { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
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
  ADDRESS,
  CANCELLED_SHIPMENT_ID,
  FIRST_SHIPMENT_ID,
  failureOf,
  ORDER_ID,
  ORDER_JSON,
  SHIPMENT_ID,
  SKU,
  withActivities,
} from "./fixtures.ts";
import { bridgeWithRecorder, consumedRecord, decodedEvent } from "./orchestrator-bridge.ts";

const { eachLike, like, regex } = MatchersV3;

// CreateShipment (saga step), CancelShipment (its compensation) and the
// ShipmentDelivered event the bridge turns into a "delivered" signal.
let c: ConsumerPact;
beforeAll(async () => {
  c = await consumerPact("orchestrator", "shipping");
});
afterAll(async () => {
  await c?.cleanup();
});

const createRequest = (countryCode: string, postalCode: string = ADDRESS.postalCode) => ({
  idempotencyKey: stateIdempotencyKey("ship", ORDER_ID),
  orderId: stateOrderId(ORDER_ID),
  address: {
    recipientName: like(ADDRESS.recipientName),
    line1: like(ADDRESS.line1),
    city: like(ADDRESS.city),
    postalCode: like(postalCode),
    countryCode: regex("^[A-Z]{2}$", countryCode),
  },
  items: eachLike({ sku: like(SKU), quantity: like(2) }),
});

const cancelRequest = {
  idempotencyKey: stateIdempotencyKey("cancel-shipment", ORDER_ID),
  orderId: stateOrderId(ORDER_ID),
  reason: like("cancelled by customer"),
};

describe("orchestrator -> shipping", () => {
  it("CreateShipment books the order and answers the shipment id", async () => {
    await c.pact
      .addInteraction()
      .given("the carrier accepts bookings")
      .uponReceiving("CreateShipment for an order to a served country")
      .withRequest("POST", connectPath(ShippingService, "CreateShipment"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(createRequest("DE")),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({ shipment: { shipmentId: uuid(SHIPMENT_ID) } }),
      )
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) => h.activities.createShipment(ORDER_JSON));
        expect(res).toEqual({ shipmentId: SHIPMENT_ID });
      });
  });

  it("CreateShipment answers a carrier refusal with failed_precondition", async () => {
    const unserved = { ...ORDER_JSON, shippingAddress: { ...ADDRESS, countryCode: "AQ" } };
    await c.pact
      .addInteraction()
      .given("the carrier does not serve AQ")
      .uponReceiving("CreateShipment for an order to a country the carrier does not serve")
      .withRequest("POST", connectPath(ShippingService, "CreateShipment"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(createRequest("AQ")),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.failed_precondition, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          code: "failed_precondition",
          message: regex("^carrier refused: .+", "carrier refused: no service to AQ"),
        }),
      )
      .executeTest(async (mock) => {
        const failure = await failureOf(
          withActivities(mock.url, (h) => h.activities.createShipment(unserved)),
        );
        expect(failure.type).toBe("FailedPrecondition");
        expect(failure.nonRetryable).toBe(true);
      });
  });

  it("CancelShipment cancels the order's booked shipment", async () => {
    await c.pact
      .addInteraction()
      .given("an order has a booked shipment")
      .uponReceiving("CancelShipment for an order with a booked shipment")
      .withRequest("POST", connectPath(ShippingService, "CancelShipment"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(cancelRequest),
      )
      .willRespondWith(200, (b) =>
        b
          .headers(JSON_RESPONSE_HEADERS)
          .jsonBody({ shipment: { shipmentId: uuid(SHIPMENT_ID) }, cancelled: true }),
      )
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) =>
          h.activities.cancelShipment(ORDER_ID, "cancelled by customer"),
        );
        expect(res).toEqual({ cancelled: true });
      });
  });

  it("CancelShipment with no shipment succeeds harmlessly (cancelled omitted = false)", async () => {
    await c.pact
      .addInteraction()
      .given("an order has no shipment")
      .uponReceiving("CancelShipment for an order without a shipment")
      .withRequest("POST", connectPath(ShippingService, "CancelShipment"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(cancelRequest),
      )
      .willRespondWith(200, (b) => b.headers(JSON_RESPONSE_HEADERS).jsonBody({}))
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) =>
          h.activities.cancelShipment(ORDER_ID, "cancelled by customer"),
        );
        expect(res).toEqual({ cancelled: false });
      });
  });

  // A retried CreateShipment (same key, same body) must answer the shipment
  // booked first, never book a second one.
  it("CreateShipment replayed with the same key and body answers the first shipment", async () => {
    await c.pact
      .addInteraction()
      .given("an order has a booked shipment", { shipmentId: FIRST_SHIPMENT_ID })
      .uponReceiving("CreateShipment replayed with the key and body of a booked shipment")
      .withRequest("POST", connectPath(ShippingService, "CreateShipment"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(createRequest("DE")),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({ shipment: { shipmentId: exactly(FIRST_SHIPMENT_ID) } }),
      )
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) => h.activities.createShipment(ORDER_JSON));
        expect(res).toEqual({ shipmentId: FIRST_SHIPMENT_ID });
      });
  });

  it("CreateShipment with a used key and another address is refused with already_exists", async () => {
    const moved = { ...ORDER_JSON, shippingAddress: { ...ADDRESS, postalCode: "10117" } };
    await c.pact
      .addInteraction()
      .given("an order has a booked shipment")
      .uponReceiving("CreateShipment with the key of a booked shipment and another address")
      .withRequest("POST", connectPath(ShippingService, "CreateShipment"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(createRequest("DE", "10117")),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.already_exists, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody({
          code: "already_exists",
          message: regex(
            "^idempotency_key: .+",
            "idempotency_key: already used for a different shipment request",
          ),
        }),
      )
      .executeTest(async (mock) => {
        const failure = await failureOf(withActivities(mock.url, (h) => h.activities.createShipment(moved)));
        expect(failure.type).toBe("AlreadyExists");
        expect(failure.nonRetryable).toBe(true);
      });
  });

  it("CancelShipment replayed with the same key answers the first cancellation", async () => {
    await c.pact
      .addInteraction()
      .given("an order's shipment was cancelled", { shipmentId: CANCELLED_SHIPMENT_ID })
      .uponReceiving("CancelShipment replayed with the key of a done cancellation")
      .withRequest("POST", connectPath(ShippingService, "CancelShipment"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody(cancelRequest),
      )
      .willRespondWith(200, (b) =>
        b
          .headers(JSON_RESPONSE_HEADERS)
          .jsonBody({ shipment: { shipmentId: exactly(CANCELLED_SHIPMENT_ID) }, cancelled: true }),
      )
      .executeTest(async (mock) => {
        const res = await withActivities(mock.url, (h) =>
          h.activities.cancelShipment(ORDER_ID, "cancelled by customer"),
        );
        expect(res).toEqual({ cancelled: true });
      });
  });

  it("reads ShipmentDelivered and signals the order's saga", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("a ShipmentDelivered event", (b) =>
        b
          .withMetadata({ ce_type: ShipmentDeliveredSchema.typeName, topic: "shipping.events" })
          .withJSONContent({ shipmentId: uuid(SHIPMENT_ID), orderId: uuid(ORDER_ID) }),
      )
      .executeTest(async (m) => {
        const message = fromJson(ShipmentDeliveredSchema, m.contents.content as JsonObject);
        const { handle, calls } = bridgeWithRecorder();
        await handle(
          decodedEvent(ShipmentDeliveredSchema, message),
          consumedRecord("shipping.events", ORDER_ID),
        );
        expect(calls).toEqual([
          { kind: "signal", workflowId: `order-${ORDER_ID}`, signal: "delivered", args: [] },
        ]);
      });
  });

  it("matches the committed contracts/orchestrator-shipping.json", () => c.checkCommitted());
});
