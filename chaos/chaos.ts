import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { Connection, Client as TemporalClient } from "@temporalio/client";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { OrderService, PlaceOrderRequestSchema } from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS, type DemoUser, demoUserTokens } from "#lib/auth/dev-identities.ts";
import { EVENT_DOMAINS } from "#lib/messaging/events.ts";
import {
  createKafka,
  deleteTopics,
  ensureTopics,
  kafkaAuthFrom,
  parseBrokers,
} from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { ensureProducts } from "#test/support/catalog.ts";
import {
  type Platform,
  type PlatformOptions,
  queryDb,
  type ReplicatedService,
  type ServiceName,
  startPlatform,
} from "#test/support/platform.ts";
import { tcpAnswers } from "#test/support/tcp.ts";
import { killService, servicePids } from "./processes.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const run = promisify(execFile);

export type InfraName = "kafka" | "temporal" | "rabbitmq" | "postgres";
export type Fault = { kind: "kill"; service: ServiceName } | { kind: "infra"; infra: InfraName };

export interface ChaosOptions {
  /** Orders placed per second while the faults run. */
  ratePerSecond: number;
  /** Seconds of load before the first fault. */
  warmupS: number;
  /** Seconds between the recovery of one fault and the next fault. */
  gapS: number;
  /** Seconds of load after the last fault. */
  cooldownS: number;
  faults: Fault[];
  /** Longest wait for every order to end, every delivery to settle, every outbox to drain. */
  quiescenceTimeoutS: number;
  log?: (line: string) => void;
}

export const SERVICES: ReplicatedService[] = [
  // Checkout's price lookups: while it is down PlaceOrder answers unavailable
  // and the load retries with the same idempotency key.
  "catalog",
  "orders",
  "inventory",
  "payments",
  "shipping",
  "notifications",
  "orchestrator",
];

export const FULL: Omit<ChaosOptions, "log"> = {
  ratePerSecond: 10,
  warmupS: 10,
  gapS: 8,
  cooldownS: 10,
  faults: [
    ...SERVICES.map((service): Fault => ({ kind: "kill", service })),
    ...(["kafka", "temporal", "rabbitmq", "postgres"] as const).map(
      (infra): Fault => ({ kind: "infra", infra }),
    ),
  ],
  quiescenceTimeoutS: 600,
};

/** About 90 s of faults plus the settling: kill -9 of three services and a Kafka restart. */
export const SHORT: Omit<ChaosOptions, "log"> = {
  // What the saga sustains on a two-core CI machine (the Temporal dev server's
  // SQLite is the bottleneck): the backlog must drain within the time box.
  ratePerSecond: 2,
  warmupS: 5,
  gapS: 3,
  cooldownS: 3,
  faults: [
    { kind: "kill", service: "orders" },
    { kind: "kill", service: "payments" },
    { kind: "kill", service: "orchestrator" },
    { kind: "infra", infra: "kafka" },
  ],
  quiescenceTimeoutS: 300,
};

export interface FaultResult {
  fault: string;
  outcome: "recovered" | "skipped" | "not recovered";
  detail: string;
  recoverySeconds: number;
}

export interface InvariantResult {
  invariant: string;
  ok: boolean;
  detail: string;
}

export interface ChaosReport {
  faults: FaultResult[];
  invariants: InvariantResult[];
  /** Restarts the runner made because a service process ended by itself (a supervisor's job). */
  selfExits: string[];
  load: { placed: number; unanswered: number; retried: number; cancelled: number };
  ok: boolean;
}

/** Who places the run's orders: the development realm's demo customers. */
const CHAOS_CUSTOMERS: readonly DemoUser[] = ["alice", "bob"];

const TERMINAL = new Set(["CONFIRMED", "FAILED", "CANCELLED", "DELIVERED"]);
const TERMINAL_LIST = [...TERMINAL];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Stock of the SKUs the load orders from; SCARCE runs out, EMPTY is out from
 * the start, DECLINED costs what the payment provider always declines.
 */
