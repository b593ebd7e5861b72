import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhookPayloadSchema } from "#gen/accord/notifications/v1/tasks_pb.js";
import { type ConsumerPact, consumerPact, exactly, exactMoney, uuid } from "#test/support/pact-consumer.ts";
import { EVENT_ID, EVENT_TIME, ORDER_ID } from "./fixtures.ts";

const { like, regex } = MatchersV3;

// What a partner's webhook receiver relies on in the body notifications
// POSTs: the envelope (event id for deduplication, type, time, order) and
// the event itself as protobuf JSON under data.
let c: ConsumerPact;
beforeAll(async () => {
  c = await consumerPact("partner-webhook", "notifications");
});
afterAll(async () => {
  await c?.cleanup();
});

describe("partner-webhook <- notifications", () => {
  it("receives an OrderConfirmed webhook payload", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("a webhook payload for OrderConfirmed", (b) =>
        b.withMetadata({ contentType: "application/json" }).withJSONContent({
          eventId: uuid(EVENT_ID),
          eventType: exactly("accord.orders.v1.OrderConfirmed"),
          occurredAt: regex("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$", "2025-01-15T10:30:00Z"),
          orderId: uuid(ORDER_ID),
          data: { orderId: uuid(ORDER_ID), total: exactMoney("EUR", "2500"), shipmentId: like("0190f1a4") },
        }),
      )
      .executeTest(async (m) => {
        // A partner reading it with the published schema gets every field it relies on.
        const payload = fromJson(WebhookPayloadSchema, m.contents.content as JsonObject);
        expect(payload.eventId).toBe(EVENT_ID);
        expect(payload.eventType).toBe("accord.orders.v1.OrderConfirmed");
        expect(payload.occurredAt && new Date(Number(payload.occurredAt.seconds) * 1000).toISOString()).toBe(
          EVENT_TIME,
        );
        expect(payload.orderId).toBe(ORDER_ID);
        expect(payload.data).toMatchObject({
          orderId: ORDER_ID,
          total: { currencyCode: "EUR", amountMinor: "2500" },
        });
      });
  });

  it("matches the committed contracts/partner-webhook-notifications.json", () => c.checkCommitted());
});
