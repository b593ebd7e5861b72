import type { JsonObject } from "@bufbuild/protobuf";
import { devClientTokens } from "#lib/auth/dev-identities.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { createLogger } from "#lib/observability/logger.ts";
import {
  createOrderActivities,
  type OrderActivitiesHandle,
} from "#services/orchestrator/src/activities/order-activities.ts";

/**
 * Fixed example values: pact files must come out byte for byte the same on
 * every run, so nothing here is random or time-dependent.
 */
export const ORDER_ID = "0190f1a2-7b3c-7d4e-8f50-6a7b8c9d0e1f";
export const UNKNOWN_ORDER_ID = "0190f1a2-0000-7000-8000-000000000000";
export const PAYMENT_ID = "0190f1a3-1111-7111-8111-111111111111";
export const SHIPMENT_ID = "0190f1a4-2222-7222-8222-222222222222";
export const RESERVATION_ID = "0190f1a5-3333-7333-8333-333333333333";
/**
 * The first outcome of a keyed call in a replay interaction: the provider
 * state seeds it under exactly this id (pact's verifier compares a response
 * with its example, not with a provider-state value), and the replay must
 * answer it. One id per interaction, so states never collide.
 */
export const FIRST_RESERVATION_ID = "0190f1b5-3333-7333-8333-000000000001";
export const FIRST_PAYMENT_ID = "0190f1b3-1111-7111-8111-000000000001";
export const REFUNDED_PAYMENT_ID = "0190f1b3-1111-7111-8111-000000000002";
export const FIRST_SHIPMENT_ID = "0190f1b4-2222-7222-8222-000000000001";
export const CANCELLED_SHIPMENT_ID = "0190f1b4-2222-7222-8222-000000000002";
export const EVENT_ID = "0190f1a6-4444-7444-8444-444444444444";
export const EVENT_TIME = "2025-01-15T10:30:00.000Z";
export const CUSTOMER_ID = "customer-42";
export const CUSTOMER_EMAIL = "ada@example.com";
export const SKU = "BOOK-001";

export const ADDRESS = {
  recipientName: "Ada Lovelace",
  line1: "Hauptstrasse 1",
  city: "Berlin",
  postalCode: "10115",
  countryCode: "DE",
};

/**
 * The order as the workflow carries it: the protobuf JSON of OrderPlaced.order,
 * as orders stored it: the unit prices are the catalog's and the total the
 * server's (no client sets either).
 */
export const ORDER_JSON: JsonObject = {
  orderId: ORDER_ID,
  customerId: CUSTOMER_ID,
  customerEmail: CUSTOMER_EMAIL,
  lines: [{ sku: SKU, quantity: 2, unitPrice: { currencyCode: "EUR", amountMinor: "1250" } }],
  total: { currencyCode: "EUR", amountMinor: "2500" },
  shippingAddress: ADDRESS,
  status: "ORDER_STATUS_PENDING",
  createdAt: EVENT_TIME,
  updatedAt: EVENT_TIME,
};

export const silentLogger: Logger = createLogger("contract-test", process.env.TEST_LOG_LEVEL ?? "silent");

/**
 * The orchestrator's real saga activities with every dependency at one base
 * URL (the Pact mock server): what the mock records is what production sends,
 * the orchestrator's real token from the realm included (the pact records it
 * through a matcher with a made-up example, never the token itself).
 */
export function activitiesAt(url: string): OrderActivitiesHandle {
  return createOrderActivities({
    urls: { orders: url, inventory: url, payments: url, shipping: url },
    protocol: "connect-json",
    tokens: devClientTokens("orchestrator"),
    // Generous limits: the breaker must not interfere with a single call.
    breaker: {
      timeoutMs: 10_000,
      errorThresholdPercentage: 100,
      resetTimeoutMs: 1_000,
      volumeThreshold: 1_000,
    },
    logger: silentLogger,
  });
}

/** Runs fn with a fresh activities handle and shuts its breakers down afterwards. */
export async function withActivities<T>(
  url: string,
  fn: (h: OrderActivitiesHandle) => Promise<T>,
): Promise<T> {
  const handle = activitiesAt(url);
  try {
    return await fn(handle);
  } finally {
    handle.shutdown();
  }
}

/** The error an activity threw, for asserting on its ApplicationFailure type. */
export async function failureOf(
  promise: Promise<unknown>,
): Promise<{ type?: string; nonRetryable?: boolean; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { type?: string; nonRetryable?: boolean; message: string };
  }
  throw new Error("expected the call to fail");
}
