import type http from "node:http";
import { fileURLToPath } from "node:url";
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { z } from "zod";
import {
  type AuthorizationTable,
  authorizationInterceptor,
  type MethodRule,
  missingRules,
} from "../auth/authorization.ts";
import { clientCredentials, type TokenSource } from "../auth/client-credentials.ts";
import { authEnv, tokenUrlOf } from "../auth/config.ts";
import { createTokenVerifier } from "../auth/verifier.ts";
import { type Breaker, type BreakerOptions, createBreaker } from "../breaker.ts";
import { createPool, ensureDatabase, migrate, type Pool } from "../db.ts";
import { createKafka, type KafkaClient, kafkaAuthFrom, parseBrokers } from "../messaging/kafka.ts";
import {
  type OutboxPublisher,
  type OutboxPublisherOptions,
  startOutboxPublisher,
} from "../messaging/outbox-relay.ts";
import { createLogger, type Logger } from "../observability/logger.ts";
import {
  DEFAULT_EVENT_LOOP_RESOLUTION_MS,
  processMetrics,
  setEventLoopResolution,
} from "../observability/metrics.ts";
import { startTracing, tracingEnv } from "../observability/tracing.ts";
import { type FrontDoor, type FrontDoorHandler, startFrontDoor } from "../rpc/front-door.ts";
import { healthAuthorization, registerGrpcHealth } from "../rpc/grpc-health.ts";
import { serverInterceptors } from "../rpc/interceptors.ts";
import { reflectionAuthorization, registerReflection } from "../rpc/reflection.ts";
import { createRpcHandler, processHandler } from "../rpc/server.ts";
import { ConfigError, type DatabaseSettings, frontDoorEnv, frontDoorLimits, loadConfig } from "./config.ts";
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
  /**
   * Serves a Connect service behind the shared interceptor chain; every
   * method needs a rule in `authorization` (who may call it), else the
   * process refuses to start.
   */
  serve<S extends DescService>(
    service: S,
    implementation: Partial<ServiceImpl<S>>,
    authorization: AuthorizationTable<S>,
  ): void;
  /**
   * Tokens for this process's own calls to other services (client
   * credentials as AUTH_CLIENT_ID, by default the process's name, with
   * AUTH_CLIENT_SECRET), cached until shortly before they expire.
   */
  tokens(): TokenSource;
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
const hostEnv = authEnv.extend({
  // The longest the whole shutdown may take before the steps left are skipped.
  SHUTDOWN_DEADLINE_MS: z.coerce.number().int().min(100).max(600_000).default(25_000),
  // The event-loop delay monitor's sampling period (lib/observability/metrics.ts setEventLoopResolution).
  METRICS_EVENT_LOOP_RESOLUTION_MS: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000)
    .default(DEFAULT_EVENT_LOOP_RESOLUTION_MS),
  ...frontDoorEnv,
});
type HostConfig = z.infer<typeof hostEnv>;

interface Served {
  service: DescService;
  implementation: object;
  authorization: Readonly<Record<string, MethodRule>>;
}

/**
 * Runs one process: validates its configuration, listens at once (so
 * /healthz answers while the parts start; /readyz says "starting"), builds
 * the parts, then serves their RPCs with gRPC reflection and grpc.health.v1
 * beside them. SIGTERM and SIGINT run the shutdown steps, the server first.
 */
export async function runService<C>(definition: ServiceDefinition<C>, env: Env = process.env): Promise<void> {
  const logger = createLogger(definition.name, env.LOG_LEVEL ?? "info");
  let config: C;
  let hostConfig: HostConfig;
  try {
    loadConfig(tracingEnv, env);
    hostConfig = loadConfig(hostEnv, env);
    frontDoorLimits(hostConfig);
    setEventLoopResolution(hostConfig.METRICS_EVENT_LOOP_RESOLUTION_MS);
    config = definition.loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      logger.fatal(`${definition.name}: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }

  // Before anything else, so every part's spans have a provider; its step
  // is added first so it runs last, exporting the spans of the other steps.
  const tracing = startTracing(definition.name, logger, env);
  const lifecycle = createLifecycle({ logger, deadlineMs: hostConfig.SHUTDOWN_DEADLINE_MS });
  if (tracing.enabled) lifecycle.onShutdown("tracing flush", () => tracing.flush());
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
    door = await startFrontDoor({
      host: address,
      port,
      handler: processHandler(readiness, () => serve),
      limits: frontDoorLimits(hostConfig),
    });
  } catch (error) {
    logger.fatal({ err: error, host: address, port }, `${definition.name} cannot listen`);
    process.exit(1);
  }

  const services: Served[] = [];
  let fallback: FrontDoorHandler | undefined;
  const host = serviceHost(definition.name, logger, env, hostConfig, lifecycle, readiness, services, (h) => {
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
  serve = buildHandler(definition.name, hostConfig, logger, services, readiness, fallback, watches.signal);
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
  name: string,
  config: HostConfig,
  logger: Logger,
  services: Served[],
  readiness: Readiness,
  fallback: FrontDoorHandler | undefined,
  watches: AbortSignal,
): FrontDoorHandler {
  const notFound: FrontDoorHandler = (_req, res) => sendJson(res, 404, { code: "not_found" });
  const tables = new Map<string, Readonly<Record<string, MethodRule>>>([
    ["grpc.reflection.v1.ServerReflection", reflectionAuthorization.v1],
    ["grpc.reflection.v1alpha.ServerReflection", reflectionAuthorization.v1alpha],
    ["grpc.health.v1.Health", healthAuthorization],
  ]);
  for (const { service, authorization } of services) tables.set(service.typeName, authorization);
  const verifier = createTokenVerifier({
    issuer: config.OIDC_ISSUER,
    audience: config.AUTH_AUDIENCE ?? name,
    jwksUrl: config.OIDC_JWKS_URL,
    clockToleranceSec: config.AUTH_CLOCK_SKEW_SEC,
  });
  const { authDenials } = processMetrics();
  const authorization = authorizationInterceptor({
    verifier,
    tables,
    logger,
    onDenied: (reason, method) => authDenials.inc({ reason, method }),
  });
  return createRpcHandler({
    interceptors: serverInterceptors({ authorization }),
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
  config: HostConfig,
  lifecycle: Lifecycle,
  readiness: Readiness,
  services: Served[],
  setFallback: (handler: FrontDoorHandler) => void,
): ServiceHost {
  let tokens: TokenSource | undefined;
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
      // The process's own principal (KAFKA_USERNAME / KAFKA_PASSWORD); a missing one is a ConfigError.
      return createKafka({
        clientId: name,
        brokers: parseBrokers(brokers),
        logger,
        auth: kafkaAuthFrom(env),
      });
    },
    serve(service, implementation, authorization) {
      const missing = missingRules(service, authorization);
      if (missing.length > 0) {
        throw new ConfigError(`${service.typeName} has no authorization rule for ${missing.join(", ")}`);
      }
      services.push({ service, implementation, authorization });
    },
    tokens() {
      if (tokens) return tokens;
      const clientId = config.AUTH_CLIENT_ID ?? name;
      if (!config.AUTH_CLIENT_SECRET) {
        throw new ConfigError(
          `AUTH_CLIENT_SECRET: required, the secret of client "${clientId}" in the realm`,
        );
      }
      tokens = clientCredentials({
        tokenUrl: tokenUrlOf(config),
        clientId,
        clientSecret: config.AUTH_CLIENT_SECRET,
      });
      return tokens;
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
