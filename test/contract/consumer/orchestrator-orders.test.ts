import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderCancellationRequestedSchema, OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
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
import {
  ADDRESS,
  CUSTOMER_EMAIL,
  CUSTOMER_ID,
  failureOf,
  ORDER_ID,
  PAYMENT_ID,
  SHIPMENT_ID,
  SKU,
  UNKNOWN_ORDER_ID,
  withActivities,
} from "./fixtures.ts";
import { bridgeWithRecorder, consumedRecord, decodedEvent } from "./orchestrator-bridge.ts";

const { eachLike, like, regex } = MatchersV3;

// The saga's status updates on orders (through the real activities) and the
// two order events the bridge reads (through the real bridge handler).
let c: ConsumerPact;
beforeAll(async () => {
  c = await consumerPact("orchestrator", "orders");
});
afterAll(async () => {
  await c?.cleanup();
});

/** The order id comes from the provider state: the provider makes the order, then says its id. */
const stateId = stateOrderId(ORDER_ID);
/** The status the call must have moved the order to: exactly that one, not any well-formed status. */
const orderIn = (status: string) => ({
  order: { orderId: uuid(ORDER_ID), status: exactly(status) },
});
/** FailOrder's failure codes, as the saga's FailureCategory names them. */
const SAGA_FAILURE_CODES = [
  "FAILURE_CODE_OUT_OF_STOCK",
  "FAILURE_CODE_PAYMENT_DECLINED",
  "FAILURE_CODE_SHIPPING_FAILED",
  "FAILURE_CODE_OTHER",
];

