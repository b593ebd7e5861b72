import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MoneySchema } from "#gen/accord/common/v1/common_pb.js";
import { WebhookTaskSchema } from "#gen/accord/notifications/v1/tasks_pb.js";
import {
  OrderCancelledSchema,
  OrderConfirmedSchema,
  OrderDeliveredSchema,
  OrderFailedSchema,
  OrderPlacedSchema,
} from "#gen/accord/orders/v1/events_pb.js";
import { OrderSchema } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentCapturedSchema } from "#gen/accord/payments/v1/events_pb.js";
import { ShipmentCreatedSchema } from "#gen/accord/shipping/v1/events_pb.js";
import { type DecodedEvent, PoisonEventError } from "#lib/messaging/events.ts";
import { planTasks, taskIdFor } from "#services/notifications/src/domain/routing.ts";

const ORDER_ID = "0190f0c4-1111-7000-8000-000000000001";

function event<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  id = "evt-1",
): DecodedEvent {
  return {
    id,
    type: schema.typeName,
    source: "/accord/test",
    time: "2026-01-02T03:04:05.678Z",
    message,
    schema,
  };
}

const confirmed = () =>
  event(
    OrderConfirmedSchema,
    create(OrderConfirmedSchema, {
      orderId: ORDER_ID,
      customerId: "c-1",
      customerEmail: "ada@example.com",
      total: create(MoneySchema, { currencyCode: "EUR", amountMinor: 1999n }),
      paymentId: "p-1",
      shipmentId: "s-1",
    }),
  );

const channels = (e: DecodedEvent, subs: { subscriptionId: string; eventTypes: string[] }[] = []) =>
  planTasks(e, subs).tasks.map((t) => t.channel);

describe("planTasks routing", () => {
  it.each([
    ["OrderConfirmed", confirmed()],
    [
      "OrderFailed",
      event(
        OrderFailedSchema,
        create(OrderFailedSchema, { orderId: ORDER_ID, customerEmail: "ada@example.com" }),
      ),
    ],
    [
      "OrderCancelled",
      event(
        OrderCancelledSchema,
        create(OrderCancelledSchema, { orderId: ORDER_ID, customerEmail: "a@b.io" }),
      ),
    ],
  ])("%s emails the customer and records analytics", (_name, e) => {
    expect(channels(e)).toEqual(["email", "analytics"]);
  });

  it.each([
    ["OrderDelivered", event(OrderDeliveredSchema, create(OrderDeliveredSchema, { orderId: ORDER_ID }))],
    ["PaymentCaptured", event(PaymentCapturedSchema, create(PaymentCapturedSchema, { orderId: ORDER_ID }))],
    ["ShipmentCreated", event(ShipmentCreatedSchema, create(ShipmentCreatedSchema, { orderId: ORDER_ID }))],
    [
      "OrderPlaced (order id nested in the order)",
      event(
        OrderPlacedSchema,
        create(OrderPlacedSchema, { order: create(OrderSchema, { orderId: ORDER_ID }) }),
      ),
    ],
  ])("%s sends no email, only analytics", (_name, e) => {
    expect(channels(e)).toEqual(["analytics"]);
    expect(planTasks(e, []).orderId).toBe(ORDER_ID);
  });

  it("one webhook per matching subscription; empty event_types means all", () => {
    const subs = [
      { subscriptionId: "s-all", eventTypes: [] },
      { subscriptionId: "s-confirmed", eventTypes: [OrderConfirmedSchema.typeName] },
      { subscriptionId: "s-payments", eventTypes: [PaymentCapturedSchema.typeName] },
    ];
    const plan = planTasks(confirmed(), subs);
    expect(plan.tasks.map((t) => (t.channel === "webhook" ? t.subscriptionId : t.channel))).toEqual([
      "email",
      "s-all",
      "s-confirmed",
      "analytics",
    ]);
    const payment = event(PaymentCapturedSchema, create(PaymentCapturedSchema, { orderId: ORDER_ID }));
    expect(channels(payment, subs)).toEqual(["webhook", "webhook", "analytics"]);
  });

  it("the webhook payload carries the event as protobuf JSON (int64 as string), minimized", () => {
    const plan = planTasks(confirmed(), [{ subscriptionId: "s", eventTypes: [] }]);
    const hook = plan.tasks.find((t) => t.channel === "webhook");
    if (hook?.channel !== "webhook") throw new Error("no webhook task");
    // Survives the binary round trip the queue puts it through.
    const decoded = fromBinary(WebhookTaskSchema, toBinary(WebhookTaskSchema, hook.task));
    expect(decoded.payload?.eventId).toBe("evt-1");
    expect(decoded.payload?.eventType).toBe("accord.orders.v1.OrderConfirmed");
    expect(decoded.payload?.orderId).toBe(ORDER_ID);
    // No customer id, email or payment id: services/notifications/src/domain/entitlement.ts.
    expect(decoded.payload?.data).toEqual({
      orderId: ORDER_ID,
      total: { currencyCode: "EUR", amountMinor: "1999" },
      shipmentId: "s-1",
    });
  });

  it("task ids are stable per event, channel and subscription, and distinct across them", () => {
    const a = planTasks(confirmed(), [{ subscriptionId: "s", eventTypes: [] }]).tasks.map((t) => t.taskId);
    const b = planTasks(confirmed(), [{ subscriptionId: "s", eventTypes: [] }]).tasks.map((t) => t.taskId);
    expect(a).toEqual(b);
    expect(new Set(a).size).toBe(3);
    expect(taskIdFor("evt-1", "email")).not.toBe(taskIdFor("evt-2", "email"));
  });

  it("rejects an event without order id, and an email event without a usable address, as poison", () => {
    expect(() => planTasks(event(OrderDeliveredSchema, create(OrderDeliveredSchema, {})), [])).toThrow(
      PoisonEventError,
    );
    const noEmail = event(OrderConfirmedSchema, create(OrderConfirmedSchema, { orderId: ORDER_ID }));
    expect(() => planTasks(noEmail, [])).toThrow(/customer_email/);
  });
});
