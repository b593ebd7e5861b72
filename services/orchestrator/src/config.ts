import { z } from "zod";
import { breakerEnv } from "#lib/breaker.ts";
import { type Env, infraEnv, listenEnv, loadConfig, topicName } from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";
import { ORDERS_TASK_QUEUE } from "#lib/temporal.ts";

const ms = z.coerce.number().int().min(1);
const url = (port: number) => z.string().url().default(`http://127.0.0.1:${port}`);

// Built from the env being read (not process.env at module load), so a
// test's env decides the defaults that depend on ACCORD_TOPIC_PREFIX.
const schema = (env: Env) =>
  z.object({
    ...infraEnv,
    // SagaService (ops), health, metrics and reflection.
    ...listenEnv("ORCHESTRATOR", 8086),
    ORDERS_URL: url(8081),
    INVENTORY_URL: url(8082),
    PAYMENTS_URL: url(8083),
    SHIPPING_URL: url(8084),
    ORCHESTRATOR_RPC_PROTOCOL: z.enum(["connect-json", "connect-binary", "grpc"]).default("connect-json"),
    ORDERS_TASK_QUEUE: z.string().min(1).default(ORDERS_TASK_QUEUE),
    // Topic and group names are variables so tests can run the real process on their own topics.
    ORCHESTRATOR_ORDERS_TOPIC: topicName.default(topicFor("orders", env)),
    ORCHESTRATOR_SHIPPING_TOPIC: topicName.default(topicFor("shipping", env)),
    ORCHESTRATOR_GROUP_ID: z
      .string()
      .min(1)
      .default(`${env.ACCORD_TOPIC_PREFIX ?? ""}orchestrator`),
    // One breaker per dependency around every RPC, all from this fragment (ADR 0005).
    ...breakerEnv("ORCHESTRATOR", { timeoutMs: 10_000 }),
    // Saga timings, handed to every saga the bridge starts (recorded in its history).
    ORCHESTRATOR_DELIVERY_TIMEOUT_MS: ms.default(30 * 24 * 60 * 60 * 1000),
    ORCHESTRATOR_STEP_DEADLINE_MS: ms.default(60 * 60 * 1000),
    ORCHESTRATOR_RETRY_INITIAL_MS: ms.default(1000),
    ORCHESTRATOR_RETRY_MAX_MS: ms.default(30_000),
    // gRPC compression towards Temporal; gzip only pays across a slow link (ADR 0025).
    TEMPORAL_GRPC_COMPRESSION: z.enum(["none", "gzip"]).default("none"),
    // A workflow bundle built ahead (scripts/bundle-workflows.ts); unset: the worker bundles at start (ADR 0028).
    ORCHESTRATOR_WORKFLOW_BUNDLE: z.string().min(1).optional(),
    // The SDK's per-promise workflow stack traces (the __stack_trace query); off by default (ADR 0023).
    ORCHESTRATOR_WORKFLOW_STACK_TRACES: z
      .enum(["true", "false"])
      .default("false")
      .transform((v) => v === "true"),
  });

export type OrchestratorConfig = z.infer<ReturnType<typeof schema>>;

export function loadOrchestratorConfig(env: Env = process.env): OrchestratorConfig {
  return loadConfig(schema(env), env);
}
