import { z } from "zod";
import { infraEnv, loadConfig, portSchema } from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";
import { ORDERS_TASK_QUEUE } from "#lib/temporal.ts";

const ms = z.coerce.number().int().min(1);
const url = (port: number) => z.string().url().default(`http://127.0.0.1:${port}`);
const topic = z.string().regex(/^[A-Za-z0-9._-]+$/);

const schema = z.object({
  ...infraEnv,
  ORCHESTRATOR_HOST: z.string().default("127.0.0.1"),
  /** Health endpoints only (/healthz, /readyz); the orchestrator serves no RPC. */
  ORCHESTRATOR_PORT: portSchema.default(8086),
  ORDERS_URL: url(8081),
  INVENTORY_URL: url(8082),
  PAYMENTS_URL: url(8083),
  SHIPPING_URL: url(8084),
  ORCHESTRATOR_RPC_PROTOCOL: z.enum(["connect-json", "connect-binary", "grpc"]).default("connect-json"),
  ORDERS_TASK_QUEUE: z.string().min(1).default(ORDERS_TASK_QUEUE),
  // Topic and group names are variables so tests can run the real process on their own topics.
  ORCHESTRATOR_ORDERS_TOPIC: topic.default(topicFor("orders")),
  ORCHESTRATOR_SHIPPING_TOPIC: topic.default(topicFor("shipping")),
  ORCHESTRATOR_GROUP_ID: z
    .string()
    .min(1)
    .default(`${process.env.ACCORD_TOPIC_PREFIX ?? ""}orchestrator`),
  // Per-dependency circuit breakers around every RPC (see docs/adr/0005).
  ORCHESTRATOR_BREAKER_TIMEOUT_MS: ms.default(10_000),
  ORCHESTRATOR_BREAKER_ERROR_PERCENT: z.coerce.number().min(1).max(100).default(50),
  ORCHESTRATOR_BREAKER_RESET_MS: ms.default(10_000),
  ORCHESTRATOR_BREAKER_VOLUME: z.coerce.number().int().min(1).default(5),
  // Saga timings, handed to every saga the bridge starts (recorded in its history).
  ORCHESTRATOR_DELIVERY_TIMEOUT_MS: ms.default(30 * 24 * 60 * 60 * 1000),
  ORCHESTRATOR_STEP_DEADLINE_MS: ms.default(60 * 60 * 1000),
  ORCHESTRATOR_RETRY_INITIAL_MS: ms.default(1000),
  ORCHESTRATOR_RETRY_MAX_MS: ms.default(30_000),
});

export type OrchestratorConfig = z.infer<typeof schema>;

export function loadOrchestratorConfig(
  env: Record<string, string | undefined> = process.env,
): OrchestratorConfig {
  return loadConfig(schema, env);
}
