import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface ProcessMetrics {
  registry: Registry;
  rpcDuration: Histogram<"method" | "code">;
  authDenials: Counter<"method" | "reason">;
  /** 0 closed, 1 half-open, 2 open; per breaker (named after its downstream). */
  breakerState: Gauge<"breaker">;
  breakerOpens: Counter<"breaker">;
  /** Rows of this process's outbox not yet published (summed over its relays). */
  outboxBacklog: ProbedGauge<never>;
  /** Age of the oldest unpublished outbox row (the largest over its relays). */
  outboxOldestAge: ProbedGauge<never>;
  consumerLag: ProbedGauge<"group" | "topic" | "partition">;
  kafkaDlqDepth: ProbedGauge<"topic">;
  rabbitDlqDepth: ProbedGauge<"queue">;
  /** Orders reaching a final state of their saga, counted where that state is committed (orders). */
  sagaOutcomes: Counter<"result">;
  sagaDuration: Histogram<"result">;
}

type Labels<L extends string> = Partial<Record<L, string>>;
/** Reads one source at scrape time: its series, as label sets with values. */
export type Probe<L extends string> = () => Promise<ReadonlyArray<readonly [Labels<L>, number]>>;

/**
 * A gauge measured when Prometheus scrapes, from the probes the process's
 * parts added (a relay's outbox, a consumer group's offsets): series of a
 * probe that fails or was removed are left out rather than shown stale.
 * Label sets reported by several probes are combined (sum or max).
 */
export interface ProbedGauge<L extends string> {
  readonly gauge: Gauge<L>;
  /** Adds a probe; the returned function removes it. */
  addProbe(probe: Probe<L>): () => void;
}

function probedGauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  combine: "sum" | "max",
): ProbedGauge<L> {
  const probes = new Set<Probe<L>>();
  const gauge: Gauge<L> = new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      const results = await Promise.allSettled([...probes].map((probe) => withinDeadline(probe())));
      const merged = new Map<string, [Labels<L>, number]>();
      for (const result of results) {
        if (result.status !== "fulfilled") continue;
        for (const [labels, value] of result.value) {
          const key = JSON.stringify(labelNames.map((l) => labels[l] ?? ""));
          const seen = merged.get(key);
          const next = !seen ? value : combine === "sum" ? seen[1] + value : Math.max(seen[1], value);
          merged.set(key, [labels, next]);
        }
      }
      gauge.reset();
      for (const [labels, value] of merged.values()) gauge.set(labels as never, value);
    },
  });
  return {
    gauge,
    addProbe(probe) {
      probes.add(probe);
      return () => probes.delete(probe);
    },
  };
}

/**
 * How long a scrape waits for one probe. A dependency that hangs (Kafka
 * down: the admin client retries for many seconds) must not hold the whole
 * scrape past Prometheus's timeout, which would lose every other metric of
 * the process too; its series are left out of that scrape instead.
 */
const PROBE_DEADLINE_MS = 500;

function withinDeadline<T>(read: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("probe too slow")), PROBE_DEADLINE_MS);
  });
  return Promise.race([read, late]).finally(() => clearTimeout(timer));
}

/**
 * Memoizes a probe for `ttlMs` (and while a read is in flight), so gauges
 * fed by one query, or scrapes close together, cost one round trip; a read
 * that outlived a scrape's deadline still serves the next scrape.
 */
export function cachedProbe<T>(ttlMs: number, read: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (!last || Date.now() - last.at >= ttlMs) {
      const value = read();
      last = { at: Date.now(), value };
      // A failed read is not kept: the next scrape tries again.
      value.catch(() => {
        if (last?.value === value) last = undefined;
      });
    }
    return last.value;
  };
}

let metrics: ProcessMetrics | undefined;

/** Node's own default; see setEventLoopResolution. */
export const DEFAULT_EVENT_LOOP_RESOLUTION_MS = 10;
let eventLoopResolutionMs = DEFAULT_EVENT_LOOP_RESOLUTION_MS;

/**
 * How often the event-loop delay monitor samples (a timer that fires every
 * resolution, idle or not). Each reading includes the resolution itself, so
 * the nodejs_eventloop_lag_* figures read about 10 ms on an idle loop at the
 * default. 1 ms shows the short stalls behind an RPC p99 but costs about 2-3 %
 * of a core per process, idle too (ADR 0027); the checkout bench asks for it.
 * Must come before the first processMetrics().
 */
export function setEventLoopResolution(ms: number): void {
  if (metrics && ms !== eventLoopResolutionMs) {
    throw new Error("setEventLoopResolution after the process's metrics were created");
  }
  eventLoopResolutionMs = ms;
}

