import { z } from "zod";
import { breakerEnv } from "#lib/breaker.ts";
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
    ...listenEnv("PAYMENTS", 8083),
    ...databaseEnv("PAYMENTS", "accord_payments"),
    PAYMENTS_EVENTS_TOPIC: topicName.default(topicFor("payments", env)),
    PAYMENT_PROVIDER_URL: z.string().url().default("http://127.0.0.1:8091"),
    // The breaker around the payment provider (lib/breaker.ts, ADR 0005).
    ...breakerEnv("PAYMENTS_PROVIDER", { timeoutMs: 2_000 }),
  });

export type PaymentsConfig = z.infer<ReturnType<typeof schema>> & { databaseUrl: string };

export function loadPaymentsConfig(env: Env = process.env): PaymentsConfig {
  const cfg = loadConfig(schema(env), env);
  return { ...cfg, databaseUrl: databaseUrl(cfg, cfg.PAYMENTS_DATABASE) };
}
