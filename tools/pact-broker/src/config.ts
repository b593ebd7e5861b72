import { z } from "zod";
import { databaseUrl, infraEnv, loadConfig, portSchema } from "#lib/host/config.ts";

const schema = z.object({
  ...infraEnv,
  PACT_BROKER_HOST: z.string().default("127.0.0.1"),
  PACT_BROKER_PORT: portSchema.default(9292),
  PACT_BROKER_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, "must be a plain lower-case database name")
    .default("accord_pact_broker"),
  PACT_BROKER_DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  // Links are built from the request's Host header unless a public URL is set
  // (behind a proxy), the same choice the real broker's PACT_BROKER_BASE_URL makes.
  PACT_BROKER_PUBLIC_URL: z
    .string()
    .url()
    .transform((s) => s.replace(/\/+$/, ""))
    .optional(),
});

export type PactBrokerConfig = z.infer<typeof schema> & { databaseUrl: string };

/** Reads only the environment it is given (the host passes process.env). */
export function loadPactBrokerConfig(env: Record<string, string | undefined>): PactBrokerConfig {
  const cfg = loadConfig(schema, env);
  return { ...cfg, databaseUrl: databaseUrl(cfg, cfg.PACT_BROKER_DATABASE) };
}
