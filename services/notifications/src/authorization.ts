import type { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import type { AuthorizationTable } from "#lib/auth/authorization.ts";

/** Who may call each NotificationService method: a partner manages and sees its own subscriptions only. */
export const notificationAuthorization: AuthorizationTable<typeof NotificationService> = {
  createWebhookSubscription: {
    allow: ["partner", "ops"],
    scope: "partner: owned by the caller; ops: owned by ops",
  },
  listWebhookSubscriptions: { allow: ["partner", "ops"], scope: "partner: own subscriptions; ops: all" },
  deleteWebhookSubscription: {
    allow: ["partner", "ops"],
    scope: "partner: own subscriptions (another's is not_found); ops: all",
  },
  rotateWebhookSecret: {
    allow: ["partner", "ops"],
    scope: "partner: own subscriptions (another's is not_found); ops: all",
  },
  listDeliveries: { allow: ["partner", "ops"], scope: "partner: deliveries of own subscriptions; ops: all" },
};
