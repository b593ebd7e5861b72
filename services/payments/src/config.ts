import { z } from "zod";
import { databaseUrl, infraEnv, loadConfig, portSchema } from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";

const schema = z.object({
  ...infraEnv,
  PAYMENTS_HOST: z.string().default("127.0.0.1"),
  PAYMENTS_PORT: portSchema.default(8083),
  PAYMENTS_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default("accord_payments"),
  PAYMENTS_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(20),
  PAYMENT_PROVIDER_URL: z.string().url().default("http://127.0.0.1:8091"),
  // Breaker around the provider (lib/breaker.ts).
  PAYMENTS_PROVIDER_TIMEOUT_MS: z.coerce.number().int().min(1).max(120_000).default(2000),
  PAYMENTS_BREAKER_ERROR_PERCENT: z.coerce.number().int().min(1).max(100).default(50),
  PAYMENTS_BREAKER_RESET_MS: z.coerce.number().int().min(10).max(600_000).default(10_000),
  PAYMENTS_BREAKER_VOLUME_THRESHOLD: z.coerce.number().int().min(1).max(1000).default(5),
  PAYMENTS_BREAKER_WINDOW_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  // Overridable so tests publish to a topic of their own.
  PAYMENTS_EVENTS_TOPIC: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,200}$/)
    .default(topicFor("payments")),
});

export type PaymentsConfig = z.infer<typeof schema> & { databaseUrl: string };

export function loadPaymentsConfig(env: Record<string, string | undefined> = process.env): PaymentsConfig {
  const cfg = loadConfig(schema, env);
  return { ...cfg, databaseUrl: databaseUrl(cfg, cfg.PAYMENTS_DATABASE) };
}