/** The outbox backlog is counted up to this many rows, so a scrape stays cheap however far behind the relay is. */
export const OUTBOX_COUNT_CAP = 100_000;

/**
 * The process's Prometheus registry: Node's default metrics (event-loop
 * delay, GC, heap, CPU) and the RPC server histogram. One per process,
 * because default metrics may be collected only once per registry and a
 * process may serve more than one server (tests do).
 */
export function processMetrics(): ProcessMetrics {
  if (metrics) return metrics;
  const registry = new Registry();
  collectDefaultMetrics({
    register: registry,
    eventLoopMonitoringPrecision: eventLoopResolutionMs,
    gcDurationBuckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  });
  const rpcDuration = new Histogram({
    name: "rpc_server_duration_seconds",
    help: "RPCs served, by method (/package.Service/Method) and Connect code, from the handler's start to its answer.",
    labelNames: ["method", "code"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const authDenials = new Counter({
    name: "rpc_auth_denials_total",
    help: "Calls refused by the authorization interceptor, by method and reason (missing, malformed, expired, bad-signature, wrong-issuer, wrong-audience, bad-claims, keys-unavailable, forbidden, no-rule).",
    labelNames: ["method", "reason"] as const,
    registers: [registry],
  });
  const breakerState = new Gauge({
    name: "breaker_state",
    help: "Circuit breaker state by breaker (named after the downstream it guards): 0 closed, 1 half-open, 2 open.",
    labelNames: ["breaker"] as const,
    registers: [registry],
  });
  const breakerOpens = new Counter({
    name: "breaker_opens_total",
    help: "Times a circuit breaker opened (closed or half-open to open), by breaker.",
    labelNames: ["breaker"] as const,
    registers: [registry],
  });
  const outboxBacklog = probedGauge<never>(
    registry,
    "outbox_unpublished_rows",
    `Outbox rows this process's relay has not published yet, read at scrape (counted up to ${OUTBOX_COUNT_CAP}).`,
    [],
    "sum",
  );
  const outboxOldestAge = probedGauge<never>(
    registry,
    "outbox_oldest_unpublished_age_seconds",
    "Age of the oldest outbox row not yet published (0 when none waits), read at scrape.",
    [],
    "max",
  );
  const consumerLag = probedGauge(
    registry,
    "kafka_consumer_lag_messages",
    "Messages behind: a partition's high watermark minus the group's committed offset (or the low watermark when none is committed), read at scrape.",
    ["group", "topic", "partition"] as const,
    "max",
  );
  const kafkaDlqDepth = probedGauge(
    registry,
    "kafka_dlq_depth_messages",
    "Messages held in a Kafka dead-letter topic (<topic>.dlq): high minus low watermark over its partitions, read at scrape.",
    ["topic"] as const,
    "max",
  );
  const rabbitDlqDepth = probedGauge(
    registry,
    "rabbitmq_dlq_depth_messages",
    "Messages ready in a RabbitMQ dead-letter queue (<queue>.dlq), read at scrape.",
    ["queue"] as const,
    "max",
  );
  const sagaOutcomes = new Counter({
    name: "saga_outcomes_total",
    help: "Orders whose saga reached a final state (confirmed, failed, cancelled), counted once when orders commits it.",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const sagaDuration = new Histogram({
    name: "saga_duration_seconds",
    help: "From an order's placement to its saga's final state (confirmed, failed, cancelled), by result.",
    labelNames: ["result"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
    registers: [registry],
  });
  metrics = {
    registry,
    rpcDuration,
    authDenials,
    breakerState,
    breakerOpens,
    outboxBacklog,
    outboxOldestAge,
    consumerLag,
    kafkaDlqDepth,
    rabbitDlqDepth,
    sagaOutcomes,
    sagaDuration,
  };
  return metrics;
}

/** Observes every call's duration and outcome (the Connect code name, snake case as on the wire). */
export function metricsInterceptor(rpcDuration: ProcessMetrics["rpcDuration"]): Interceptor {
  return (next) => async (req) => {
    const method = `/${req.service.typeName}/${req.method.name}`;
    const end = rpcDuration.startTimer({ method });
    try {
      const res = await next(req);
      end({ code: "ok" });
      return res;
    } catch (error) {
      end({ code: codeName(ConnectError.from(error).code) });
      throw error;
    }
  };
}

function codeName(code: Code): string {
  return (Code[code] ?? "unknown").replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c : `_${c}`)).toLowerCase();
}
