import { z } from "zod";
import { databaseUrl, infraEnv, loadConfig, portSchema } from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";

const ms = z.coerce.number().int().min(1).max(600_000);

const schema = z.object({
  ...infraEnv,
  SHIPPING_HOST: z.string().default("127.0.0.1"),
  SHIPPING_PORT: portSchema.default(8084),
  SHIPPING_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default("accord_shipping"),
  SHIPPING_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(20),
  // Overridable so tests can isolate their events; the platform keeps the default.
  SHIPPING_EVENTS_TOPIC: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,200}$/)
    .default(topicFor("shipping")),
  CARRIER_URL: z.string().url().default("http://127.0.0.1:8092"),
  SHIPPING_CARRIER_TIMEOUT_MS: ms.default(2_000),
  SHIPPING_BREAKER_RESET_MS: ms.default(10_000),
  SHIPPING_BREAKER_ERROR_PERCENT: z.coerce.number().min(1).max(100).default(50),
  SHIPPING_BREAKER_VOLUME_THRESHOLD: z.coerce.number().int().min(1).max(10_000).default(5),
  SHIPPING_BREAKER_WINDOW_MS: ms.default(10_000),
});

export type ShippingConfig = z.infer<typeof schema> & { databaseUrl: string };

export function loadShippingConfig(env: Record<string, string | undefined> = process.env): ShippingConfig {
  const cfg = loadConfig(schema, env);
  return { ...cfg, databaseUrl: databaseUrl(cfg, cfg.SHIPPING_DATABASE) };
}
