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
    ...listenEnv("SHIPPING", 8084),
    ...databaseEnv("SHIPPING", "accord_shipping"),
    SHIPPING_EVENTS_TOPIC: topicName.default(topicFor("shipping", env)),
    CARRIER_URL: z.string().url().default("http://127.0.0.1:8092"),
    // The breaker around the carrier API (lib/breaker.ts, ADR 0005).
    ...breakerEnv("SHIPPING_CARRIER", { timeoutMs: 2_000 }),
  });

export type ShippingConfig = z.infer<ReturnType<typeof schema>> & { databaseUrl: string };

export function loadShippingConfig(env: Env = process.env): ShippingConfig {
  const cfg = loadConfig(schema(env), env);
  return { ...cfg, databaseUrl: databaseUrl(cfg, cfg.SHIPPING_DATABASE) };
}
