import { z } from "zod";
import { type Env, loadServiceConfig, serviceEnv, topicName } from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";

const schema = (env: Env) =>
  z.object({
    ...serviceEnv("ORDERS", 8081, "accord_orders"),
    ORDERS_OUTBOX_POLL_MS: z.coerce.number().int().min(5).max(10_000).default(50),
    // The topic the outbox relay publishes OrderPlaced, OrderConfirmed... to.
    ORDERS_EVENTS_TOPIC: topicName.default(topicFor("orders", env)),
  });

export type OrdersConfig = ReturnType<typeof loadOrdersConfig>;

export function loadOrdersConfig(env: Env = process.env) {
  return loadServiceConfig(schema(env), env, "ORDERS");
}
