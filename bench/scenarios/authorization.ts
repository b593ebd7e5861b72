import { performance } from "node:perf_hooks";
import pg from "pg";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { clientCredentials, passwordGrant } from "#lib/auth/client-credentials.ts";
import { DEMO_USERS, devClientSecret } from "#lib/auth/dev-identities.ts";
import { createTokenVerifier } from "#lib/auth/verifier.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { ensureProducts } from "#test/support/catalog.ts";
import { freePort, startServiceProcess } from "#test/support/service-process.ts";
import { databaseUrlFor } from "../lib/env.ts";
import { createPoster } from "../lib/http.ts";
import { benchCaller, benchIssuer, serviceIdentityEnv } from "../lib/identity.ts";
import { openLoop } from "../lib/open-loop.ts";
import { startCpuMeter, startTarget } from "../lib/procs.ts";
import { requireServed } from "../lib/served.ts";
import { type LatencySummary, round, sleep, summarize } from "../lib/stats.ts";

export type AuthorizedMethod = "PlaceOrder" | "GetOrder";
export type Chain = "without" | "with";

export interface AuthorizationRow {
  method: AuthorizedMethod;
  /** Whether the chain ran the authorization interceptor (a real verifier, the orders table). */
  chain: Chain;
  rate: number;
  sent: number;
  ok: number;
  errors: number;
  firstError?: string;
  /** Every request of every round of this row, pooled. */
  latency: LatencySummary;
  perRoundP99: number[];
  /** Generator send lag p99 over the rounds (large = the client was the bottleneck). */
  sendLagP99: number;
  /** CPU of the serving process (both servers live in it, one loaded at a time), percent of one core. */
  serverCpu: number;
}

export interface AddedCost {
  method: AuthorizedMethod;
  /** with - without, pooled over every round. */
  p50: number;
  p99: number;
  /** with - without, round by round (same round, adjacent windows). */
  perRoundP99: number[];
  serverCpu: number;
  /** Time spent in the interceptor itself before the handler ran, measured in the server, pooled (with chain only). */
  inInterceptor: LatencySummary;
}

export interface AuthorizationResult {
  rate: number;
  rounds: number;
  secondsPerRun: number;
  rows: AuthorizationRow[];
  added: AddedCost[];
  /** The verifier alone, in this process: a token seen before (cache hit) and a new one (signature check). */
  verify: { cachedMicros: number; freshMicrosMean: number; freshMicrosMax: number; freshTokens: number };
  /** Service calls through the bearer-token interceptor and how many token requests they caused. */
  tokenFetches: { calls: number; ok: number; concurrency: number; tokenRequests: number };
}

const PLACE_ORDER = `/${OrderService.typeName}/${OrderService.method.placeOrder.name}`;
const GET_ORDER = `/${OrderService.typeName}/${OrderService.method.getOrder.name}`;
const RATE = 500;

function placeOrderBody(key: string): string {
  return JSON.stringify({
    idempotencyKey: key,
    // Alice orders for herself; the server with the interceptor checks it against her token.
    customerId: DEMO_USERS.alice.id,
    customerEmail: "alice@example.com",
    currencyCode: "EUR",
    // No price: both servers price the order at the catalog.
    lines: [
      { sku: "BENCH-BOOK", quantity: 2 },
      { sku: "BENCH-MUG", quantity: 1 },
    ],
    shippingAddress: {
      recipientName: "Bench",
      line1: "Hauptstrasse 1",
      city: "Berlin",
      postalCode: "10115",
      countryCode: "DE",
    },
  });
}

/**
 * What the authorization interceptor costs: the orders handlers in one
 * process behind two chains (bench/targets/orders-authorization.ts), both
 * called with alice's real token from the realm, PlaceOrder and GetOrder
 * open loop at 500/s, the two chains alternating window by window (which one
 * goes first alternates by round), so both see the same noise. Then the
 * verifier alone, and how many token requests N service calls cause.
 */
