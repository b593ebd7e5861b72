import { randomBytes } from "node:crypto";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { v7 as uuidv7 } from "uuid";
import type { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import type { Pool } from "#lib/db.ts";
import { eventRegistry } from "#lib/messaging/events.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { invalidArgument, requireUuid } from "#lib/rpc/errors.ts";
import {
  deleteSubscription,
  insertSubscription,
  listDeliveries,
  listSubscriptions,
} from "./db/notifications-repo.ts";
import { validateSubscription } from "./domain/subscription.ts";

/** A fresh signing secret: 32 random bytes, prefixed so it is recognisable in a secret scanner. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

export function createNotificationService(deps: {
  pool: Pool;
  logger: Logger;
}): ServiceImpl<typeof NotificationService> {
  const { pool, logger } = deps;
  return {
    async createWebhookSubscription(req) {
      const checked = validateSubscription(req, eventRegistry);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const signingSecret = newSigningSecret();
      const subscription = await insertSubscription(pool, {
        subscriptionId: uuidv7(),
        url: checked.draft.url,
        eventTypes: checked.draft.eventTypes,
        signingSecret,
      });
      // The secret is returned once and never logged.
      logger.info(
        { subscriptionId: subscription.subscriptionId, eventTypes: subscription.eventTypes },
        "webhook subscription created",
      );
      return { subscription, signingSecret };
    },

    async listWebhookSubscriptions() {
      return { subscriptions: await listSubscriptions(pool) };
    },

    async deleteWebhookSubscription(req) {
      requireUuid(req.subscriptionId, "subscription_id");
      if (!(await deleteSubscription(pool, req.subscriptionId))) {
        throw new ConnectError(`subscription ${req.subscriptionId} not found`, Code.NotFound);
      }
      logger.info({ subscriptionId: req.subscriptionId }, "webhook subscription deleted");
      return {};
    },

    async listDeliveries(req) {
      const orderId = req.orderId.trim();
      if (orderId === "") throw invalidArgument([{ field: "order_id", message: "is required" }]);
      if (orderId.length > 200) throw invalidArgument([{ field: "order_id", message: "is too long" }]);
      return { deliveries: await listDeliveries(pool, orderId) };
    },
  };
}
