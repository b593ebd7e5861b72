import { z } from "zod";
import { breakerEnv } from "#lib/breaker.ts";
import { type Env, loadServiceConfig, serviceEnv, topicName } from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";

const schema = (env: Env) =>
  z.object({
    ...serviceEnv("SHIPPING", 8084, "accord_shipping"),
    SHIPPING_EVENTS_TOPIC: topicName.default(topicFor("shipping", env)),
    CARRIER_URL: z.string().url().default("http://127.0.0.1:8092"),
    // The breaker around the carrier API (lib/breaker.ts, ADR 0005).
    ...breakerEnv("SHIPPING_CARRIER", { timeoutMs: 2_000 }),
  });

export type ShippingConfig = ReturnType<typeof loadShippingConfig>;

export function loadShippingConfig(env: Env = process.env) {
  return loadServiceConfig(schema(env), env, "SHIPPING");
}
