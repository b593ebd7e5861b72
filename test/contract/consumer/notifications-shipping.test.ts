import { MatchersV3 } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ShipmentCancelledSchema,
  ShipmentCreatedSchema,
  ShipmentDeliveredSchema,
} from "#gen/accord/shipping/v1/events_pb.js";
import { type ConsumerPact, consumerPact, uuid } from "#test/support/pact-consumer.ts";
import { ORDER_ID, SHIPMENT_ID } from "./fixtures.ts";
import { channels, planFor, webhookData } from "./notifications-plan.ts";

const { like } = MatchersV3;

// Shipment facts go to analytics and to webhook subscribers, routed by order_id.
let c: ConsumerPact;
beforeAll(async () => {
  c = await consumerPact("notifications", "shipping");
});
afterAll(async () => {
  await c?.cleanup();
});

const meta = (type: string) => ({ ce_type: type, topic: "shipping.events" });
const base = { shipmentId: uuid(SHIPMENT_ID), orderId: uuid(ORDER_ID) };

describe("notifications <- shipping.events", () => {
  it("ShipmentCreated: analytics and webhook with carrier and tracking number", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("a ShipmentCreated event", (b) =>
        b
          .withMetadata(meta(ShipmentCreatedSchema.typeName))
          .withJSONContent({ ...base, carrier: like("accord-carrier"), trackingNumber: like("TRK123456") }),
      )
      .executeTest(async (m) => {
        const plan = planFor(ShipmentCreatedSchema, m);
        expect(plan.orderId).toBe(ORDER_ID);
        expect(channels(plan)).toEqual(["webhook", "analytics"]);
        expect(webhookData(plan)).toMatchObject({ trackingNumber: "TRK123456" });
      });
  });

  it("ShipmentCancelled: analytics and webhook with the reason", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("a ShipmentCancelled event", (b) =>
        b
          .withMetadata(meta(ShipmentCancelledSchema.typeName))
          .withJSONContent({ ...base, reason: like("cancelled by customer") }),
      )
      .executeTest(async (m) => {
        const plan = planFor(ShipmentCancelledSchema, m);
        expect(channels(plan)).toEqual(["webhook", "analytics"]);
      });
  });

  it("ShipmentDelivered: analytics and webhook", async () => {
    await c.pact
      .addAsynchronousInteraction()
      .expectsToReceive("a ShipmentDelivered event", (b) =>
        b.withMetadata(meta(ShipmentDeliveredSchema.typeName)).withJSONContent(base),
      )
      .executeTest(async (m) => {
        const plan = planFor(ShipmentDeliveredSchema, m);
        expect(plan.orderId).toBe(ORDER_ID);
        expect(channels(plan)).toEqual(["webhook", "analytics"]);
      });
  });

  it("matches the committed contracts/notifications-shipping.json", () => c.checkCommitted());
});
