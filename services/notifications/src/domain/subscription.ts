import type { Registry } from "@bufbuild/protobuf";
import { collectViolations, type FieldViolation } from "#lib/rpc/errors.ts";

export interface SubscriptionDraft {
  url: string;
  eventTypes: string[];
}

const MAX_URL_LENGTH = 2048;
const MAX_EVENT_TYPES = 50;

/**
 * Checks a CreateWebhookSubscription request: an absolute http(s) URL
 * without credentials, and event types that name known event messages.
 * Duplicate event types are dropped, order kept.
 */
export function validateSubscription(
  req: { url: string; eventTypes: readonly string[] },
  registry: Registry,
): { draft: SubscriptionDraft } | { violations: FieldViolation[] } {
  const { violations, bad } = collectViolations();
  const url = req.url.trim();
  if (url === "") {
    bad("url", "is required");
  } else if (url.length > MAX_URL_LENGTH) {
    bad("url", `must be at most ${MAX_URL_LENGTH} characters`);
  } else {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      bad("url", "is not a valid absolute URL");
    }
    if (parsed && parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      bad("url", "must use http or https");
    }
    // Credentials in the URL would be stored and shown by ListWebhookSubscriptions.
    if (parsed && (parsed.username !== "" || parsed.password !== "")) {
      bad("url", "must not contain credentials");
    }
  }

  if (req.eventTypes.length > MAX_EVENT_TYPES) {
    bad("event_types", `at most ${MAX_EVENT_TYPES} entries`);
  }
  const eventTypes: string[] = [];
  req.eventTypes.forEach((type, i) => {
    if (!registry.getMessage(type)) {
      bad(
        `event_types[${i}]`,
        `unknown event type ${JSON.stringify(type)} (use a full name such as accord.orders.v1.OrderConfirmed)`,
      );
    } else if (!eventTypes.includes(type)) {
      eventTypes.push(type);
    }
  });
  return violations.length > 0 ? { violations } : { draft: { url, eventTypes } };
}

/** Whether a subscription wants an event type (no types = every event). */
export function subscriptionMatches(eventTypes: readonly string[], eventType: string): boolean {
  return eventTypes.length === 0 || eventTypes.includes(eventType);
}
