import { randomBytes } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { v7 as uuidv7 } from "uuid";
import type { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { hasRole, ownerScope, type Principal, principalOf } from "#lib/auth/principal.ts";
import type { Pool } from "#lib/db.ts";
import { eventRegistry } from "#lib/messaging/events.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { invalidArgument, requireUuid } from "#lib/rpc/errors.ts";
import {
  deleteSubscription,
  insertSubscriptionWithinLimit,
  listDeliveries,
  listSubscriptions,
  rotateSubscriptionSecret,
  type SubscriptionOwner,
} from "./db/notifications-repo.ts";
import { entitlementViolations } from "./domain/entitlement.ts";
import type { SecretBox } from "./domain/secret-box.ts";
import { validateSubscription } from "./domain/subscription.ts";
import { type EgressGuard, EgressLookupError, EgressRefusedError } from "./egress/guard.ts";

/** A fresh signing secret: 32 random bytes, prefixed so it is recognisable in a secret scanner. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

/**
 * Who a new subscription belongs to: the calling user, as ops or as a
 * partner. Anyone else is refused here too, should the table ever let them in.
 */
export function subscriptionOwner(principal: Principal): SubscriptionOwner {
  if (principal.kind === "user" && hasRole(principal, "ops")) {
    return { ownerId: principal.subject, role: "ops" };
  }
  if (principal.kind === "user" && hasRole(principal, "partner")) {
    return { ownerId: principal.subject, role: "partner" };
  }
  if (principal.kind === "anonymous") throw new ConnectError("authentication required", Code.Unauthenticated);
  throw new ConnectError("only partners and ops own webhook subscriptions", Code.PermissionDenied);
}

// Partners see only their own subscriptions and their deliveries; ops sees all.
const OWNER_ROLES = ["partner"] as const;

const MAX_OVERLAP_SECONDS = 604_800;

export interface NotificationServiceDeps {
  pool: Pool;
  logger: Logger;
  /** Checks a subscription's URL (scheme, every resolved address) before it is stored. */
  guard: EgressGuard;
  box: SecretBox;
  maxSubscriptionsPerOwner: number;
  /** Default overlap of RotateWebhookSecret, in seconds. */
  secretOverlapSeconds: number;
}

export function createNotificationService(
  deps: NotificationServiceDeps,
): ServiceImpl<typeof NotificationService> {
  const { pool, logger, guard, box } = deps;
  return {
    async createWebhookSubscription(req, ctx) {
      const owner = subscriptionOwner(principalOf(ctx));
      const checked = validateSubscription(req, eventRegistry);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      // Every type is known by now, so the indexes are the request's.
      const denied = entitlementViolations(owner.role, req.eventTypes);
      if (denied.length > 0) {
        throw new ConnectError(
          denied.map((v) => `${v.field}: ${v.message}`).join("; "),
          Code.PermissionDenied,
        );
      }
      try {
        await guard.check(checked.draft.url);
      } catch (err) {
        if (err instanceof EgressRefusedError)
          throw invalidArgument([{ field: "url", message: err.message }]);
        if (err instanceof EgressLookupError) throw invalidArgument([{ field: "url", message: err.message }]);
        throw err;
      }
      const signingSecret = newSigningSecret();
      const subscriptionId = uuidv7();
      const subscription = await insertSubscriptionWithinLimit(
        pool,
        {
          subscriptionId,
          url: checked.draft.url,
          eventTypes: checked.draft.eventTypes,
          signingSecretSealed: box.seal(signingSecret, subscriptionId),
          owner,
        },
        deps.maxSubscriptionsPerOwner,
      );
      if (subscription === "limit reached") {
        throw new ConnectError(
          `subscription limit reached: at most ${deps.maxSubscriptionsPerOwner} webhook subscriptions per owner; delete one first`,
          Code.ResourceExhausted,
        );
      }
      // The secret is returned once and never logged.
      logger.info(
        {
          subscriptionId: subscription.subscriptionId,
          eventTypes: subscription.eventTypes,
          ownerRole: owner.role,
        },
        "webhook subscription created",
      );
      return { subscription, signingSecret };
    },

    async listWebhookSubscriptions(_req, ctx) {
      const scope = ownerScope(principalOf(ctx), OWNER_ROLES);
      return { subscriptions: await listSubscriptions(pool, scope) };
    },

    async deleteWebhookSubscription(req, ctx) {
      const scope = ownerScope(principalOf(ctx), OWNER_ROLES);
      requireUuid(req.subscriptionId, "subscription_id");
      // Another partner's subscription is not found, the same answer as an unknown one.
      if (!(await deleteSubscription(pool, req.subscriptionId, scope))) {
        throw new ConnectError(`subscription ${req.subscriptionId} not found`, Code.NotFound);
      }
      logger.info({ subscriptionId: req.subscriptionId }, "webhook subscription deleted");
      return {};
    },

    async rotateWebhookSecret(req, ctx) {
      const scope = ownerScope(principalOf(ctx), OWNER_ROLES);
      requireUuid(req.subscriptionId, "subscription_id");
      const overlap = req.overlapSeconds ?? deps.secretOverlapSeconds;
      if (!Number.isInteger(overlap) || overlap < 0 || overlap > MAX_OVERLAP_SECONDS) {
        throw invalidArgument([{ field: "overlap_seconds", message: `must be 0..${MAX_OVERLAP_SECONDS}` }]);
      }
      const signingSecret = newSigningSecret();
      const rotated = await rotateSubscriptionSecret(
        pool,
        req.subscriptionId,
        scope,
        box,
        signingSecret,
        overlap,
      );
      if (!rotated) throw new ConnectError(`subscription ${req.subscriptionId} not found`, Code.NotFound);
      // Neither secret is logged.
      logger.info({ subscriptionId: req.subscriptionId, overlapSeconds: overlap }, "webhook secret rotated");
      return { signingSecret, previousSecretExpiresAt: timestampFromDate(rotated.previousExpiresAt) };
    },

    async listDeliveries(req, ctx) {
      const scope = ownerScope(principalOf(ctx), OWNER_ROLES);
      const orderId = req.orderId.trim();
      if (orderId === "") throw invalidArgument([{ field: "order_id", message: "is required" }]);
      if (orderId.length > 200) throw invalidArgument([{ field: "order_id", message: "is too long" }]);
      return { deliveries: await listDeliveries(pool, orderId, scope) };
    },
  };
}