describe("orchestrator -> orders (RPC)", () => {
  it("ConfirmOrder confirms a pending order", async () => {
    await c.pact
      .addInteraction()
      .given("an order exists", { status: "PENDING" })
      .uponReceiving("ConfirmOrder for a pending order")
      .withRequest("POST", connectPath(OrderService, "ConfirmOrder"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({
          orderId: stateId,
          paymentId: like(PAYMENT_ID),
          shipmentId: like(SHIPMENT_ID),
        }),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody(orderIn("ORDER_STATUS_CONFIRMED")),
      )
      .executeTest(async (mock) => {
        await withActivities(mock.url, (h) => h.activities.confirmOrder(ORDER_ID, PAYMENT_ID, SHIPMENT_ID));
      });
  });

  it("ConfirmOrder for an unknown order is not_found", async () => {
    await c.pact
      .addInteraction()
      .given("no order exists", { orderId: UNKNOWN_ORDER_ID })
      .uponReceiving("ConfirmOrder for an unknown order")
      .withRequest("POST", connectPath(OrderService, "ConfirmOrder"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({
          orderId: uuid(UNKNOWN_ORDER_ID),
          paymentId: like(PAYMENT_ID),
          shipmentId: like(SHIPMENT_ID),
        }),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.not_found, (b) =>
        b
          .headers(JSON_RESPONSE_HEADERS)
          .jsonBody(connectErrorBody("not_found", `order ${UNKNOWN_ORDER_ID} not found`)),
      )
      .executeTest(async (mock) => {
        const failure = await failureOf(
          withActivities(mock.url, (h) =>
            h.activities.confirmOrder(UNKNOWN_ORDER_ID, PAYMENT_ID, SHIPMENT_ID),
          ),
        );
        expect(failure.type).toBe("NotFound");
        expect(failure.nonRetryable).toBe(true);
      });
  });

  it("FailOrder marks a pending order failed with a failure code", async () => {
    await c.pact
      .addInteraction()
      .given("an order exists", { status: "PENDING" })
      .uponReceiving("FailOrder for a pending order")
      .withRequest("POST", connectPath(OrderService, "FailOrder"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({
          orderId: stateId,
          failureCode: enumOf(SAGA_FAILURE_CODES, "FAILURE_CODE_PAYMENT_DECLINED"),
          reason: like("payment declined: insufficient_funds"),
        }),
      )
      .willRespondWith(200, (b) => b.headers(JSON_RESPONSE_HEADERS).jsonBody(orderIn("ORDER_STATUS_FAILED")))
      .executeTest(async (mock) => {
        await withActivities(mock.url, (h) =>
          h.activities.failOrder(ORDER_ID, "PAYMENT_DECLINED", "payment declined: insufficient_funds"),
        );
      });
  });

  it("MarkOrderCancelled completes a cancellation", async () => {
    await c.pact
      .addInteraction()
      .given("an order exists", { status: "CANCELLING" })
      .uponReceiving("MarkOrderCancelled for an order being cancelled")
      .withRequest("POST", connectPath(OrderService, "MarkOrderCancelled"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({ orderId: stateId }),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody(orderIn("ORDER_STATUS_CANCELLED")),
      )
      .executeTest(async (mock) => {
        await withActivities(mock.url, (h) => h.activities.markOrderCancelled(ORDER_ID));
      });
  });

  it("MarkOrderCancelled refuses a confirmed order with failed_precondition", async () => {
    await c.pact
      .addInteraction()
      .given("an order exists", { status: "CONFIRMED" })
      .uponReceiving("MarkOrderCancelled for a confirmed order")
      .withRequest("POST", connectPath(OrderService, "MarkOrderCancelled"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({ orderId: stateId }),
      )
      .willRespondWith(CONNECT_HTTP_STATUS.failed_precondition, (b) =>
        b
          .headers(JSON_RESPONSE_HEADERS)
          .jsonBody(
            connectErrorBody(
              "failed_precondition",
              `order ${ORDER_ID} is ORDER_STATUS_CONFIRMED and cannot become ORDER_STATUS_CANCELLED`,
            ),
          ),
      )
      .executeTest(async (mock) => {
        const failure = await failureOf(
          withActivities(mock.url, (h) => h.activities.markOrderCancelled(ORDER_ID)),
        );
        expect(failure.type).toBe("FailedPrecondition");
      });
  });

  it("MarkOrderDelivered marks a confirmed order delivered", async () => {
    await c.pact
      .addInteraction()
      .given("an order exists", { status: "CONFIRMED" })
      .uponReceiving("MarkOrderDelivered for a confirmed order")
      .withRequest("POST", connectPath(OrderService, "MarkOrderDelivered"), (b) =>
        b.headers(CONNECT_REQUEST_HEADERS).jsonBody({ orderId: stateId }),
      )
      .willRespondWith(200, (b) =>
        b.headers(JSON_RESPONSE_HEADERS).jsonBody(orderIn("ORDER_STATUS_DELIVERED")),
      )
      .executeTest(async (mock) => {
        await withActivities(mock.url, (h) => h.activities.markOrderDelivered(ORDER_ID));
      });
  });
});

describe("orchestrator <- orders.events", () => {
  it("reads OrderPlaced and starts the order's saga with the order", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("an OrderPlaced event", (b) =>
        b.withMetadata({ ce_type: OrderPlacedSchema.typeName, topic: "orders.events" }).withJSONContent({
          // What the saga's activities read from the order, nothing more. The
          // provider places 2 x BOOK-001 at 1250 EUR: the total the saga
          // charges is 2500 minor units exactly, and the saga starts only for
          // a PENDING order.
          order: {
            orderId: uuid(ORDER_ID),
            customerId: like(CUSTOMER_ID),
            customerEmail: like(CUSTOMER_EMAIL),
            lines: eachLike({ sku: like(SKU), quantity: like(2), unitPrice: money("EUR", "1250") }),
            total: exactMoney("EUR", "2500"),
            shippingAddress: {
              recipientName: like(ADDRESS.recipientName),
              line1: like(ADDRESS.line1),
              city: like(ADDRESS.city),
              postalCode: like(ADDRESS.postalCode),
              countryCode: regex("^[A-Z]{2}$", ADDRESS.countryCode),
            },
            status: exactly("ORDER_STATUS_PENDING"),
          },
        }),
      )
      .executeTest(async (m) => {
        const message = fromJson(OrderPlacedSchema, m.contents.content as JsonObject);
        const { handle, calls } = bridgeWithRecorder();
        await handle(decodedEvent(OrderPlacedSchema, message), consumedRecord("orders.events", ORDER_ID));
        expect(calls).toHaveLength(1);
        const call = calls[0];
        expect(call).toMatchObject({ kind: "start", workflowId: `order-${ORDER_ID}` });
        if (call?.kind !== "start") throw new Error("expected a workflow start");
        const input = call.args[0] as { orderId: string; order: JsonObject };
        expect(input.orderId).toBe(ORDER_ID);
        // The workflow input is what the activities get: it must carry what they send downstream.
        expect(input.order).toMatchObject({
          orderId: ORDER_ID,
          customerId: CUSTOMER_ID,
          total: { currencyCode: "EUR", amountMinor: "2500" },
          lines: [{ sku: SKU, quantity: 2 }],
          shippingAddress: { countryCode: "DE" },
        });
      });
  });

  it("reads OrderCancellationRequested and signals cancel with the reason", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("an OrderCancellationRequested event", (b) =>
        b
          .withMetadata({ ce_type: OrderCancellationRequestedSchema.typeName, topic: "orders.events" })
          .withJSONContent({ orderId: uuid(ORDER_ID), reason: like("changed my mind") }),
      )
      .executeTest(async (m) => {
        const message = fromJson(OrderCancellationRequestedSchema, m.contents.content as JsonObject);
        const { handle, calls } = bridgeWithRecorder();
        await handle(
          decodedEvent(OrderCancellationRequestedSchema, message),
          consumedRecord("orders.events", ORDER_ID),
        );
        expect(calls).toEqual([
          {
            kind: "signal",
            workflowId: `order-${ORDER_ID}`,
            signal: "cancel",
            args: [{ reason: "changed my mind" }],
          },
        ]);
      });
  });

  it("matches the committed contracts/orchestrator-orders.json", () => c.checkCommitted());
});
