import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import autocannon from "autocannon";
import pg from "pg";
import { CatalogService } from "#gen/accord/catalog/v1/catalog_pb.js";
import { OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { GetOrderRequestSchema, OrderService, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS, devClientTokens } from "#lib/auth/dev-identities.ts";
import { createPool, inTransaction } from "#lib/db.ts";
import { encodeEvent, sourceFor, topicFor } from "#lib/messaging/events.ts";
import { enqueueOutbox } from "#lib/messaging/outbox.ts";
import { ensureProducts } from "#test/support/catalog.ts";
import { freePort, type ServiceProcess, startServiceProcess } from "#test/support/service-process.ts";
import { closedLoop } from "../lib/closed-loop.ts";
import { databaseUrlFor } from "../lib/env.ts";
import { createPoster } from "../lib/http.ts";
import { type BenchCaller, benchCaller, benchIssuer, serviceIdentityEnv } from "../lib/identity.ts";
import { type OpenLoopResult, openLoop } from "../lib/open-loop.ts";
import { INFRA_GROUPS, pidOnPort, startCpuMeter, startTarget, type Target } from "../lib/procs.ts";
import { type ProfileSummary, profileOf, summarizeProfile } from "../lib/profile.ts";
import { type ProcessPauses, pausesBetween, scrapeMetrics } from "../lib/prometheus.ts";
import { requireServed } from "../lib/served.ts";
import { type LatencySummary, round, sleep, summarize } from "../lib/stats.ts";

export type LookupTarget = "connect-json" | "connect-binary" | "plain-json" | "grpc-connect" | "grpc-js";

export interface LookupRow {
  target: LookupTarget;
  what: string;
  driver: string;
  throughput: number;
  latency: LatencySummary;
  errors: number;
  /** CPU of the serving process, percent of one core. */
  serverCpu: number;
  perRound: number[];
}

export interface LookupResult {
  rows: LookupRow[];
  rounds: number;
  secondsPerRun: number;
  concurrency: number;
  /** Same-round throughput ratios, averaged over rounds. */
  ratios: { connectJsonVsPlain: number; connectBinaryVsPlain: number; grpcConnectVsGrpcJs: number };
}

export interface CheckoutRow {
  rate: number;
  service: OpenLoopResult & {
    serviceCpu: number;
    machineBusy: number;
    /** CPU (percent of one core) of this bench process and of all postgres processes meanwhile. */
    benchCpu: number;
    postgresCpu: number;
    /**
     * The rest of what one PlaceOrder costs, percent of one core: the catalog
     * process it prices at, and the Kafka broker and Zipkin that its outbox
     * relay and its spans reach. Absent in reports from before it was measured.
     */
    otherCpu?: Record<string, number>;
    /** The orders process's own event-loop delay and GC over the window (its /metrics). */
    pauses?: ProcessPauses;
  };
  floor: OpenLoopResult;
  /**
   * LookupPrices alone at the same rate, straight to the catalog process
   * with orders' own token and the same two SKUs: the part of PlaceOrder
   * that is the catalog's answer.
   */
  catalogLookup?: OpenLoopResult;
}

export interface CheckoutResult {
  secondsPerRate: number;
  rows: CheckoutRow[];
  /** The bare two-INSERT transaction, closed loop at the pool size: the most this design can commit. */
  floorMax: { concurrency: number; throughput: number; latency: LatencySummary };
}

export interface OrdersBenchResult {
  lookup: LookupResult;
  checkout: CheckoutResult;
  profiles: Record<string, ProfileSummary>;
}

const GET_ORDER = `/${OrderService.typeName}/${OrderService.method.getOrder.name}`;
const LOOKUP_PRICES = `/${CatalogService.typeName}/${CatalogService.method.lookupPrices.name}`;
/** The products the bench orders, as the catalog must price them (2 x 12.50 + 8.99 EUR). */
const BENCH_PRODUCTS = [
  { sku: "BENCH-BOOK", prices: { EUR: 1250n } },
  { sku: "BENCH-MUG", prices: { EUR: 899n } },
];
const LOOKUP_BODY = JSON.stringify({ skus: BENCH_PRODUCTS.map((p) => p.sku), currencyCode: "EUR" });
const PLACE_ORDER = `/${OrderService.typeName}/${OrderService.method.placeOrder.name}`;
const CONCURRENCY = 16;
const POOL_SIZE = 20;
// Alice orders for herself: the orders process checks her id against her token's subject.
const CUSTOMER_ID = DEMO_USERS.alice.id;

function placeOrderBody(key: string): string {
  return JSON.stringify({
    idempotencyKey: key,
    customerId: CUSTOMER_ID,
    customerEmail: "alice@example.com",
    currencyCode: "EUR",
    // No price: the catalog prices the order, as for every client.
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
 * Lookup and checkout against one orders service process of its own (own
 * database, own topic prefix so no saga picks its orders up) and the catalog
 * process it prices at (own database, the bench's two products): the RPC
 * path alone, without the rest of the platform competing for the two cores.
 */
export async function runOrdersBench(
  quick: boolean,
  runId: string,
  profileDir: string,
  log: (line: string) => void,
): Promise<OrdersBenchResult> {
  const database = `accord_orders_bench_${runId}`;
  const databaseUrl = databaseUrlFor(database);
  const topicPrefix = `bench-${runId}.`;
  const port = await freePort();
  const catalogDatabase = `accord_catalog_bench_${runId}`;
  const catalogPort = await freePort();
  const catalogUrl = `http://127.0.0.1:${catalogPort}`;
  const env = {
    ORDERS_PORT: String(port),
    ORDERS_DATABASE: database,
    ACCORD_TOPIC_PREFIX: topicPrefix,
    CATALOG_URL: catalogUrl,
    // The event-loop delay column needs the stalls shorter than the 10 ms default period.
    METRICS_EVENT_LOOP_RESOLUTION_MS: "1",
    ...serviceIdentityEnv("orders"),
  };
  let orders: ServiceProcess | undefined;
  let catalog: ServiceProcess | undefined;
  const targets: Target[] = [];
  try {
    catalog = await startServiceProcess(
      "services/catalog/src/main.ts",
      {
        CATALOG_PORT: String(catalogPort),
        CATALOG_DATABASE: catalogDatabase,
        ...serviceIdentityEnv("catalog"),
      },
      catalogPort,
      60_000,
    );
    await ensureProducts(catalogUrl, BENCH_PRODUCTS);
    orders = await startServiceProcess("services/orders/src/main.ts", env, port, 60_000);
    const poster = createPoster(orders.url);
    const alice = await benchCaller("alice", "orders");

    // Orders to look up: placed through the service itself.
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const res = JSON.parse(
        (
          await poster.post(
            PLACE_ORDER,
            placeOrderBody(`bench-seed-${runId}-${i}`),
            "application/json",
            alice.headers,
          )
        ).toString(),
      ) as { order: { orderId: string } };
      ids.push(res.order.orderId);
    }
    const plain = await startTarget("plain-http.ts", {
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_POOL_SIZE: String(POOL_SIZE),
    });
    targets.push(plain);
    const grpcJs = await startTarget("grpc-js.ts", {
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_POOL_SIZE: String(POOL_SIZE),
    });
    targets.push(grpcJs);

    log("lookup: GetOrder through five servers");
    const lookup = await runLookup(quick, ids, alice, {
      ordersUrl: orders.url,
      ordersPid: pidOnPort(port),
      plainUrl: `http://127.0.0.1:${plain.port}`,
      plainPid: plain.pid,
      grpcJsUrl: `http://127.0.0.1:${grpcJs.port}`,
      grpcJsPid: grpcJs.pid,
    });

    log("checkout: PlaceOrder open loop vs the bare transaction and the catalog lookup alone");
    const checkout = await runCheckout(
      quick,
      runId,
      alice,
      orders.url,
      pidOnPort(port),
      databaseUrl,
      topicPrefix,
      catalogUrl,
      pidOnPort(catalogPort),
    );
    poster.close();

    // CPU profiles of the same loads: where the time goes, for the report.
    const profiles: Record<string, ProfileSummary> = {};
    const profileSeconds = quick ? 5 : 10;
    await orders.stop();
    orders = undefined;
    const profile = async (name: string, load: (url: string) => Promise<unknown>) => {
      const dir = path.join(profileDir, name);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const proc = await startServiceProcess(
        "services/orders/src/main.ts",
        { ...env, NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}` },
        port,
        60_000,
      );
      const pid = pidOnPort(port);
      try {
        await load(proc.url);
      } finally {
        await proc.stop();
      }
      const file = profileOf(dir, pid);
      if (file) profiles[name] = summarizeProfile(file);
      else log(`profile ${name}: node wrote no profile for pid ${pid} (the process did not exit cleanly)`);
    };
    log("profiles: orders under the lookup and the 500/s checkout load");
    await profile("orders-lookup-connect-json", async (url) => {
      await autocannonRun(url, jsonRequests(ids, alice), 1);
      requireServed(
        "profile orders-lookup-connect-json",
        await autocannonRun(url, jsonRequests(ids, alice), profileSeconds),
      );
    });
    await profile("orders-lookup-grpc", async (url) => {
      await grpcRun(url, ids, alice, 1);
      requireServed("profile orders-lookup-grpc", await grpcRun(url, ids, alice, profileSeconds));
    });
    await profile("orders-checkout-500", async (url) => {
      const p = createPoster(url);
      let n = 0;
      const load = await openLoop({
        rate: 500,
        durationMs: profileSeconds * 1000,
        send: async () => {
          await p.post(
            PLACE_ORDER,
            placeOrderBody(`bench-prof-${runId}-${n++}`),
            "application/json",
            alice.headers,
          );
        },
      });
      p.close();
      requireServed("profile orders-checkout-500", load);
    });
    // The plain handler under the same lookup load, to compare frame by frame.
    const plainDir = path.join(profileDir, "plain-lookup");
    rmSync(plainDir, { recursive: true, force: true });
    mkdirSync(plainDir, { recursive: true });
    const plainProf = await startTarget("plain-http.ts", {
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_POOL_SIZE: String(POOL_SIZE),
      NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${plainDir}`,
    });
    requireServed(
      "profile plain-lookup",
      await autocannonRun(`http://127.0.0.1:${plainProf.port}`, jsonRequests(ids, alice), profileSeconds),
    );
    await plainProf.stop();
    const plainFile = profileOf(plainDir, plainProf.pid);
    if (plainFile) profiles["plain-lookup"] = summarizeProfile(plainFile);
    // And the grpc-js server under the gRPC lookup load.
    const grpcJsDir = path.join(profileDir, "grpc-js-lookup");
    rmSync(grpcJsDir, { recursive: true, force: true });
    mkdirSync(grpcJsDir, { recursive: true });
    const grpcJsProf = await startTarget("grpc-js.ts", {
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_POOL_SIZE: String(POOL_SIZE),
      NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${grpcJsDir}`,
    });
    const grpcJsUrl = `http://127.0.0.1:${grpcJsProf.port}`;
    await grpcRun(grpcJsUrl, ids, alice, 1);
    requireServed("profile grpc-js-lookup", await grpcRun(grpcJsUrl, ids, alice, profileSeconds));
    await grpcJsProf.stop();
    const grpcJsFile = profileOf(grpcJsDir, grpcJsProf.pid);
    if (grpcJsFile) profiles["grpc-js-lookup"] = summarizeProfile(grpcJsFile);

    return { lookup, checkout, profiles };
  } finally {
    await orders?.stop();
    await catalog?.stop();
    for (const t of targets) await t.stop();
    const admin = new pg.Client({ connectionString: databaseUrlFor("postgres") });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.query(`DROP DATABASE IF EXISTS ${catalogDatabase} WITH (FORCE)`);
    await admin.end();
  }
}

// ------------------------------------------------------------------ lookup

// Every server gets alice's token, the baselines too (they ignore it), so all
// rows send the same bytes. The headers are read when a run's requests are
// built: autocannon serializes them once per run.
function jsonRequests(ids: string[], caller: BenchCaller) {
  return ids.slice(0, 64).map((orderId) => ({
    method: "POST",
    path: GET_ORDER,
    headers: { "content-type": "application/json", "connect-protocol-version": "1", ...caller.headers },
    body: JSON.stringify({ orderId }),
  }));
}

function binaryRequests(ids: string[], caller: BenchCaller) {
  return ids.slice(0, 64).map((orderId) => ({
    method: "POST",
    path: GET_ORDER,
    headers: { "content-type": "application/proto", "connect-protocol-version": "1", ...caller.headers },
    body: Buffer.from(toBinary(GetOrderRequestSchema, create(GetOrderRequestSchema, { orderId }))),
  }));
}

interface RunOutcome {
  throughput: number;
  latencies: number[];
  /** Answered 200 / ok. */
  ok: number;
  errors: number;
  /** Answered 4xx or a Connect refusal code: the bench's token or request is wrong. */
  refused: number;
  firstRefusal?: string;
  firstError?: string;
}

/** autocannon over HTTP/1.1 keep-alive connections; latencies taken from its per-response event (float ms). */
async function autocannonRun(
  url: string,
  requests: Parameters<typeof autocannon>[0]["requests"],
  seconds: number,
): Promise<RunOutcome> {
  const latencies: number[] = [];
  let firstRefusal: string | undefined;
  const instance = autocannon({ url, connections: CONCURRENCY, pipelining: 1, duration: seconds, requests });
  instance.on("response", (_c, status, _b, ms) => {
    if (status === 200) latencies.push(ms);
    else if (status >= 400 && status < 500) firstRefusal ??= `HTTP ${status}`;
  });
  const result = await instance;
  return {
    throughput: result["2xx"] / (result.duration || seconds),
    latencies,
    ok: result["2xx"],
    errors: result.errors + result.timeouts + result.non2xx,
    refused: result["4xx"],
    ...(firstRefusal ? { firstRefusal } : {}),
  };
}

/** Own closed-loop driver over @connectrpc/connect-node's gRPC transport (one HTTP/2 connection). */
async function grpcRun(
  url: string,
  ids: string[],
  caller: BenchCaller,
  seconds: number,
): Promise<RunOutcome> {
  const client = createClient(
    OrderService,
    createGrpcTransport({ baseUrl: url, interceptors: [caller.interceptor] }),
  );
  const latencies: number[] = [];
  const result = await closedLoop(CONCURRENCY, seconds * 1000, async (i) => {
    const t0 = performance.now();
    await client.getOrder({ orderId: ids[i % 64] as string });
    latencies.push(performance.now() - t0);
  });
  return {
    throughput: result.throughput,
    latencies,
    ok: result.ok,
    errors: result.errors,
    refused: result.refused,
    ...(result.firstRefusal ? { firstRefusal: result.firstRefusal } : {}),
    ...(result.firstError ? { firstError: result.firstError } : {}),
  };
}

async function runLookup(
  quick: boolean,
  ids: string[],
  caller: BenchCaller,
  at: {
    ordersUrl: string;
    ordersPid: number | undefined;
    plainUrl: string;
    plainPid: number | undefined;
    grpcJsUrl: string;
    grpcJsPid: number | undefined;
  },
): Promise<LookupResult> {
  const rounds = quick ? 1 : 2;
  const seconds = quick ? 5 : 15;
  const warm = quick ? 1 : 3;
  const plan: {
    target: LookupTarget;
    what: string;
    driver: string;
    pid: number | undefined;
    run: (s: number) => Promise<RunOutcome>;
  }[] = [
    {
      target: "connect-json",
      what: "orders service, Connect JSON over HTTP/1.1",
      driver: "autocannon",
      pid: at.ordersPid,
      run: (s) => autocannonRun(at.ordersUrl, jsonRequests(ids, caller), s),
    },
    {
      target: "connect-binary",
      what: "orders service, Connect binary (application/proto) over HTTP/1.1",
      driver: "autocannon",
      pid: at.ordersPid,
      run: (s) => autocannonRun(at.ordersUrl, binaryRequests(ids, caller), s),
    },
    {
      target: "plain-json",
      what: "plain node:http handler, same SQL + protobuf-es JSON",
      driver: "autocannon",
      pid: at.plainPid,
      run: (s) => autocannonRun(at.plainUrl, jsonRequests(ids, caller), s),
    },
    {
      target: "grpc-connect",
      what: "orders service, gRPC over HTTP/2",
      driver: "closed loop, connect-node gRPC transport",
      pid: at.ordersPid,
      run: (s) => grpcRun(at.ordersUrl, ids, caller, s),
    },
    {
      target: "grpc-js",
      what: "grpc-js server, same SQL, generated descriptors as serializers",
      driver: "closed loop, connect-node gRPC transport",
      pid: at.grpcJsPid,
      run: (s) => grpcRun(at.grpcJsUrl, ids, caller, s),
    },
  ];
  const samples = new Map<LookupTarget, { tput: number[]; lat: number[]; errors: number; cpu: number[] }>();
  const ratioSamples = { cj: [] as number[], cb: [] as number[], g: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    const thisRound = new Map<LookupTarget, number>();
    for (const step of plan) {
      await step.run(warm);
      const meter = startCpuMeter({ server: () => (step.pid ? [step.pid] : []) });
      const out = await step.run(seconds);
      const cpu = meter.stop().groups.server ?? 0;
      requireServed(`lookup ${step.target}`, out);
      const s = samples.get(step.target) ?? { tput: [], lat: [], errors: 0, cpu: [] };
      s.tput.push(out.throughput);
      s.lat.push(...out.latencies);
      s.errors += out.errors;
      s.cpu.push(cpu);
      samples.set(step.target, s);
      thisRound.set(step.target, out.throughput);
      await sleep(500);
    }
    const t = (k: LookupTarget) => thisRound.get(k) ?? Number.NaN;
    ratioSamples.cj.push(t("connect-json") / t("plain-json"));
    ratioSamples.cb.push(t("connect-binary") / t("plain-json"));
    ratioSamples.g.push(t("grpc-connect") / t("grpc-js"));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    rounds,
    secondsPerRun: seconds,
    concurrency: CONCURRENCY,
    rows: plan.map((step) => {
      const s = samples.get(step.target) ?? { tput: [], lat: [], errors: 0, cpu: [] };
      return {
        target: step.target,
        what: step.what,
        driver: step.driver,
        throughput: Math.round(mean(s.tput)),
        latency: summarize(s.lat),
        errors: s.errors,
        serverCpu: round(mean(s.cpu), 1),
        perRound: s.tput.map((x) => Math.round(x)),
      };
    }),
    ratios: {
      connectJsonVsPlain: round(mean(ratioSamples.cj), 3),
      connectBinaryVsPlain: round(mean(ratioSamples.cb), 3),
      grpcConnectVsGrpcJs: round(mean(ratioSamples.g), 3),
    },
  };
}

// ------------------------------------------------------------------ checkout

async function runCheckout(
  quick: boolean,
  runId: string,
  caller: BenchCaller,
  ordersUrl: string,
  ordersPid: number | undefined,
  databaseUrl: string,
  topicPrefix: string,
  catalogUrl: string,
  catalogPid: number | undefined,
): Promise<CheckoutResult> {
  const rates = [100, 250, 500];
  const seconds = quick ? 5 : 20;
  const poster = createPoster(ordersUrl);
  const catalogPoster = createPoster(catalogUrl);
  // Orders' own token for the catalog, fetched once, as the orders process caches it.
  const ordersOnCatalog = {
    authorization: `Bearer ${await devClientTokens("orders", benchIssuer()).token("catalog")}`,
  };
  const lookup = async () => {
    await catalogPoster.post(LOOKUP_PRICES, LOOKUP_BODY, "application/json", ordersOnCatalog);
  };
  const pool = createPool(databaseUrl, POOL_SIZE);
  let n = 0;
  const place = async () => {
    await poster.post(
      PLACE_ORDER,
      placeOrderBody(`bench-co-${runId}-${n++}`),
      "application/json",
      caller.headers,
    );
  };

  // The floor: the same two rows (order + outbox event) in one transaction,
  // on a pool of the service's size, with nothing else of the request path.
  const sample = create(OrderPlacedSchema, {
    order: { orderId: randomUUID(), customerId: CUSTOMER_ID, status: OrderStatus.PENDING },
  });
  const encoded = encodeEvent(OrderPlacedSchema, sample, { source: sourceFor("orders"), key: "k" });
  const topic = `${topicPrefix}${topicFor("orders")}`;
  const bare = async () => {
    const orderId = randomUUID();
    await inTransaction(pool, async (client) => {
      await client.query(
        `INSERT INTO orders (order_id, customer_id, customer_email, currency_code, total_minor,
                             shipping_address, status, idempotency_key, request_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (customer_id, idempotency_key) DO NOTHING`,
        [
          orderId,
          CUSTOMER_ID,
          "alice@example.com",
          "EUR",
          "3399",
          '{"city":"Berlin"}',
          "PENDING",
          `bench-floor-${orderId}`,
          "h",
        ],
      );
      await enqueueOutbox(client, topic, {
        key: orderId,
        value: encoded.value,
        headers: { ...encoded.headers, ce_id: randomUUID() },
      });
    });
  };

  try {
    requireServed(
      "checkout warm-up",
      await openLoop({ rate: 100, durationMs: quick ? 1000 : 3000, send: place }),
    );
    await openLoop({ rate: 100, durationMs: quick ? 1000 : 3000, send: bare });
    await openLoop({ rate: 100, durationMs: quick ? 1000 : 3000, send: lookup });
    const rows: CheckoutRow[] = [];
    for (const rate of rates) {
      const meter = startCpuMeter({
        orders: () => (ordersPid ? [ordersPid] : []),
        bench: () => [process.pid],
        postgres: INFRA_GROUPS.postgres as () => number[],
        catalog: () => (catalogPid ? [catalogPid] : []),
        kafka: INFRA_GROUPS.kafka as () => number[],
        zipkin: INFRA_GROUPS.zipkin as () => number[],
      });
      // The first scrape restarts the process's event-loop delay histogram.
      const metricsBefore = await scrapeMetrics(ordersUrl).catch(() => undefined);
      const service = await openLoop({ rate, durationMs: seconds * 1000, send: place });
      const cpu = meter.stop();
      requireServed(`checkout at ${rate}/s`, service);
      const metricsAfter = await scrapeMetrics(ordersUrl).catch(() => undefined);
      await sleep(500);
      const floor = await openLoop({ rate, durationMs: seconds * 1000, send: bare });
      await sleep(500);
      const catalogLookup = await openLoop({ rate, durationMs: seconds * 1000, send: lookup });
      requireServed(`catalog lookup at ${rate}/s`, catalogLookup);
      rows.push({
        rate,
        service: {
          ...service,
          serviceCpu: cpu.groups.orders ?? 0,
          machineBusy: cpu.machineBusy,
          benchCpu: cpu.groups.bench ?? 0,
          postgresCpu: cpu.groups.postgres ?? 0,
          otherCpu: {
            catalog: cpu.groups.catalog ?? 0,
            kafka: cpu.groups.kafka ?? 0,
            zipkin: cpu.groups.zipkin ?? 0,
          },
          ...(metricsBefore && metricsAfter ? { pauses: pausesBetween(metricsBefore, metricsAfter) } : {}),
        },
        floor,
        catalogLookup,
      });
      await sleep(500);
    }
    const max = await closedLoop(POOL_SIZE, (quick ? 3 : 10) * 1000, bare);
    return {
      secondsPerRate: seconds,
      rows,
      floorMax: { concurrency: POOL_SIZE, throughput: Math.round(max.throughput), latency: max.latency },
    };
  } finally {
    poster.close();
    catalogPoster.close();
    await pool.end();
  }
}
