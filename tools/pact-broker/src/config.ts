import { z } from "zod";
import { authEnv } from "#lib/auth/config.ts";
import { databaseUrl, infraEnv, loadConfig, portSchema } from "#lib/host/config.ts";

const schema = z.object({
  ...infraEnv,
  // The realm that issues the tokens writes need (OIDC_ISSUER, OIDC_JWKS_URL,
  // AUTH_CLOCK_SKEW_SEC; AUTH_AUDIENCE defaults to "pact-broker").
  ...authEnv.shape,
  // The real broker's PACT_BROKER_ALLOW_PUBLIC_READ: true (the default) lets
  // anyone read; false makes every read need a valid token for the broker too.
  // Writes always need a token with the realm role "release" (src/access.ts).
  PACT_BROKER_PUBLIC_READ: z
    .enum(["true", "false"])
    .default("true")
    .transform((s) => s === "true"),
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
  // The real broker's allow_dangerous_contract_modification: false (the default)
  // refuses, with 409, a pact whose content differs from the one already
  // published for the same consumer version.
  PACT_BROKER_ALLOW_DANGEROUS_CONTRACT_MODIFICATION: z
    .enum(["true", "false"])
    .default("false")
    .transform((s) => s === "true"),
  // Webhooks: the real broker's allowlists (space or comma separated). This
  // project sends webhooks to loopback only unless told otherwise.
  PACT_BROKER_WEBHOOK_HOST_WHITELIST: list("127.0.0.1 ::1 localhost"),
  PACT_BROKER_WEBHOOK_SCHEME_WHITELIST: list("http https", (s) => s.toLowerCase()),
  PACT_BROKER_WEBHOOK_HTTP_METHOD_WHITELIST: list("POST", (s) => s.toUpperCase()),
  PACT_BROKER_WEBHOOK_HTTP_CODE_SUCCESS: numbers("200 201 202 203 204 205 206", (n) => n >= 100 && n <= 599),
  // Seconds before each retry of a failed webhook; as many retries as entries.
  PACT_BROKER_WEBHOOK_RETRY_SCHEDULE: numbers("10 60 120 300 600 1200", (n) => n >= 0 && n <= 86_400, true),
  PACT_BROKER_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000),
  // Longest wait between two looks at the webhook outbox (a NOTIFY wakes it sooner).
  PACT_BROKER_WEBHOOK_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
});

/** A list variable ("a b" or "a,b"), each entry normalised. */
function list(fallback: string, normalise: (s: string) => string = (s) => s) {
  return z
    .string()
    .default(fallback)
    .transform((s) =>
      s
        .split(/[\s,]+/)
        .filter(Boolean)
        .map(normalise),
    );
}

/** A list of numbers, each checked; retry delays may be fractional or empty. */
function numbers(fallback: string, ok: (n: number) => boolean, fractional = false) {
  return z
    .string()
    .default(fallback)
    .transform((s) =>
      s
        .split(/[\s,]+/)
        .filter(Boolean)
        .map(Number),
    )
    .refine((ns) => ns.every((n) => Number.isFinite(n) && (fractional || Number.isInteger(n)) && ok(n)), {
      message: "must be a space separated list of numbers in range",
    });
}

export type PactBrokerConfig = z.infer<typeof schema> & { databaseUrl: string };

/** Reads only the environment it is given (the host passes process.env). */
export function loadPactBrokerConfig(env: Record<string, string | undefined>): PactBrokerConfig {
  const cfg = loadConfig(schema, env);
  return { ...cfg, databaseUrl: databaseUrl(cfg, cfg.PACT_BROKER_DATABASE) };
}
