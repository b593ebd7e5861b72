import { randomUUID } from "node:crypto";
import pg from "pg";

/**
 * The one place tests read PostgreSQL's connection settings and make and drop
 * their temporary databases. The settings come from PGHOST, PGPORT, PGUSER
 * and PGPASSWORD, which the global setup (test/setup/infrastructure.ts) sets.
 *
 * Plain pg, not lib/db.ts: importing lib/db would switch every int8 column of
 * the test's own queries to bigint, and the tests read them as pg gives them.
 */

export function pgSettings(database: string): pg.ClientConfig {
  return {
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT),
    user: process.env.PGUSER,
    password: process.env.PGPASSWORD,
    database,
  };
}

/** The same settings as a connection string (what the services and lib/db take). */
export function pgUrl(database: string): string {
  const { PGUSER = "", PGPASSWORD = "", PGHOST, PGPORT } = process.env;
  return `postgres://${encodeURIComponent(PGUSER)}:${encodeURIComponent(PGPASSWORD)}@${PGHOST}:${PGPORT}/${database}`;
}

/** A short random id for the names one test run owns (databases, topic prefixes, groups). */
export function shortId(length = 10): string {
  return randomUUID().replaceAll("-", "").slice(0, length);
}

/** One query on a database, on a connection of its own. */
export async function queryDatabase<T extends pg.QueryResultRow>(
  database: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client(pgSettings(database));
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface TempDatabase {
  /** e.g. accord_orders_test_1a2b3c4d5e */
  readonly name: string;
  readonly url: string;
  /** Creates it; a service under test creates its own at start, so only in-process tests need this. */
  create(): Promise<void>;
  /** A pool on it; drop() closes it. */
  pool(max?: number): pg.Pool;
  /** Closes its pools and drops it, also while a service still holds connections. */
  drop(): Promise<void>;
}

/** A database of one service for one test run: accord_<service>_<tag>_<id>. */
export function tempDatabase(service: string, tag = "test", id = shortId()): TempDatabase {
  const name = `accord_${service.replaceAll("-", "_")}_${tag}_${id}`;
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unusable database name ${name}`);
  const pools: pg.Pool[] = [];
  return {
    name,
    url: pgUrl(name),
    async create() {
      await queryDatabase("postgres", `CREATE DATABASE ${name}`);
    },
    pool(max = 3) {
      const pool = new pg.Pool({ ...pgSettings(name), max });
      // Dropping the database ends idle connections; that is no test failure.
      pool.on("error", () => {});
      pools.push(pool);
      return pool;
    },
    async drop() {
      await Promise.all(pools.splice(0).map((p) => p.end().catch(() => {})));
      await queryDatabase("postgres", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
