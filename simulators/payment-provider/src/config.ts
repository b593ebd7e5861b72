import { z } from "zod";
import { loadConfig, portSchema } from "#lib/host/config.ts";

const flag = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((v) => v === "true" || v === "1");

const schema = z.object({
  PAYMENT_PROVIDER_HOST: z.string().default("127.0.0.1"),
  PAYMENT_PROVIDER_PORT: portSchema.default(8091),
  PAYMENT_PROVIDER_LATENCY_MS: z.coerce.number().int().min(0).max(600_000).default(0),
  PAYMENT_PROVIDER_DECLINE_RATE: z.coerce.number().min(0).max(1).default(0),
  PAYMENT_PROVIDER_OUTAGE: flag,
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type PaymentProviderConfig = z.infer<typeof schema>;

export function loadPaymentProviderConfig(
  env: Record<string, string | undefined> = process.env,
): PaymentProviderConfig {
  return loadConfig(schema, env);
}
