import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

// int8 (bigint) columns come back as JS strings by default; money and stock
// counts are int64 in the contract, so parse them into bigint once, here.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => BigInt(value));

export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, idleTimeoutMillis: 30_000 });
  // A client losing its connection (server restart) must not crash the
  // process: idle ones report on the pool, checked-out ones on themselves
  // (their next query then fails and the caller's error handling runs).
  pool.on("error", () => {});
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });
  return pool;
}

/** Creates the database when it does not exist yet (connects to "postgres"). */
export async function ensureDatabase(connectionString: string): Promise<void> {
  const url = new URL(connectionString);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[a-z_][a-z0-9_]*$/.test(name))
    throw new Error(`refusing unusual database name ${JSON.stringify(name)}`);
  url.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount === 0) {
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } catch (error) {
        // Two processes may race to create it; losing the race is fine.
        if ((error as { code?: string }).code !== "42P04") throw error;
      }
    }
  } finally {
    await admin.end();
  }
}

/**
 * Applies numbered .sql files from a folder, each in its own transaction, and
 * records them in schema_migrations. An advisory lock keeps concurrent starts
 * of the same service from applying a file twice.
 */
export async function migrate(pool: pg.Pool, dir: string): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query("SELECT pg_advisory_lock(727274)");
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const done = new Set(
      (await client.query<{ name: string }>("SELECT name FROM schema_migrations")).rows.map((r) => r.name),
    );
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = await readFile(path.join(dir, file), "utf8");
      await client.query("BEGIN");
      try {
        await client.query(sql);
        await client.query("INSERT INTO schema_migrations (name) VALUES ($1)", [file]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${file} failed: ${(error as Error).message}`);
      }
      applied.push(file);
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock(727274)").catch(() => {});
    client.release();
  }
  return applied;
}

const commitHooks = new WeakMap<pg.PoolClient, Set<() => void>>();

/**
 * Calls hook once the transaction inTransaction has open on client commits;
 * nothing happens when it rolls back. The same hook registered twice in one
 * transaction runs once.
 */
export function afterCommit(client: pg.PoolClient, hook: () => void): void {
  const hooks = commitHooks.get(client);
  if (hooks) hooks.add(hook);
  else commitHooks.set(client, new Set([hook]));
}

/**
 * Runs fn inside one transaction on one client. `begin` is the statement that
 * opens it, for another isolation level or a read-only transaction.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  begin = "BEGIN",
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const result = await fn(client);
    await client.query("COMMIT");
    const hooks = commitHooks.get(client);
    commitHooks.delete(client);
    for (const hook of hooks ?? []) {
      // The transaction is committed: a failing hook must not make the caller think otherwise.
      try {
        hook();
      } catch {}
    }
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    // A pooled client outlives the transaction: hooks of a rolled-back one must not reach the next.
    commitHooks.delete(client);
    client.release();
  }
}

/**
 * True for errors that mean "the database cannot be reached or is going
 * away", as opposed to an answer it gave: socket errors, pg's own messages for
 * a broken connection, and SQLSTATE classes 08 (connection exception) and
 * 57P (operator intervention: shutdown, crash recovery).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code))
    return code.startsWith("08") || code.startsWith("57P");
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return true;
  return isPgConnectionLoss(error);
}

/** pg's and pg-pool's own messages for a connection that broke, or that never came. */
export function isPgConnectionLoss(error: unknown): boolean {
  const message = String((error as { message?: unknown } | undefined)?.message ?? "");
  return /Connection terminated|not queryable|timeout exceeded when trying to connect|Client was closed/i.test(
    message,
  );
}
