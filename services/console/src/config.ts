import { fileURLToPath } from "node:url";
import { z } from "zod";
import { type Env, listenEnv, loadConfig } from "#lib/host/config.ts";

/** Loopback names and addresses: the console forwards and reads on this machine only. */
export function isLoopbackUrl(text: string): boolean {
  let host: string;
  try {
    host = new URL(text).hostname;
  } catch {
    return false;
  }
  if (host === "localhost" || host === "[::1]" || host === "::1") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const upstream = (port: number) =>
  z
    .string()
    .url()
    .default(`http://127.0.0.1:${port}`)
    .refine(isLoopbackUrl, "must be a loopback URL (127.0.0.0/8, ::1 or localhost)")
    .transform((s) => s.replace(/\/+$/, ""));

const DEFAULT_WEB_DIR = fileURLToPath(new URL("../web/dist", import.meta.url));

const schema = z.object({
  ...listenEnv("CONSOLE", 8099),
  // The upstreams, under the same names the other clients use (scripts/accord.ts, the orchestrator).
  ORDERS_URL: upstream(8081),
  INVENTORY_URL: upstream(8082),
  PAYMENTS_URL: upstream(8083),
  SHIPPING_URL: upstream(8084),
  NOTIFICATIONS_URL: upstream(8085),
  ORCHESTRATOR_URL: upstream(8086),
  CATALOG_URL: upstream(8087),
  PAYMENT_PROVIDER_URL: upstream(8091),
  CARRIER_URL: upstream(8092),
  SMTP_SINK_URL: upstream(8093),
  PACT_BROKER_BASE_URL: upstream(9292),
  // Sent to the broker for reads when set (a broker whose reads are closed); reads are open by default.
  PACT_BROKER_TOKEN: z.string().min(1).max(8192).optional(),
  PROMETHEUS_URL: upstream(9090),
  // What the browser links traces to; never fetched by the console.
  CONSOLE_ZIPKIN_URL: z.string().url().default("http://127.0.0.1:9411/zipkin/"),
  // The realm's public browser client (authorization code + PKCE).
  CONSOLE_OIDC_CLIENT_ID: z.string().min(1).max(100).default("accord-console"),
  // Where the built web app is (vite build's output).
  CONSOLE_WEB_DIR: z.string().min(1).default(DEFAULT_WEB_DIR),
  // The forwarding's limits: a request body larger than this is refused
  // (413), and an upstream that has not answered in time is given up (504).
  CONSOLE_PROXY_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(16_777_216).default(1_048_576),
  CONSOLE_PROXY_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000),
  // How long one readiness or Prometheus or broker read may take.
  CONSOLE_READ_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(2_000),
  // The issuer the browser logs in at (lib/auth/config.ts reads the same variable for the verifier).
  OIDC_ISSUER: z.string().url().default("http://127.0.0.1:8180/realms/accord"),
  LOG_LEVEL: z.string().optional(),
});

export type ConsoleConfig = z.infer<typeof schema>;

export function loadConsoleConfig(env: Env = process.env): ConsoleConfig {
  return loadConfig(schema, env);
}