export function catalogue(tag: string): Map<string, bigint> {
  return new Map([
    [`CH-${tag}-A`, 100_000n],
    [`CH-${tag}-B`, 100_000n],
    [`CH-${tag}-C`, 100_000n],
    [`CH-${tag}-SCARCE`, 40n],
    [`CH-${tag}-EMPTY`, 0n],
    [`CH-${tag}-DECLINED`, 100_000n],
  ]);
}

/** The catalog's EUR price of a load SKU: 666 minor units (always declined) for DECLINED, else 10.00. */
const priceOf = (sku: string) => (sku.endsWith("-DECLINED") ? 666n : 1000n);

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const tag = randomUUID().slice(0, 6).toUpperCase();
  const taskQueue = `orders-chaos-${tag.toLowerCase()}`;
  await checkIdentities(log);
  log(`[chaos] starting the platform (task queue ${taskQueue})`);
  const { platform, prefix, cleanup } = await startIsolatedPlatform(`chaos-${tag.toLowerCase()}.`, {
    orchestrator: { ORDERS_TASK_QUEUE: taskQueue },
  });
  try {
    return await exercise(platform, prefix, options, tag, taskQueue, log);
  } finally {
    log("[chaos] stopping the platform");
    await cleanup().catch((error: unknown) => log(`[chaos] stop failed: ${String(error)}`));
  }
}

/**
 * Fetches the tokens the run calls with before starting anything, so a
 * missing or misconfigured identity provider fails the run at once, named,
 * instead of as minutes of refused orders.
 */
export async function checkIdentities(log: (line: string) => void): Promise<void> {
  for (const user of ["olivia", ...CHAOS_CUSTOMERS] as const) await demoUserTokens(user).token("any");
  log(`[chaos] identities: olivia (ops) sets stock; ${CHAOS_CUSTOMERS.join(", ")} place orders`);
}

// Every process of a chaos platform, so each gets its prefix.
const ALL_NAMES: ServiceName[] = ["payment-provider", "carrier", "smtp-sink", ...SERVICES];

/**
 * startPlatform with a topic prefix chosen here, whose topics exist before any
 * service starts: services creating the same fresh topics concurrently race
 * (one fails at start with "This server does not host this topic-partition"),
 * and a known prefix lets this runner find (and kill) the processes that
 * belong to its platform. The cleanup stops the platform and deletes the topics.
 */
