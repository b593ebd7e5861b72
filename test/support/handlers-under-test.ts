import path from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import {
  type Client,
  createClient,
  createRouterTransport,
  type Interceptor,
  type ServiceImpl,
} from "@connectrpc/connect";
import type pg from "pg";
import { type Principal, principalKey } from "#lib/auth/principal.ts";
import { migrate } from "#lib/db.ts";
import { createLogger, type Logger } from "#lib/observability/logger.ts";
import { serverInterceptors } from "#lib/rpc/interceptors.ts";
import { newTopicPrefix } from "./kafka.ts";
import { type TempDatabase, tempDatabase } from "./postgres.ts";
import { ROOT } from "./service-process.ts";

/**
 * A service's own database for one test run, created and migrated with the
 * service's migrations (services/<service>/migrations) by lib/db's migrate,
 * as the service does at start. database.drop() removes it.
 */
export async function migratedDatabase(
  service: string,
  tag = "inproc",
  poolSize = 10,
): Promise<{ database: TempDatabase; pool: pg.Pool }> {
  const database = tempDatabase(service, tag);
  await database.create();
  const pool = database.pool(poolSize);
  try {
    await migrate(pool, path.join(ROOT, "services", service, "migrations"));
  } catch (error) {
    await database.drop();
    throw error;
  }
  return { database, pool };
}

/** What a service's handler factory is given in a test: its database and the rest of its parts. */
export interface HandlerDeps {
  pool: pg.Pool;
  logger: Logger;
  /** ACCORD_TOPIC_PREFIX of the run, for a factory that takes its events topic. */
  topicPrefix: string;
}

export interface HandlersUnderTest<S extends DescService> {
  /** The generated client, calling the handlers in this process (no socket, no server), as the default caller. */
  readonly client: Client<S>;
  /**
   * A client whose calls reach the handlers as `caller`. In process there is
   * no token: the caller is placed where the authorization interceptor puts
   * it, to test what handlers scope to. Tokens and tables are tested against
   * the real services (test/integration/authorization.test.ts, the attack suite).
   */
  clientAs(caller: Principal): Client<S>;
  /** A pool on the migrated database the handlers use. */
  readonly pool: pg.Pool;
  readonly topicPrefix: string;
  /** Drops the database. */
  stop(): Promise<void>;
}

/**
 * A service's real handlers, built by its own factory against a migrated
 * PostgreSQL database of the run's own, served through createRouterTransport
 * behind the interceptor chain every RPC server runs: the RPC path without a
 * process or a socket, for feedback in seconds.
 */
export async function startHandlersUnderTest<S extends DescService>(options: {
  /** The service's folder name, whose migrations are applied. */
  name: string;
  service: S;
  handlers: (deps: HandlerDeps) => Partial<ServiceImpl<S>>;
  /** Who `client` calls as (see clientAs). */
  caller: Principal;
}): Promise<HandlersUnderTest<S>> {
  const { database, pool } = await migratedDatabase(options.name);
  const topicPrefix = newTopicPrefix("inproc");
  const logger = createLogger(`${options.name}-handlers`, process.env.TEST_LOG_LEVEL ?? "silent");
  let implementation: Partial<ServiceImpl<S>>;
  try {
    implementation = options.handlers({ pool, logger, topicPrefix });
  } catch (error) {
    await database.drop();
    throw error;
  }
  const clientAs = (caller: Principal) => {
    const asCaller: Interceptor = (next) => (req) => {
      req.contextValues.set(principalKey, caller);
      return next(req);
    };
    const transport = createRouterTransport((router) => router.service(options.service, implementation), {
      router: { interceptors: [...serverInterceptors(), asCaller] },
    });
    return createClient(options.service, transport);
  };
  return {
    client: clientAs(options.caller),
    clientAs,
    pool,
    topicPrefix,
    stop: () => database.drop(),
  };
}
