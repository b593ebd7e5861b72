import type http from "node:http";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Interceptor } from "@connectrpc/connect";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { authorizationInterceptor } from "#lib/auth/authorization.ts";
import { DEMO_USERS, devClientTokens } from "#lib/auth/dev-identities.ts";
import { type Principal, principalKey } from "#lib/auth/principal.ts";
import { createTokenVerifier } from "#lib/auth/verifier.ts";
import { createPool, ensureDatabase, migrate } from "#lib/db.ts";
import { createLogger } from "#lib/observability/logger.ts";
import type { FrontDoorHandler } from "#lib/rpc/front-door.ts";
import { serverInterceptors } from "#lib/rpc/interceptors.ts";
import { startRpcServer } from "#lib/rpc/server.ts";
import { orderAuthorization } from "#services/orders/src/authorization.ts";
import { createCatalogPrices } from "#services/orders/src/catalog-prices.ts";
import { createOrderService } from "#services/orders/src/order-service.ts";
import { ROOT } from "../lib/procs.ts";

// The orders handlers served twice in one process, on two ports, over one
// pool: once behind the chain without the authorization interceptor, once
// with it (a real verifier against the realm's JWKS). Both see the same
// machine, process, pool and database, so the difference between them is the
// interceptor. The first server places the caller's principal the way the
// interceptor would (handlers scope to it), without looking at the token.
// BENCH_DATABASE_URL: the orders database; BENCH_TOPIC: its outbox topic
// (nothing relays it); OIDC_ISSUER: the realm; CATALOG_URL: the catalog
// checkout prices at (both servers share one client and breaker).
const databaseUrl = process.env.BENCH_DATABASE_URL ?? "";
const issuer = process.env.OIDC_ISSUER ?? "http://127.0.0.1:8180/realms/accord";
const logger = createLogger("orders-authorization-bench", process.env.LOG_LEVEL ?? "warn");

await ensureDatabase(databaseUrl);
const pool = createPool(databaseUrl, Number(process.env.BENCH_POOL_SIZE ?? 20));
await migrate(pool, path.join(ROOT, "services/orders/migrations"));
const catalog = createCatalogPrices({
  baseUrl: process.env.CATALOG_URL ?? "",
  tokens: devClientTokens("orders", issuer),
  breaker: { timeoutMs: 1_000 },
  logger,
});
const handlers = createOrderService({
  pool,
  logger,
  topic: process.env.BENCH_TOPIC ?? "bench.orders.events",
  catalog,
});

const alice: Principal = {
  kind: "user",
  subject: DEMO_USERS.alice.id,
  roles: new Set(["customer"]),
};
const placeAlice: Interceptor = (next) => (req) => {
  req.contextValues.set(principalKey, alice);
  return next(req);
};

const authorization = authorizationInterceptor({
  verifier: createTokenVerifier({ issuer, audience: "orders" }),
  tables: new Map([[OrderService.typeName, orderAuthorization]]),
  logger,
});

// How long each call spends in the authorization interceptor before the
// handler runs (token check and table lookup), measured in place: the part
// of the end-to-end difference that is the interceptor's own work.
// GET /bench/authorization-times answers the samples (ms) since the last ask.
let interceptorMs: number[] = [];
const entered = new WeakMap<object, number>();
const timedAuthorization: Interceptor = (next) => {
  const check = authorization((req) => {
    const t0 = entered.get(req);
    if (t0 !== undefined) interceptorMs.push(performance.now() - t0);
    return next(req);
  });
  return (req) => {
    entered.set(req, performance.now());
    return check(req);
  };
};
const timesRoute: FrontDoorHandler = (req, res) => {
  if (req.method === "GET" && req.url === "/bench/authorization-times") {
    const body = JSON.stringify(interceptorMs);
    interceptorMs = [];
    (res as http.ServerResponse).writeHead(200, { "content-type": "application/json" });
    (res as http.ServerResponse).end(body);
    return;
  }
  (res as http.ServerResponse).writeHead(404);
  (res as http.ServerResponse).end();
};

const routes = (router: Parameters<Parameters<typeof startRpcServer>[0]["routes"]>[0]) =>
  router.service(OrderService, handlers);
const health = { readyz: async () => void (await pool.query("SELECT 1")) };
const without = await startRpcServer({
  host: "127.0.0.1",
  port: 0,
  routes,
  health,
  interceptors: [...serverInterceptors(), placeAlice],
});
const withAuthorization = await startRpcServer({
  host: "127.0.0.1",
  port: 0,
  routes,
  health,
  interceptors: serverInterceptors({ authorization: timedAuthorization }),
  fallback: timesRoute,
});
// One write, so both lines are there when the parent sees LISTENING.
process.stdout.write(`WITH_AUTHORIZATION ${withAuthorization.port}\nLISTENING ${without.port}\n`);

process.on("SIGTERM", () => {
  void Promise.all([without.close(), withAuthorization.close()])
    .then(() => pool.end())
    .then(() => process.exit(0));
});