export async function startIsolatedPlatform(
  prefix: string,
  overrides: Partial<Record<ServiceName, Record<string, string>>> = {},
  options: PlatformOptions = {},
): Promise<{ platform: Platform; prefix: string; cleanup: () => Promise<void> }> {
  const topics = EVENT_DOMAINS.map((d) => `${prefix}${d}.events`);
  const allTopics = [...topics, ...topics.map((t) => `${t}.dlq`)];
  const kafka = createKafka({
    clientId: "chaos",
    brokers: parseBrokers(process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"),
    auth: kafkaAuthFrom(),
    logger: createLogger("chaos", "error"),
    logLevel: "error",
  });
  await ensureTopics(kafka, allTopics);
  const withPrefix = Object.fromEntries(
    ALL_NAMES.map((name) => [name, { ...overrides[name], ACCORD_TOPIC_PREFIX: prefix }]),
  );
  const killAll = async () => {
    for (const name of ALL_NAMES) await killService(name, prefix).catch(() => []);
  };
  let platform: Platform | undefined;
  for (let attempt = 1; platform === undefined; attempt++) {
    try {
      platform = await startPlatform(withPrefix, options);
    } catch (error) {
      // startPlatform kills what it had started, not a service still starting
      // in parallel when another failed: that one would live on.
      await killAll();
      if (attempt >= 2) throw error;
    }
  }
  const started = platform;
  return {
    platform: started,
    prefix,
    async cleanup() {
      try {
        await started.stop();
      } finally {
        await killAll();
        await deleteTopics(kafka, allTopics).catch(() => {});
      }
    },
  };
}

async function exercise(
  platform: Platform,
  prefix: string,
  options: ChaosOptions,
  tag: string,
  taskQueue: string,
  log: (line: string) => void,
): Promise<ChaosReport> {
  const stock = catalogue(tag);
  await stockCatalogue(platform, stock);

  const supervisor = superviseServices(platform, prefix, log);
  const load = startLoad(platform, stock, options.ratePerSecond, log);
  const faults: FaultResult[] = [];
  try {
    await sleep(options.warmupS * 1000);
    for (const fault of options.faults) {
      faults.push(await inject(platform, prefix, fault, supervisor, log));
      await sleep(options.gapS * 1000);
    }
    await sleep(options.cooldownS * 1000);
  } finally {
    await load.stop();
  }
  log(`[chaos] load stopped: ${load.stats.placed} orders placed; waiting for quiescence`);
  const quiet = await quiescence(platform, options.quiescenceTimeoutS, log);
  supervisor.stop();
  const invariants = [quiet, ...(await checkInvariants(platform, stock, load, taskQueue))];
  const report: ChaosReport = {
    faults,
    invariants,
    selfExits: supervisor.selfExits,
    load: { ...load.stats },
    ok: invariants.every((i) => i.ok) && faults.every((f) => f.outcome !== "not recovered"),
  };
  return report;
}

/** Puts the run's SKUs in stock and in the catalog. */
export async function stockCatalogue(platform: Platform, stock: Map<string, bigint>): Promise<void> {
  // Stock is set by ops (olivia), as on the running platform.
  const inventory = rpcClient(InventoryService, platform.urls.inventory, "connect-json", {
    tokens: demoUserTokens("olivia"),
    audience: "inventory",
  });
  for (const [sku, available] of stock) await inventory.setStock({ sku, available });
  // The prices are the catalog's, put there by ops too; the orders carry none.
  await ensureProducts(
    platform.urls.catalog,
    [...stock.keys()].map((sku) => ({ sku, prices: { EUR: priceOf(sku) } })),
  );
}

// ---------------------------------------------------------------- supervision

/** A supervisor of some units (services, or replicas of them), each known by its key. */
export interface Supervisor<U> {
  /** Keys of the units the runner is restarting itself; the watchdog leaves them alone. */
  busy: Set<string>;
  selfExits: string[];
  restart(unit: U): Promise<void>;
  stop(): void;
}

export interface SupervisedUnits<U> {
  units: readonly U[];
  /** Names the unit in logs, in the busy set and in selfExits. */
  key(unit: U): string;
  running(unit: U): boolean;
  /** What the unit's last process printed: why it ended. */
  output(unit: U): string;
  /** Ends whatever is left of the unit (an earlier attempt must not hold its port). */
  kill(unit: U): Promise<unknown>;
  start(unit: U): Promise<void>;
}

/**
 * Plays the part of systemd or Kubernetes: a unit whose process ends by
 * itself (e.g. notifications exits on purpose when its RabbitMQ connection
 * drops) is restarted, and the restart is reported. A restart that fails is
 * tried again, up to 20 times, 2 s apart.
 */
export function supervise<U>(what: SupervisedUnits<U>, log: (line: string) => void): Supervisor<U> {
  const busy = new Set<string>();
  const selfExits: string[] = [];
  let stopped = false;
  const restart = async (unit: U) => {
    const key = what.key(unit);
    busy.add(key);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await what.kill(unit);
          await what.start(unit);
          return;
        } catch (error) {
          if (stopped || attempt >= 20) throw error;
          log(`[chaos] ${key} did not come back (attempt ${attempt}): ${lastLines(error)}`);
          await sleep(2000);
        }
      }
    } finally {
      busy.delete(key);
    }
  };
  const timer = setInterval(() => {
    for (const unit of what.units) {
      const key = what.key(unit);
      if (stopped || busy.has(key) || what.running(unit)) continue;
      // The crash's own message: the last line that names an error, else the last line.
      const lines = what.output(unit).trim().split("\n");
      const why = lines.findLast((l) => /error|exception|fatal/i.test(l)) ?? lines.at(-1) ?? "";
      selfExits.push(`${key}: ${why.trim().slice(0, 300)}`);
      // The whole output, stack trace included, for the post-mortem.
      const dir = process.env.CHAOS_CRASH_LOG_DIR;
      if (dir)
        writeFileSync(path.join(dir, `${key.replace(/\W+/g, "-")}-${Date.now()}.log`), lines.join("\n"));
      log(`[chaos] ${key} exited by itself; restarting it`);
      void restart(unit).catch((error: unknown) => log(`[chaos] ${key} restart failed: ${firstLine(error)}`));
    }
  }, 1000);
  return {
    busy,
    selfExits,
    restart,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** The services of a platform, one process each, under supervise(). */
function superviseServices(platform: Platform, prefix: string, log: (line: string) => void) {
  return supervise<ServiceName>(
    {
      units: SERVICES,
      key: (name) => name,
      running: (name) => servicePids(name, prefix).length > 0,
      output: (name) => platform.processes.get(name)?.output() ?? "",
      kill: (name) => killService(name, prefix),
      start: (name) => platform.restart(name),
    },
    log,
  );
}

/** The first line of an error and the last lines of the output it carries (a failed start's). */
export function lastLines(error: unknown, count = 6): string {
  const lines = String(error instanceof Error ? error.message : error)
    .trim()
    .split("\n");
  const tail = lines.length > 1 ? lines.slice(Math.max(1, lines.length - count)) : [];
  return [lines[0], ...tail.map((l) => `    ${l.slice(0, 300)}`)].join("\n");
}

export function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error)
    .split("\n")[0]
    ?.slice(0, 200) as string;
}

