import http from "node:http";
import { fileURLToPath } from "node:url";
import { createPool, ensureDatabase, migrate } from "#lib/db.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { createApi } from "./api.ts";
import { loadPactBrokerConfig } from "./config.ts";
import { createStore } from "./db/store.ts";
import { HttpError, readBody, send } from "./http-util.ts";

// Composition root of Accord's own Pact Broker: config, database, HTTP API, shutdown.
const logger = createLogger("pact-broker");

async function main() {
  const config = loadPactBrokerConfig();
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, config.PACT_BROKER_DB_POOL_SIZE);
  const applied = await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  if (applied.length) logger.info({ applied }, "migrations applied");

  const store = createStore(pool);
  const api = createApi(store);
  let stopping = false;

  const server = http.createServer(async (req, res) => {
    const started = Date.now();
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    let status = 500;
    try {
      if (url.pathname === "/healthz") {
        status = 200;
        return send(res, { status, body: { status: "ok" } });
      }
      if (url.pathname === "/readyz") {
        if (stopping) throw new HttpError(503, { status: "stopping" });
        await store.ping().catch(() => {
          throw new HttpError(503, { status: "database unavailable" });
        });
        status = 200;
        return send(res, { status, body: { status: "ready" } });
      }
      const found = api.match(method, url.pathname);
      if (found === undefined) throw new HttpError(404, { error: `no resource at ${url.pathname}` });
      if (found === "method") throw new HttpError(405, { error: `${method} not allowed on ${url.pathname}` });
      const base =
        config.PACT_BROKER_PUBLIC_URL ??
        `http://${req.headers.host ?? `${config.PACT_BROKER_HOST}:${config.PACT_BROKER_PORT}`}`;
      const reply = await found.handler({ req, url, params: found.params, base, body: readBody(req) });
      status = reply.status;
      send(res, reply, method === "HEAD");
    } catch (error) {
      if (error instanceof HttpError) {
        status = error.status;
        send(res, { status, body: error.body });
      } else {
        status = 500;
        logger.error({ err: error, method, path: url.pathname }, "request failed");
        send(res, { status, body: { error: "internal error" } });
      }
    } finally {
      // Every request is logged at debug: the way to see which relations a client follows.
      logger.debug(
        { method, path: url.pathname, query: url.search, status, ms: Date.now() - started },
        "request",
      );
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.PACT_BROKER_PORT, config.PACT_BROKER_HOST, () => resolve());
  });
  logger.info({ port: config.PACT_BROKER_PORT }, "pact broker listening");

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    // Stop taking connections, let requests in flight finish, then close the pool.
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 5_000).unref();
    });
    await pool.end();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "pact broker failed to start");
  process.exit(1);
});
