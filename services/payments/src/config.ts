import { z } from "zod";
import { breakerEnv } from "#lib/breaker.ts";
import { type Env, loadServiceConfig, serviceEnv, topicName } from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";

const schema = (env: Env) =>
  z.object({
    ...serviceEnv("PAYMENTS", 8083, "accord_payments"),
    PAYMENTS_EVENTS_TOPIC: topicName.default(topicFor("payments", env)),
    PAYMENT_PROVIDER_URL: z.string().url().default("http://127.0.0.1:8091"),
    // The breaker around the payment provider (lib/breaker.ts, ADR 0005).
    ...breakerEnv("PAYMENTS_PROVIDER", { timeoutMs: 2_000 }),
  });

export type PaymentsConfig = ReturnType<typeof loadPaymentsConfig>;

export function loadPaymentsConfig(env: Env = process.env) {
  return loadServiceConfig(schema(env), env, "PAYMENTS");
}