/** True once every service (and every replica the platform runs) answers /readyz with 200. */
export async function allReady(platform: Platform, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const urls = [...SERVICES.map((name) => platform.urls[name]), ...Object.values(platform.replicaUrls)];
  for (;;) {
    const states = await Promise.all(
      urls.map((url) =>
        fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.status === 200,
          () => false,
        ),
      ),
    );
    if (states.every(Boolean)) return true;
    if (Date.now() > deadline) return false;
    await sleep(500);
  }
}

async function inject(
  platform: Platform,
  prefix: string,
  fault: Fault,
  supervisor: Supervisor<ServiceName>,
  log: (line: string) => void,
): Promise<FaultResult> {
  const started = Date.now();
  const elapsed = () => Math.round((Date.now() - started) / 100) / 10;
  if (fault.kind === "kill") {
    const name = fault.service;
    supervisor.busy.add(name);
    try {
      const pids = await killService(name, prefix);
      log(`[chaos] kill -9 ${name} (pids ${pids.join(",")})`);
      await supervisor.restart(name);
      supervisor.busy.add(name);
      const ready = await allReady(platform, 90_000);
      return {
        fault: `kill -9 ${name}`,
        outcome: ready ? "recovered" : "not recovered",
        detail: `killed pids ${pids.join(",")}; restarted`,
        recoverySeconds: elapsed(),
      };
    } catch (error) {
      return {
        fault: `kill -9 ${name}`,
        outcome: "not recovered",
        detail: firstLine(error),
        recoverySeconds: elapsed(),
      };
    } finally {
      supervisor.busy.delete(name);
    }
  }
  return restartInfra(platform, fault.infra, log);
}

/** infra.sh down, 3 s, infra.sh up of one part of the infrastructure, then every service ready again. */
export async function restartInfra(
  platform: Platform,
  infra: InfraName,
  log: (line: string) => void,
): Promise<FaultResult> {
  const started = Date.now();
  const elapsed = () => Math.round((Date.now() - started) / 100) / 10;
  const what = `restart ${infra}`;
  log(`[chaos] ${what}`);
  try {
    const env = infraScriptEnv();
    await run("bash", [path.join(ROOT, "infra/infra.sh"), "down", infra], { cwd: ROOT, env });
    if (await infraAnswers(infra)) {
      // infra.sh only stops what it started (a reused server or a container stays up).
      return {
        fault: what,
        outcome: "skipped",
        detail: "still answering after infra.sh down: not started by infra.sh",
        recoverySeconds: elapsed(),
      };
    }
    // Down for a moment, so clients really see the outage.
    await sleep(3000);
    await run("bash", [path.join(ROOT, "infra/infra.sh"), "up", infra], {
      cwd: ROOT,
      env,
      timeout: 180_000,
    });
    const ready = await allReady(platform, 120_000);
    return {
      fault: what,
      outcome: ready ? "recovered" : "not recovered",
      detail: ready ? "infra.sh down + up; every service ready again" : "some service never ready again",
      recoverySeconds: elapsed(),
    };
  } catch (error) {
    return { fault: what, outcome: "not recovered", detail: firstLine(error), recoverySeconds: elapsed() };
  }
}