export async function runAuthorizationBench(
  quick: boolean,
  runId: string,
  log: (line: string) => void,
): Promise<AuthorizationResult> {
  const issuer = benchIssuer();
  const database = `accord_orders_bench_auth_${runId}`;
  // Short windows, many of them: the two chains trade places often, so a
  // burst of foreign load on the shared machine lands on both alike.
  const rounds = quick ? 2 : 10;
  const secondsPerRun = quick ? 3 : 3;
  // The catalog both chains price at (the same for both, so it cancels out of the difference).
  const catalogDatabase = `accord_catalog_bench_auth_${runId}`;
  const catalogPort = await freePort();
  const catalog = await startServiceProcess(
    "services/catalog/src/main.ts",
    {
      CATALOG_PORT: String(catalogPort),
      CATALOG_DATABASE: catalogDatabase,
      ...serviceIdentityEnv("catalog"),
    },
    catalogPort,
    60_000,
  );
  let target: Awaited<ReturnType<typeof startTarget>> | undefined;
  try {
    await ensureProducts(catalog.url, [
      { sku: "BENCH-BOOK", prices: { EUR: 1250n } },
      { sku: "BENCH-MUG", prices: { EUR: 899n } },
    ]);
    const started = await startTarget("orders-authorization.ts", {
      BENCH_DATABASE_URL: databaseUrlFor(database),
      BENCH_TOPIC: `bench-${runId}.orders.events`,
      BENCH_POOL_SIZE: "20",
      OIDC_ISSUER: issuer,
      CATALOG_URL: catalog.url,
    });
    target = started;
    const withPort = Number(/WITH_AUTHORIZATION (\d+)/.exec(started.output())?.[1]);
    if (!(withPort > 0)) throw new Error(`the target named no second port:\n${started.output()}`);
    const urls: Record<Chain, string> = {
      without: `http://127.0.0.1:${started.port}`,
      with: `http://127.0.0.1:${withPort}`,
    };
    const posters = { without: createPoster(urls.without), with: createPoster(urls.with) };
    const alice = await benchCaller("alice", "orders");

    // Orders to read back: alice's, placed through the server that checks her token.
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const answer = await posters.with.post(
        PLACE_ORDER,
        placeOrderBody(`bench-auth-seed-${runId}-${i}`),
        "application/json",
        alice.headers,
      );
      ids.push((JSON.parse(answer.toString()) as { order: { orderId: string } }).order.orderId);
    }

    let n = 0;
    const window = async (method: AuthorizedMethod, chain: Chain, durationMs: number) => {
      const headers = alice.headers;
      const poster = posters[chain];
      const cpu = startCpuMeter({ server: () => (started.pid ? [started.pid] : []) });
      const result = await openLoop({
        rate: RATE,
        durationMs,
        keepSamples: true,
        send: async (i) => {
          if (method === "PlaceOrder") {
            await poster.post(
              PLACE_ORDER,
              placeOrderBody(`bench-auth-${runId}-${n++}`),
              "application/json",
              headers,
            );
          } else {
            await poster.post(
              GET_ORDER,
              JSON.stringify({ orderId: ids[i % ids.length] }),
              "application/json",
              headers,
            );
          }
        },
      });
      const cpuUsed = cpu.stop().groups.server ?? 0;
      requireServed(`${method} ${chain} authorization`, result);
      const answer = await fetch(`${urls.with}/bench/authorization-times`);
      const inInterceptor = (await answer.json()) as number[];
      return { result, cpu: cpuUsed, inInterceptor };
    };

    log(
      `authorization: warm-up, then ${rounds} rounds of ${secondsPerRun} s per method and chain at ${RATE}/s`,
    );
    for (const method of ["PlaceOrder", "GetOrder"] as const)
      for (const chain of ["without", "with"] as const) await window(method, chain, quick ? 1_000 : 2_000);

    type Acc = {
      samples: number[];
      lags: number[];
      perRound: number[];
      sent: number;
      ok: number;
      errors: number;
      cpu: number[];
      firstError?: string;
    };
    const acc = new Map<string, Acc>();
    const interceptorSamples: Record<AuthorizedMethod, number[]> = { PlaceOrder: [], GetOrder: [] };
    const keyOf = (m: AuthorizedMethod, c: Chain) => `${m}/${c}`;
    for (let r = 0; r < rounds; r++) {
      for (const method of ["PlaceOrder", "GetOrder"] as const) {
        const order: Chain[] = r % 2 === 0 ? ["without", "with"] : ["with", "without"];
        for (const chain of order) {
          const { result, cpu, inInterceptor } = await window(method, chain, secondsPerRun * 1000);
          if (chain === "with") interceptorSamples[method].push(...inInterceptor);
          const a = acc.get(keyOf(method, chain)) ?? {
            samples: [],
            lags: [],
            perRound: [],
            sent: 0,
            ok: 0,
            errors: 0,
            cpu: [],
          };
          a.samples.push(...(result.samples ?? []));
          a.lags.push(result.sendLag.p99);
          a.perRound.push(round(result.latency.p99, 2));
          a.sent += result.sent;
          a.ok += result.ok;
          a.errors += result.errors;
          a.cpu.push(cpu);
          a.firstError ??= result.firstError;
          acc.set(keyOf(method, chain), a);
          // Let the pool and the disk settle between windows.
          await sleep(300);
        }
      }
      log(`authorization: round ${r + 1}/${rounds} done`);
    }
    posters.without.close();
    posters.with.close();

    const rows: AuthorizationRow[] = [];
    for (const method of ["PlaceOrder", "GetOrder"] as const)
      for (const chain of ["without", "with"] as const) {
        const a = acc.get(keyOf(method, chain));
        if (!a) continue;
        rows.push({
          method,
          chain,
          rate: RATE,
          sent: a.sent,
          ok: a.ok,
          errors: a.errors,
          ...(a.firstError ? { firstError: a.firstError } : {}),
          latency: roundSummary(summarize(a.samples)),
          perRoundP99: a.perRound,
          sendLagP99: round(Math.max(...a.lags), 2),
          serverCpu: round(a.cpu.reduce((x, y) => x + y, 0) / a.cpu.length, 1),
        });
      }
    const added: AddedCost[] = (["PlaceOrder", "GetOrder"] as const).map((method) => {
      const w = rows.find((x) => x.method === method && x.chain === "with");
      const wo = rows.find((x) => x.method === method && x.chain === "without");
      return {
        method,
        p50: round((w?.latency.p50 ?? Number.NaN) - (wo?.latency.p50 ?? Number.NaN), 3),
        p99: round((w?.latency.p99 ?? Number.NaN) - (wo?.latency.p99 ?? Number.NaN), 3),
        perRoundP99: (w?.perRoundP99 ?? []).map((p, i) => round(p - (wo?.perRoundP99[i] ?? Number.NaN), 2)),
        serverCpu: round((w?.serverCpu ?? Number.NaN) - (wo?.serverCpu ?? Number.NaN), 1),
        inInterceptor: roundSummary(summarize(interceptorSamples[method])),
      };
    });

    log("authorization: the verifier alone (cached token, new tokens)");
    const verify = await measureVerifier(issuer, quick ? 5 : 20);
    log("authorization: token requests behind N service calls");
    const tokenFetches = await countTokenFetches(issuer, urls.with, ids[0] ?? "", quick ? 500 : 2000, 50);
    return { rate: RATE, rounds, secondsPerRun, rows, added, verify, tokenFetches };
  } finally {
    await target?.stop();
    await catalog.stop();
    const admin = new pg.Client({ connectionString: databaseUrlFor("postgres") });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.query(`DROP DATABASE IF EXISTS ${catalogDatabase} WITH (FORCE)`);
    await admin.end();
  }
}

