import { z } from "zod";
import { databaseUrl, infraEnv, loadConfig, portSchema } from "#lib/host/config.ts";

const schema = z.object({
  ...infraEnv,
  ORDERS_HOST: z.string().default("127.0.0.1"),
  ORDERS_PORT: portSchema.default(8081),
  ORDERS_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default("accord_orders"),
  ORDERS_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(20),
  ORDERS_OUTBOX_POLL_MS: z.coerce.number().int().min(5).max(10_000).default(50),
});

export type OrdersConfig = z.infer<typeof schema> & { databaseUrl: string };

export function loadOrdersConfig(env: Record<string, string | undefined> = process.env): OrdersConfig {
  const cfg = loadConfig(schema, env);
  return { ...cfg, databaseUrl: databaseUrl(cfg, cfg.ORDERS_DATABASE) };
}
