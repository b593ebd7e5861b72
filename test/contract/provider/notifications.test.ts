import { randomUUID } from "node:crypto";
import { create, type JsonValue, toJsonString } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { WebhookPayloadSchema } from "#gen/accord/notifications/v1/tasks_pb.js";
import { OrderConfirmedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { decodeEvent, encodeEvent, eventRegistry, sourceFor } from "#lib/messaging/events.ts";
import { planTasks } from "#services/notifications/src/domain/routing.ts";
import { pactSourceFromEnv, verifyProvider } from "#test/support/pact-verify.ts";

// notifications as a provider of webhook bodies to partners. The body is
// built on the service's real path: an event encoded and decoded with the
// shared envelope codec, routed by planTasks (the dispatcher's pure core),
// serialised with toJsonString as the webhook worker does before signing.
// The HTTP delivery around it is covered by test/integration/notifications-flow.

/** The exact body the webhook worker would POST for this event. */
function webhookBody(): JsonValue {
  const orderId = randomUUID();
  const encoded = encodeEvent(
    OrderConfirmedSchema,
    create(OrderConfirmedSchema, {
      orderId,
      customerId: "customer-42",
      customerEmail: "ada@example.com",
      total: { currencyCode: "EUR", amountMinor: 2500n },
      paymentId: randomUUID(),
      shipmentId: randomUUID(),
    }),
    { source: sourceFor("orders"), key: orderId },
  );
  const event = decodeEvent(eventRegistry, { value: encoded.value, headers: encoded.headers });
  const plan = planTasks(event, [
    { subscriptionId: randomUUID(), eventTypes: [OrderConfirmedSchema.typeName] },
  ]);
  const webhook = plan.tasks.find((t) => t.channel === "webhook");
  if (webhook?.channel !== "webhook" || !webhook.task.payload) throw new Error("no webhook task planned");
  return JSON.parse(toJsonString(WebhookPayloadSchema, webhook.task.payload)) as JsonValue;
}

describe("notifications provider (webhook payloads)", () => {
  it("builds a body a partner can read", () => {
    expect(webhookBody()).toMatchObject({ eventType: OrderConfirmedSchema.typeName });
  });

  it("honours the partner-webhook pact", async () => {
    await verifyProvider({
      provider: "notifications",
      source: await pactSourceFromEnv("notifications"),
      messageProviders: {
        "a webhook payload for OrderConfirmed": async () => webhookBody(),
      },
    });
  });
});
