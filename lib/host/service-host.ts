import type http from "node:http";
import { fileURLToPath } from "node:url";
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { z } from "zod";
import { type Breaker, type BreakerOptions, createBreaker } from "../breaker.ts";
import { createPool, ensureDatabase, migrate, type Pool } from "../db.ts";
import { createKafka, type KafkaClient, parseBrokers } from "../messaging/kafka.ts";
import {
  type OutboxPublisher,
  type OutboxPublisherOptions,
  startOutboxPublisher,
} from "../messaging/outbox-relay.ts";
import { createLogger, type Logger } from "../observability/logger.ts";
import { type FrontDoor, type FrontDoorHandler, startFrontDoor } from "../rpc/front-door.ts";
import { registerGrpcHealth } from "../rpc/grpc-health.ts";
import { serverInterceptors } from "../rpc/interceptors.ts";
import { registerReflection } from "../rpc/reflection.ts";
import { createRpcHandler, processHandler } from "../rpc/server.ts";
import { ConfigError, type DatabaseSettings, loadConfig } from "./config.ts";
import { createReadiness, type Readiness, sendJson } from "./health.ts";
import { createLifecycle, exitOnSignals, type Lifecycle } from "./lifecycle.ts";

export type Env = Record<string, string | undefined>;

/**
 * What a process is: its name, its validated configuration, where it listens,
 * and how its own parts are built. Everything else (start-up order, health,
 * metrics, the RPC interceptor chain, reflection, shutdown) is the host's.
 */
export interface ServiceDefinition<C> {
  /** Names the process in logs, metrics and its Kafka client id. */
  name: string;
  /** Reads and validates the configuration; a ConfigError names the bad variables. */
  loadConfig: (env: Env) => C;
  /** The one port for RPC (Connect, gRPC, gRPC-Web), plain HTTP, /healthz, /readyz and /metrics. */
  listen: (config: C) => { host: string; port: number };
  /** Builds the service's clients and handlers and hands them to the host. */
  compose: (host: ServiceHost, config: C) => Promise<void> | void;
}

export interface ServiceHost {
  readonly name: string;
  readonly logger: Logger;
  /** The environment the configuration was read from. */
  readonly env: Env;
  /**
   * Creates the service's database when missing, opens a pool and applies the
   * migrations in `migrations`; the pool is checked by /readyz and closed at shutdown.
   */
  database(settings: DatabaseSettings, migrations: URL): Promise<Pool>;
  /**
   * Starts the outbox relay that publishes what the service's transactions
   * wrote to its outbox (ADR 0012); it finishes its round at shutdown.
   */
  outboxRelay(options: Omit<OutboxPublisherOptions, "logger"> & { logger?: Logger }): OutboxPublisher;
  /** A Kafka client named after the service (producers and consumers close themselves). */
  kafka(brokers: string): KafkaClient;
  /** Serves a Connect service behind the shared interceptor chain. */
  serve<S extends DescService>(service: S, implementation: Partial<ServiceImpl<S>>): void;
  /**
   * Plain HTTP for every request that is not an RPC, health or metrics
   * (simulators, the broker). HTTP/2 requests reach it through Node's
   * compatibility API, which has the same shape.
   */
  http(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): void;
  /** A circuit breaker, shut down with the process. */
  breaker<A extends unknown[], R>(
    name: string,
    fn: (signal: AbortSignal, ...args: A) => Promise<R>,
    options: Omit<BreakerOptions, "logger">,
  ): Breaker<A, R>;
  /** A readiness check: a real round trip to one dependency. */
  ready(name: string, check: () => unknown): void;
  /** A shutdown step; steps run in the reverse order they were added. */
  onShutdown(name: string, step: () => unknown): void;
  /** An essential part failed: shut down and exit non-zero so the supervisor restarts the process. */
  fail(reason: string, error?: unknown): void;
  readonly stopping: boolean;
}

/** What the host itself reads, for every process. */
const hostEnv = z.object({
  // The longest the whole shutdown may take before the steps left are skipped.
  SHUTDOWN_DEADLINE_MS: z.coerce.number().int().min(100).max(600_000).default(25_000),
});

/**
 * Runs one process: validates its configuration, listens at once (so
 * /healthz answers while the parts start; /readyz says "starting"), builds
 * the parts, then serves their RPCs with gRPC reflection and grpc.health.v1
 * beside them. SIGTERM and SIGINT run the shutdown steps, the server first.
 */
