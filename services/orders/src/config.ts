import { z } from "zod";
import {
  databaseEnv,
  databaseUrl,
  type Env,
  infraEnv,
  listenEnv,
  loadConfig,
  topicName,
} from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";

const schema = (env: Env) =>
  z.object({
    ...infraEnv,
    ...listenEnv("ORDERS", 8081),
    ...databaseEnv("ORDERS", "accord_orders"),
    ORDERS_OUTBOX_POLL_MS: z.coerce.number().int().min(5).max(10_000).default(50),
    // The topic the outbox relay publishes OrderPlaced, OrderConfirmed... to.
    ORDERS_EVENTS_TOPIC: topicName.default(topicFor("orders", env)),
  });

export type OrdersConfig = z.infer<ReturnType<typeof schema>> & { databaseUrl: string };

export function loadOrdersConfig(env: Env = process.env): OrdersConfig {
  const cfg = loadConfig(schema(env), env);
  return { ...cfg, databaseUrl: databaseUrl(cfg, cfg.ORDERS_DATABASE) };
}
