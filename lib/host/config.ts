import { z } from "zod";
import { FRONT_DOOR_DEFAULTS, type FrontDoorLimits, frontDoorLimitsProblem } from "../rpc/front-door.ts";

/**
 * Parses process.env (or a given record) with a zod schema and fails with one
 * message naming every bad variable, so a service never starts half-configured.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `  ${issue.path.join(".") || "(env)"}: ${issue.message}`)
      .join("\n");
    throw new ConfigError(`invalid configuration:\n${problems}`);
  }
  return result.data;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

const port = z.coerce.number().int().min(1).max(65535);

/** Connection settings every service shares; defaults match infra/env.sh. */
export const infraEnv = {
  PGHOST: z.string().default("127.0.0.1"),
  PGPORT: port.default(5432),
  PGUSER: z.string().default("accord"),
  PGPASSWORD: z.string().default("accord"),
  KAFKA_BROKERS: z.string().default("127.0.0.1:9092"),
  /** Event consumers commit handled offsets together at most this often; 0: each at once (lib/messaging/kafka.ts). */
  KAFKA_COMMIT_INTERVAL_MS: z.coerce.number().int().min(0).max(10_000).default(0),
  AMQP_URL: z.string().url().default("amqp://accord:accord@127.0.0.1:5672"),
  TEMPORAL_ADDRESS: z.string().default("127.0.0.1:7233"),
  TEMPORAL_NAMESPACE: z.string().default("default"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
};

export const portSchema = port;

/** Builds a Postgres connection string for one service database. */
export function databaseUrl(
  cfg: { PGHOST: string; PGPORT: number; PGUSER: string; PGPASSWORD: string },
  db: string,
) {
  const user = encodeURIComponent(cfg.PGUSER);
  const pass = encodeURIComponent(cfg.PGPASSWORD);
  return `postgres://${user}:${pass}@${cfg.PGHOST}:${cfg.PGPORT}/${db}`;
}

export type Env = Record<string, string | undefined>;

/** `<P>_HOST` and `<P>_PORT`: where a process listens (loopback by default). */
export function listenEnv<P extends string>(prefix: P, defaultPort: number) {
  return {
    [`${prefix}_HOST`]: z.string().min(1).default("127.0.0.1"),
    [`${prefix}_PORT`]: port.default(defaultPort),
  } as Record<`${P}_HOST`, z.ZodDefault<z.ZodString>> & Record<`${P}_PORT`, z.ZodDefault<typeof port>>;
}

const millis = z.coerce.number().int().min(10).max(3_600_000);

/**
 * The front door's timeouts and caps (lib/rpc/front-door.ts FrontDoorLimits),
 * the same variables for every process; short values are for tests.
 */
export const frontDoorEnv = {
  FRONT_DOOR_FIRST_BYTE_TIMEOUT_MS: millis.default(FRONT_DOOR_DEFAULTS.firstByteTimeoutMs),
  FRONT_DOOR_HEADERS_TIMEOUT_MS: millis.default(FRONT_DOOR_DEFAULTS.headersTimeoutMs),
  FRONT_DOOR_REQUEST_TIMEOUT_MS: millis.default(FRONT_DOOR_DEFAULTS.requestTimeoutMs),
  FRONT_DOOR_KEEP_ALIVE_TIMEOUT_MS: millis.default(FRONT_DOOR_DEFAULTS.keepAliveTimeoutMs),
  FRONT_DOOR_H2_IDLE_TIMEOUT_MS: millis.default(FRONT_DOOR_DEFAULTS.h2IdleTimeoutMs),
  FRONT_DOOR_H2_MAX_CONCURRENT_STREAMS: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(FRONT_DOOR_DEFAULTS.h2MaxConcurrentStreams),
  FRONT_DOOR_MAX_CONNECTIONS_PER_ADDRESS: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(FRONT_DOOR_DEFAULTS.maxConnectionsPerAddress),
};

type FrontDoorConfig = { [K in keyof typeof frontDoorEnv]: number };

/** The front door's limits from validated FRONT_DOOR_* values; a ConfigError when they do not fit together. */
export function frontDoorLimits(cfg: FrontDoorConfig): FrontDoorLimits {
  const limits: FrontDoorLimits = {
    firstByteTimeoutMs: cfg.FRONT_DOOR_FIRST_BYTE_TIMEOUT_MS,
    headersTimeoutMs: cfg.FRONT_DOOR_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: cfg.FRONT_DOOR_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: cfg.FRONT_DOOR_KEEP_ALIVE_TIMEOUT_MS,
    h2IdleTimeoutMs: cfg.FRONT_DOOR_H2_IDLE_TIMEOUT_MS,
    h2MaxConcurrentStreams: cfg.FRONT_DOOR_H2_MAX_CONCURRENT_STREAMS,
    maxConnectionsPerAddress: cfg.FRONT_DOOR_MAX_CONNECTIONS_PER_ADDRESS,
  };
  const problem = frontDoorLimitsProblem(limits);
  if (problem !== undefined) {
    throw new ConfigError(
      `invalid configuration:\n  FRONT_DOOR_HEADERS_TIMEOUT_MS / FRONT_DOOR_REQUEST_TIMEOUT_MS: ${problem}`,
    );
  }
  return limits;
}

/** `<P>_DATABASE` and `<P>_DB_POOL_SIZE`: a service's own database. */
export function databaseEnv<P extends string>(prefix: P, defaultName: string, defaultPoolSize = 20) {
  return {
    [`${prefix}_DATABASE`]: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/, "must be a plain lower-case database name")
      .default(defaultName),
    [`${prefix}_DB_POOL_SIZE`]: z.coerce.number().int().min(1).max(200).default(defaultPoolSize),
  } as Record<`${P}_DATABASE`, z.ZodDefault<z.ZodString>> &
    Record<`${P}_DB_POOL_SIZE`, z.ZodDefault<z.ZodCoercedNumber<unknown>>>;
}

/** A Kafka topic name variable. */
export const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, "must be a Kafka topic name");

/** Where a service's own database is and how many connections its pool may open. */
export interface DatabaseSettings {
  url: string;
  poolSize: number;
}

/**
 * What every service with a database reads: the infrastructure's addresses,
 * `<P>_HOST`/`<P>_PORT` and `<P>_DATABASE`/`<P>_DB_POOL_SIZE`.
 */
export function serviceEnv<P extends string>(prefix: P, defaultPort: number, defaultDatabase: string) {
  return { ...infraEnv, ...listenEnv(prefix, defaultPort), ...databaseEnv(prefix, defaultDatabase) };
}

/** Loads a service's configuration (see serviceEnv) and adds its database settings. */
export function loadServiceConfig<S extends z.ZodObject, P extends string>(
  schema: S,
  env: Env,
  prefix: P,
): z.infer<S> & { database: DatabaseSettings } {
  const cfg = loadConfig(schema, env) as z.infer<S> & Record<string, unknown>;
  const name = cfg[`${prefix}_DATABASE`];
  const poolSize = cfg[`${prefix}_DB_POOL_SIZE`];
  if (typeof name !== "string" || typeof poolSize !== "number") {
    throw new ConfigError(
      `${prefix}_DATABASE and ${prefix}_DB_POOL_SIZE are not in the schema (use serviceEnv)`,
    );
  }
  return { ...cfg, database: { url: databaseUrl(cfg as never, name), poolSize } };
}