export async function runService<C>(definition: ServiceDefinition<C>, env: Env = process.env): Promise<void> {
  const logger = createLogger(definition.name, env.LOG_LEVEL ?? "info");
  let config: C;
  let hostConfig: z.infer<typeof hostEnv>;
  try {
    hostConfig = loadConfig(hostEnv, env);
    config = definition.loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      logger.fatal(`${definition.name}: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }

  const lifecycle = createLifecycle({ logger, deadlineMs: hostConfig.SHUTDOWN_DEADLINE_MS });
  exitOnSignals(lifecycle);
  let phase: "starting" | "running" = "starting";
  const readiness = createReadiness({
    timeoutMs: 2_000,
    gate: () => (lifecycle.stopping ? "shutting down" : phase === "starting" ? "starting" : undefined),
  });

  let serve: FrontDoorHandler = (_req, res) =>
    sendJson(res, 503, { code: "unavailable", message: `${definition.name} is starting` });
  const { host: address, port } = definition.listen(config);
  let door: FrontDoor;
  try {
    door = await startFrontDoor({ host: address, port, handler: processHandler(readiness, () => serve) });
  } catch (error) {
    logger.fatal({ err: error, host: address, port }, `${definition.name} cannot listen`);
    process.exit(1);
  }

  const services: { service: DescService; implementation: object }[] = [];
  let fallback: FrontDoorHandler | undefined;
  const host = serviceHost(definition.name, logger, env, lifecycle, readiness, services, (h) => {
    fallback = h;
  });
  try {
    await definition.compose(host, config);
  } catch (error) {
    logger.fatal({ err: error }, `${definition.name} failed to start`);
    await door.close(0);
    process.exit(await lifecycle.shutdown("start-up failed", 1));
  }

  // Health Watch streams stay open for as long as a client listens; they are
  // told NOT_SERVING and ended first, so they do not hold up the drain.
  const watches = new AbortController();
  serve = buildHandler(services, readiness, fallback, watches.signal);
  lifecycle.onShutdown("rpc server", () => {
    watches.abort();
    return door.close();
  });
  phase = "running";
  logger.info(
    { port: door.port, services: services.map((s) => s.service.typeName) },
    services.length > 0
      ? `${definition.name} listening (Connect, gRPC, gRPC-Web, health and metrics on one port)`
      : `${definition.name} listening (HTTP, health and metrics)`,
  );
}

/**
 * The RPC handler: the service's own Connect services, then gRPC reflection
 * and grpc.health.v1 (on every process, so a gRPC health probe works on the
 * orchestrator and the simulators too); anything else goes to the process's
 * plain HTTP handler, if it has one.
 */
function buildHandler(
  services: { service: DescService; implementation: object }[],
  readiness: Readiness,
  fallback: FrontDoorHandler | undefined,
  watches: AbortSignal,
): FrontDoorHandler {
  const notFound: FrontDoorHandler = (_req, res) => sendJson(res, 404, { code: "not_found" });
  return createRpcHandler({
    interceptors: serverInterceptors(),
    routes: (router: ConnectRouter) => {
      for (const { service, implementation } of services) router.service(service, implementation as never);
      registerReflection(
        router,
        services.map((s) => s.service),
      );
      registerGrpcHealth(router, readiness, { signal: watches });
    },
    fallback: fallback ?? notFound,
  });
}

function serviceHost(
  name: string,
  logger: Logger,
  env: Env,
  lifecycle: Lifecycle,
  readiness: Readiness,
  services: { service: DescService; implementation: object }[],
  setFallback: (handler: FrontDoorHandler) => void,
): ServiceHost {
  return {
    name,
    logger,
    env,
    async database({ url, poolSize }, migrations) {
      await ensureDatabase(url);
      const pool = createPool(url, poolSize);
      lifecycle.onShutdown("postgres pool", () => pool.end());
      const applied = await migrate(pool, fileURLToPath(migrations));
      if (applied.length) logger.info({ applied }, "migrations applied");
      readiness.add("postgres", () => pool.query("SELECT 1"));
      return pool;
    },
    outboxRelay(options) {
      const relay = startOutboxPublisher({ logger, ...options });
      lifecycle.onShutdown("outbox relay", () => relay.stop());
      return relay;
    },
    kafka(brokers) {
      return createKafka({ clientId: name, brokers: parseBrokers(brokers), logger });
    },
    serve(service, implementation) {
      services.push({ service, implementation });
    },
    http(handler) {
      setFallback(handler as FrontDoorHandler);
    },
    breaker(breakerName, fn, options) {
      const breaker = createBreaker(breakerName, fn, { ...options, logger });
      lifecycle.onShutdown(`breaker ${breakerName}`, () => breaker.shutdown());
      return breaker;
    },
    ready(checkName, check) {
      readiness.add(checkName, check);
    },
    onShutdown(stepName, step) {
      lifecycle.onShutdown(stepName, step);
    },
    fail(reason, error) {
      if (lifecycle.stopping) return;
      logger.error({ err: error, reason }, "essential part failed, shutting down");
      void lifecycle.shutdown(reason, 1).then((code) => process.exit(code));
    },
    get stopping() {
      return lifecycle.stopping;
    },
  };
}
