import { z } from "zod";
import { loadConfig, portSchema } from "#lib/host/config.ts";

// "true"/"1"/"yes" and "false"/"0"/"no"; z.coerce.boolean would read "false" as true.
const flag = z
  .enum(["true", "false", "1", "0", "yes", "no", ""])
  .transform((v) => v === "true" || v === "1" || v === "yes");

const schema = z.object({
  CARRIER_HOST: z.string().default("127.0.0.1"),
  CARRIER_PORT: portSchema.default(8092),
  CARRIER_LATENCY_MS: z.coerce.number().int().min(0).max(600_000).default(0),
  CARRIER_ERROR_RATE: z.coerce.number().min(0).max(1).default(0),
  CARRIER_OUTAGE: flag.default(false),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type CarrierConfig = z.infer<typeof schema>;

export function loadCarrierConfig(env: Record<string, string | undefined> = process.env): CarrierConfig {
  return loadConfig(schema, env);
}
