import { z } from "zod";
import { breakerEnv } from "#lib/breaker.ts";
import { type Env, loadServiceConfig, serviceEnv, topicName } from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";

const schema = (env: Env) =>
  z.object({
    ...serviceEnv("ORDERS", 8081, "accord_orders"),
    ORDERS_OUTBOX_POLL_MS: z.coerce.number().int().min(5).max(10_000).default(1_000),
    // The topic the outbox relay publishes OrderPlaced, OrderConfirmed... to.
    ORDERS_EVENTS_TOPIC: topicName.default(topicFor("orders", env)),
    // Read for PaymentRefunded: an ops refund moves a confirmed order to REFUNDED.
    ORDERS_PAYMENTS_TOPIC: topicName.default(topicFor("payments", env)),
    // "<ACCORD_TOPIC_PREFIX>orders", so a prefixed copy of the platform never joins the platform's group.
    ORDERS_CONSUMER_GROUP: z
      .string()
      .min(1)
      .default(`${env.ACCORD_TOPIC_PREFIX ?? ""}orders`),
    // Where checkout looks prices up. No default: without a catalog no order
    // can be priced, so a process not told where it is must not start.
    CATALOG_URL: z.string().url(),
    ORDERS_CATALOG_RPC_PROTOCOL: z.enum(["connect-json", "connect-binary", "grpc"]).default("connect-json"),
    // The breaker around the price lookup (lib/breaker.ts, ADR 0005): a
    // customer waits for checkout, so the timeout is short.
    ...breakerEnv("ORDERS_CATALOG", { timeoutMs: 1_000, resetTimeoutMs: 5_000 }),
  });

export type OrdersConfig = ReturnType<typeof loadOrdersConfig>;

export function loadOrdersConfig(env: Env = process.env) {
  return loadServiceConfig(schema(env), env, "ORDERS");
}
