import { randomUUID } from "node:crypto";
import { toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ListWebhookSubscriptionsResponseSchema,
  NotificationService,
} from "#gen/accord/notifications/v1/notifications_pb.js";
import { createNotificationService } from "#services/notifications/src/notification-service.ts";
import { type HandlersUnderTest, startHandlersUnderTest } from "#test/support/handlers-under-test.ts";

// The NotificationService handlers in this process, on a migrated database
// of their own, called with the generated client through createRouterTransport.
// The Kafka dispatcher and the RabbitMQ workers are notifications-flow.test.ts's.
// Its RPCs keep no idempotency keys: each create makes a subscription.
let notifications: HandlersUnderTest<typeof NotificationService>;

beforeAll(async () => {
  notifications = await startHandlersUnderTest({
    name: "notifications",
    service: NotificationService,
    handlers: ({ pool, logger }) => createNotificationService({ pool, logger }),
  });
});

afterAll(async () => {
  await notifications?.stop();
});

const failure = (e: unknown) => ConnectError.from(e);

describe("notifications handlers in process", () => {
  it("creates a subscription, returns its secret once, lists it without the secret and deletes it", async () => {
    const created = await notifications.client.createWebhookSubscription({
      url: "https://partner.example/hooks/accord",
      eventTypes: ["accord.orders.v1.OrderConfirmed"],
    });
    expect(created.signingSecret).toMatch(/^whsec_/);
    const subscriptionId = created.subscription?.subscriptionId ?? "";
    expect(created.subscription?.eventTypes).toEqual(["accord.orders.v1.OrderConfirmed"]);

    const listed = await notifications.client.listWebhookSubscriptions({});
    expect(listed.subscriptions.map((s) => s.subscriptionId)).toContain(subscriptionId);
    expect(toJsonString(ListWebhookSubscriptionsResponseSchema, listed)).not.toContain(created.signingSecret);

    await notifications.client.deleteWebhookSubscription({ subscriptionId });
    const after = await notifications.client.listWebhookSubscriptions({});
    expect(after.subscriptions.map((s) => s.subscriptionId)).not.toContain(subscriptionId);
    const again = await notifications.client.deleteWebhookSubscription({ subscriptionId }).catch(failure);
    expect((again as ConnectError).code).toBe(Code.NotFound);
  });

  it("answers InvalidArgument naming the fields", async () => {
    const bad = await notifications.client
      .createWebhookSubscription({ url: "ftp://x.example", eventTypes: ["Nope"] })
      .catch(failure);
    expect(bad).toBeInstanceOf(ConnectError);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).rawMessage).toContain("url: must use http or https");
    expect((bad as ConnectError).rawMessage).toContain("event_types[0]");

    const noOrder = await notifications.client.listDeliveries({ orderId: " " }).catch(failure);
    expect((noOrder as ConnectError).code).toBe(Code.InvalidArgument);
    expect((noOrder as ConnectError).rawMessage).toContain("order_id");
    const badId = await notifications.client
      .deleteWebhookSubscription({ subscriptionId: "nope" })
      .catch(failure);
    expect((badId as ConnectError).code).toBe(Code.InvalidArgument);
    expect((badId as ConnectError).rawMessage).toContain("subscription_id");
  });

  it("lists no deliveries for an order it never notified about", async () => {
    const { deliveries } = await notifications.client.listDeliveries({ orderId: randomUUID() });
    expect(deliveries).toEqual([]);
  });
});