/**
 * infra.sh addresses servers by host and port variables; derive them from the
 * client addresses the platform uses, so the script restarts those servers.
 */
function infraScriptEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (env.KAFKA_BROKERS)
    [env.KAFKA_HOST, env.KAFKA_PORT] = hostPortStrings(env.KAFKA_BROKERS.split(",")[0] ?? "");
  if (env.TEMPORAL_ADDRESS) [env.TEMPORAL_HOST, env.TEMPORAL_PORT] = hostPortStrings(env.TEMPORAL_ADDRESS);
  if (env.AMQP_URL) {
    const url = new URL(env.AMQP_URL);
    env.RABBITMQ_HOST = url.hostname;
    env.RABBITMQ_PORT = url.port || "5672";
  }
  return env;
}

function hostPortStrings(value: string): [string, string] {
  const [host, port] = hostPort(value);
  return [host, String(port)];
}

async function infraAnswers(infra: InfraName): Promise<boolean> {
  const env = process.env;
  const target: Record<InfraName, [string, number]> = {
    postgres: [env.PGHOST ?? "127.0.0.1", Number(env.PGPORT ?? 5432)],
    kafka: hostPort(env.KAFKA_BROKERS?.split(",")[0] ?? "127.0.0.1:9092"),
    rabbitmq: hostPort(new URL(env.AMQP_URL ?? "amqp://127.0.0.1:5672").host || "127.0.0.1:5672"),
    temporal: hostPort(env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233"),
  };
  const [host, port] = target[infra];
  return tcpAnswers(`${host}:${port}`);
}

function hostPort(value: string): [string, number] {
  const at = value.lastIndexOf(":");
  return [value.slice(0, at), Number(value.slice(at + 1))];
}

// ---------------------------------------------------------------- load

export interface Load {
  stats: { placed: number; unanswered: number; retried: number; cancelled: number };
  /** Idempotency key -> order id, for every PlaceOrder that was answered. */
  accepted: Map<string, string>;
  stop(): Promise<void>;
}

type Kind = "normal" | "scarce" | "empty" | "declined" | "refused-country" | "cancel";

/**
 * One in ten of each failure kind, the rest normal, alternating: every other
 * order is a normal one, so the load by itself never leaves more than one
 * order between two that confirm. (Five failures in a row made a 2.5 s gap
 * between confirmations at 2/s, half the production run's pause limit.)
 */
function pickKind(n: number): Kind {
  const failures: Kind[] = ["scarce", "empty", "declined", "refused-country", "cancel"];
  return n % 2 === 0 ? "normal" : (failures[((n - 1) / 2) % failures.length] as Kind);
}

export function startLoad(
  platform: Platform,
  stock: Map<string, bigint>,
  rate: number,
  log: (l: string) => void,
): Load {
  // Orders are placed by the demo customers in turn, each for themselves (the
  // customer id is the token's subject); each keeps their own client, so a
  // cancel goes out as the customer who placed the order.
  const customers = CHAOS_CUSTOMERS.map((user) => ({
    user,
    orders: rpcClient(OrderService, platform.urls.orders, "connect-json", {
      tokens: demoUserTokens(user),
      audience: "orders",
    }),
  }));
  const skus = [...stock.keys()];
  const stats = { placed: 0, unanswered: 0, retried: 0, cancelled: 0 };
  const accepted = new Map<string, string>();
  const inFlight = new Set<Promise<void>>();
  let n = 0;
  let stopping = false;

  const placeOne = async (index: number) => {
    const kind = pickKind(index);
    const customer = customers[index % customers.length] as (typeof customers)[number];
    const orders = customer.orders;
    const sku =
      kind === "scarce"
        ? (skus[3] as string)
        : kind === "empty"
          ? (skus[4] as string)
          : kind === "declined"
            ? (skus[5] as string)
            : (skus[index % 3] as string);
    const quantity = kind === "scarce" ? 3 : 1 + (index % 3);
    const request = create(PlaceOrderRequestSchema, {
      idempotencyKey: `chaos-${randomUUID()}`,
      customerId: DEMO_USERS[customer.user].id,
      customerEmail: `${customer.user}@example.com`,
      currencyCode: "EUR",
      lines: [{ sku, quantity: kind === "declined" ? 1 : quantity }],
      shippingAddress: {
        recipientName: "Chaos Monkey",
        line1: "Teststrasse 1",
        city: kind === "refused-country" ? "McMurdo" : "Berlin",
        postalCode: "10115",
        countryCode: kind === "refused-country" ? "AQ" : "DE",
      },
    });
    // The same key on every attempt: a retried PlaceOrder must give back the same order.
    const deadline = Date.now() + 120_000;
    for (let attempt = 0; ; attempt++) {
      try {
        const { order } = await orders.placeOrder(request, { timeoutMs: 5000 });
        if (!order) throw new Error("PlaceOrder answered without an order");
        accepted.set(request.idempotencyKey, order.orderId);
        stats.placed++;
        if (attempt > 0) stats.retried++;
        if (kind === "cancel") {
          await cancelWithRetry(orders, order.orderId, deadline);
        }
        return;
      } catch (error) {
        const code = error instanceof ConnectError ? error.code : Code.Unknown;
        if (code === Code.InvalidArgument || code === Code.AlreadyExists || Date.now() > deadline) {
          stats.unanswered++;
          log(`[chaos] PlaceOrder gave up: ${firstLine(error)}`);
          return;
        }
        await sleep(500);
      }
    }
  };

  const cancelWithRetry = async (orders: Client<typeof OrderService>, orderId: string, deadline: number) => {
    for (;;) {
      try {
        await orders.cancelOrder({ orderId, reason: "chaos cancel" }, { timeoutMs: 5000 });
        stats.cancelled++;
        return;
      } catch (error) {
        // Too late to cancel (already final or shipped) is an answer, not a failure.
        if (error instanceof ConnectError && error.code === Code.FailedPrecondition) return;
        if (Date.now() > deadline) return;
        await sleep(500);
      }
    }
  };

  const timer = setInterval(() => {
    if (stopping) return;
    const p = placeOne(n++).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }, 1000 / rate);

  return {
    stats,
    accepted,
    async stop() {
      stopping = true;
      clearInterval(timer);
      await Promise.all([...inFlight]);
    },
  };
}

// ---------------------------------------------------------------- quiescence and invariants

export async function quiescence(
  platform: Platform,
  timeoutS: number,
  log: (l: string) => void,
): Promise<InvariantResult> {
  const deadline = Date.now() + timeoutS * 1000;
  let last = "";
  for (;;) {
    try {
      const open = await queryDb<{ n: string }>(
        platform.databases.orders,
        "SELECT count(*) AS n FROM orders WHERE status <> ALL($1)",
        [TERMINAL_LIST],
      );
      const pending = await queryDb<{ n: string }>(
        platform.databases.notifications,
        "SELECT count(*) AS n FROM deliveries WHERE status = 'PENDING'",
      );
      let unpublished = 0;
      for (const db of ["orders", "inventory", "payments", "shipping"] as const) {
        const rows = await queryDb<{ n: string }>(
          platform.databases[db],
          "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL",
        );
        unpublished += Number(rows[0]?.n ?? 0);
      }
      last = `open orders ${open[0]?.n}, pending deliveries ${pending[0]?.n}, unpublished outbox rows ${unpublished}`;
      if (Number(open[0]?.n) === 0 && Number(pending[0]?.n) === 0 && unpublished === 0) {
        return { invariant: "quiescence reached", ok: true, detail: last };
      }
    } catch (error) {
      last = `query failed: ${firstLine(error)}`;
    }
    if (Date.now() > deadline) {
      return { invariant: "quiescence reached", ok: false, detail: `after ${timeoutS}s: ${last}` };
    }
    log(`[chaos] settling: ${last}`);
    await sleep(3000);
  }
}

export async function checkInvariants(
  platform: Platform,
  stock: Map<string, bigint>,
  load: Load,
  taskQueue: string,
): Promise<InvariantResult[]> {
  const results: InvariantResult[] = [];
  const check = async (invariant: string, fn: () => Promise<string[] | string>) => {
    try {
      const out = await fn();
      const problems = typeof out === "string" ? [] : out;
      results.push({
        invariant,
        ok: problems.length === 0,
        detail: typeof out === "string" ? out : problems.length === 0 ? "ok" : summarize(problems),
      });
    } catch (error) {
      results.push({ invariant, ok: false, detail: `check failed: ${firstLine(error)}` });
    }
  };

  const orders = await queryDb<{ order_id: string; status: string; idempotency_key: string }>(
    platform.databases.orders,
    "SELECT order_id::text, status, idempotency_key FROM orders",
  );
  const byStatus = new Map<string, number>();
  for (const o of orders) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
  const statusLine = [...byStatus].map(([s, c]) => `${s} ${c}`).join(", ");

  await check("no accepted order lost", async () => {
    const ids = new Set(orders.map((o) => o.order_id));
    const lost = [...load.accepted].filter(([, id]) => !ids.has(id)).map(([key, id]) => `${id} (key ${key})`);
    return lost.length > 0 ? lost : `${load.accepted.size} accepted, all stored`;
  });

  await check("every order terminal", async () => {
    const open = orders.filter((o) => !TERMINAL.has(o.status)).map((o) => `${o.order_id} ${o.status}`);
    return open.length > 0 ? open : `${orders.length} orders: ${statusLine}`;
  });

  await check("one captured charge per confirmed order (payments DB)", async () => {
    const rows = await queryDb<{ order_id: string; status: string }>(
      platform.databases.payments,
      "SELECT order_id, status FROM payments",
    );
    const byOrder = groupBy(rows, (r) => r.order_id);
    const problems: string[] = [];
    for (const o of orders) {
      const payments = byOrder.get(o.order_id) ?? [];
      const captured = payments.filter((p) => p.status === "CAPTURED").length;
      const refunded = payments.filter((p) => p.status === "REFUNDED").length;
      if (o.status === "CONFIRMED" || o.status === "DELIVERED") {
        if (captured !== 1 || refunded !== 0)
          problems.push(`${o.order_id} ${o.status}: ${captured} captured, ${refunded} refunded`);
      } else if (captured !== 0) {
        problems.push(`${o.order_id} ${o.status}: ${captured} captured and not refunded`);
      }
    }
    return problems;
  });

  await check("provider: one capture per confirmed order, every compensated charge refunded", async () => {
    const res = await fetch(`${platform.urls["payment-provider"]}/v1/charges`);
    const body = (await res.json()) as {
      charges: { reference: string; status: string; refund_id?: string }[];
    };
    const byRef = groupBy(body.charges, (c) => c.reference);
    const problems: string[] = [];
    for (const o of orders) {
      const charges = byRef.get(o.order_id) ?? [];
      const captured = charges.filter((c) => c.status === "captured");
      const live = captured.filter((c) => c.refund_id === undefined).length;
      if (o.status === "CONFIRMED" || o.status === "DELIVERED") {
        if (captured.length !== 1 || live !== 1)
          problems.push(`${o.order_id} ${o.status}: ${captured.length} captured, ${live} not refunded`);
      } else if (live !== 0) {
        problems.push(`${o.order_id} ${o.status}: ${live} captured charge(s) never refunded`);
      }
    }
    return problems;
  });

  await check(
    "stock conserved (initial = available + reserved; reserved = confirmed quantities)",
    async () => {
      const rows = await queryDb<{ sku: string; available: string; reserved: string }>(
        platform.databases.inventory,
        "SELECT sku, available::text, reserved::text FROM stock WHERE sku = ANY($1)",
        [[...stock.keys()]],
      );
      const confirmed = await queryDb<{ sku: string; qty: string }>(
        platform.databases.orders,
        `SELECT l.sku, sum(l.quantity)::text AS qty FROM order_lines l JOIN orders o USING (order_id)
        WHERE o.status IN ('CONFIRMED', 'DELIVERED') GROUP BY l.sku`,
      );
      const confirmedBySku = new Map(confirmed.map((r) => [r.sku, BigInt(r.qty)]));
      const problems: string[] = [];
      for (const [sku, initial] of stock) {
        const row = rows.find((r) => r.sku === sku);
        if (!row) {
          problems.push(`${sku}: missing`);
          continue;
        }
        const available = BigInt(row.available);
        const reserved = BigInt(row.reserved);
        if (available + reserved !== initial)
          problems.push(`${sku}: available ${available} + reserved ${reserved} != initial ${initial}`);
        const want = confirmedBySku.get(sku) ?? 0n;
        if (reserved !== want) problems.push(`${sku}: reserved ${reserved} != confirmed quantity ${want}`);
      }
      return problems;
    },
  );

  await check("every notification delivered or dead-lettered", async () => {
    const rows = await queryDb<{ status: string; n: string }>(
      platform.databases.notifications,
      "SELECT status, count(*)::text AS n FROM deliveries GROUP BY status",
    );
    const pending = rows.filter((r) => r.status !== "DELIVERED" && r.status !== "DEAD_LETTERED");
    const line = rows.map((r) => `${r.status} ${r.n}`).join(", ") || "no deliveries";
    if (rows.length === 0 && orders.length > 0) return ["no delivery rows at all"];
    return pending.length > 0 ? pending.map((r) => `${r.n} ${r.status}`) : line;
  });

  await check("one workflow execution per order (Temporal)", async () => {
    const connection = await Connection.connect({
      address: process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233",
    });
    try {
      const client = new TemporalClient({
        connection,
        namespace: process.env.TEMPORAL_NAMESPACE ?? "default",
      });
      const runs = new Map<string, number>();
      for await (const wf of client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
        runs.set(wf.workflowId, (runs.get(wf.workflowId) ?? 0) + 1);
      }
      const problems = [...runs].filter(([, n]) => n > 1).map(([id, n]) => `${id}: ${n} executions`);
      for (const o of orders)
        if (!runs.has(`order-${o.order_id}`)) problems.push(`order-${o.order_id}: no execution`);
      return problems.length > 0 ? problems : `${runs.size} workflows, one execution each`;
    } finally {
      await connection.close();
    }
  });
  return results;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}

function summarize(problems: string[]): string {
  const shown = problems.slice(0, 5).join("; ");
  return problems.length > 5 ? `${problems.length} violations: ${shown}; ...` : shown;
}

/** The report as two plain-text tables. */
export function formatReport(report: ChaosReport): string {
  const table = (header: string[], rows: string[][]) => {
    const widths = header.map((h, i) =>
      Math.max(h.length, ...rows.map((r) => Math.min((r[i] ?? "").length, 100))),
    );
    const line = (cells: string[]) =>
      cells.map((c, i) => (c.length > 100 ? `${c.slice(0, 97)}...` : c).padEnd(widths[i] ?? 0)).join(" | ");
    return [line(header), widths.map((w) => "-".repeat(w)).join("-+-"), ...rows.map(line)].join("\n");
  };
  const l = report.load;
  return [
    table(
      ["fault", "outcome", "seconds", "detail"],
      report.faults.map((f) => [f.fault, f.outcome, String(f.recoverySeconds), f.detail]),
    ),
    "",
    table(
      ["invariant", "result", "detail"],
      report.invariants.map((i) => [i.invariant, i.ok ? "OK" : "VIOLATED", i.detail]),
    ),
    "",
    `load: ${l.placed} orders placed (${l.retried} needed a retry with the same key), ${l.cancelled} cancelled, ${l.unanswered} never answered`,
    report.selfExits.length > 0
      ? `services that exited by themselves and were restarted: ${report.selfExits.join(" | ")}`
      : "no service exited by itself",
    report.ok ? "CHAOS: all invariants hold" : "CHAOS: VIOLATIONS",
  ].join("\n");
}