function roundSummary(l: LatencySummary): LatencySummary {
  return {
    count: l.count,
    mean: round(l.mean, 3),
    p50: round(l.p50, 3),
    p90: round(l.p90, 3),
    p95: round(l.p95, 3),
    p99: round(l.p99, 3),
    p999: round(l.p999, 3),
    max: round(l.max, 3),
  };
}

/**
 * The verifier in this process: the same token again (what a caller's
 * repeat calls cost: a cache lookup) and tokens it has not seen (a signature
 * check against the cached key set), each from its own login.
 */
async function measureVerifier(issuer: string, freshCount: number): Promise<AuthorizationResult["verify"]> {
  const verifier = createTokenVerifier({ issuer, audience: "orders" });
  const tokenUrl = `${issuer}/protocol/openid-connect/token`;
  const login = () =>
    passwordGrant({
      tokenUrl,
      clientId: "accord-cli",
      username: "alice",
      password: DEMO_USERS.alice.password,
      // The realm may be slow on a busy machine; this measures the verifier, not the login.
      timeoutMs: 30_000,
    }).token("orders");
  // The first one fetches the key set; it is not counted.
  const first = `Bearer ${await login()}`;
  await verifier.verify(first);
  const fresh: number[] = [];
  for (let i = 0; i < freshCount; i++) {
    const header = `Bearer ${await login()}`;
    const t0 = performance.now();
    await verifier.verify(header);
    fresh.push((performance.now() - t0) * 1000);
  }
  const repeats = 20_000;
  const t0 = performance.now();
  for (let i = 0; i < repeats; i++) await verifier.verify(first);
  const cachedMicros = ((performance.now() - t0) * 1000) / repeats;
  return {
    cachedMicros: round(cachedMicros, 2),
    freshMicrosMean: round(fresh.reduce((a, b) => a + b, 0) / fresh.length, 1),
    freshMicrosMax: round(Math.max(...fresh), 1),
    freshTokens: fresh.length,
  };
}

/**
 * N GetOrder calls as the orchestrator through the generated client and the
 * bearer-token interceptor, starting from an empty token cache with
 * `concurrency` calls at once, counting the requests that reach the token
 * endpoint for the orchestrator's client (fetch wrapped for the duration).
 */
async function countTokenFetches(
  issuer: string,
  url: string,
  orderId: string,
  calls: number,
  concurrency: number,
): Promise<AuthorizationResult["tokenFetches"]> {
  const tokenUrl = `${issuer}/protocol/openid-connect/token`;
  let tokenRequests = 0;
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const target = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const body = init?.body;
    if (target === tokenUrl && body instanceof URLSearchParams && body.get("client_id") === "orchestrator")
      tokenRequests += 1;
    return realFetch(input, init);
  };
  try {
    const tokens = clientCredentials({
      tokenUrl,
      clientId: "orchestrator",
      clientSecret: devClientSecret("orchestrator"),
    });
    const orders = rpcClient(OrderService, url, "connect-json", { tokens, audience: "orders" });
    let ok = 0;
    let next = 0;
    const worker = async () => {
      while (next < calls) {
        next += 1;
        // The orchestrator may read every order, alice's too.
        const { order } = await orders.getOrder({ orderId });
        if (order?.orderId === orderId) ok += 1;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { calls, ok, concurrency, tokenRequests };
  } finally {
    globalThis.fetch = realFetch;
  }
}
