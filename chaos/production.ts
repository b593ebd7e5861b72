import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  brokerAddress,
  brokerPids,
  CLUSTER_NODES,
  type ClusterNode,
  coordinatorNode,
  killBroker,
  startBroker,
} from "#test/support/kafka-cluster.ts";
import { type Platform, portVariable, queryDb, type ReplicatedService } from "#test/support/platform.ts";
import { tcpAnswers } from "#test/support/tcp.ts";
import {
  allReady,
  type ChaosReport,
  catalogue,
  checkIdentities,
  checkInvariants,
  type FaultResult,
  firstLine,
  formatReport,
  type InvariantResult,
  lastLines,
  quiescence,
  restartInfra,
  SERVICES,
  type Supervisor,
  startIsolatedPlatform,
  startLoad,
  stockCatalogue,
  supervise,
} from "./chaos.ts";
import { type FaultWindow, gapsOver, longestPause, overlaps, type Pause } from "./confirmation-pauses.ts";
import { servicePids } from "./processes.ts";

/**
 * The chaos run on the production topology (issue 15): three Kafka brokers,
 * the Temporal server on PostgreSQL, and two processes of every service
 * (replica 2 has its own port; callers use replica 1's, nothing balances).
 * Under load: kill -9 of one broker left down for a while, kill -9 of one
 * replica of several services (the other keeps working, the killed one is
 * restarted as a supervisor would), a Temporal server restart; then the usual
 * invariants, plus: no pause between confirmations longer than the limit while
 * the broker is down.
 */

export type ProductionFault =
  /**
   * kill -9 of one node, down for downS under load, then `infra.sh up kafka`.
   * "coordinator": the node coordinating the orchestrator bridge's consumer
   * group when the fault begins, the worst one to lose: every commit of the
   * bridge goes there, besides the partitions it leads.
   */
  | { kind: "broker"; node: ClusterNode | "coordinator"; downS: number }
  /** kill -9 of one replica; restarted downS later, the other replica alone meanwhile. */
  | { kind: "replica"; service: ReplicatedService; replica: 1 | 2; downS: number }
  /** infra.sh down temporal, 3 s, infra.sh up temporal. */
  | { kind: "temporal" };

export interface ProductionOptions {
  ratePerSecond: number;
  warmupS: number;
  gapS: number;
  cooldownS: number;
  faults: ProductionFault[];
  quiescenceTimeoutS: number;
  /** The longest pause between two confirmations allowed while a broker is down. */
  maxConfirmationPauseS: number;
  log?: (line: string) => void;
}

/**
 * The services the chaos runs kill (SERVICES) run twice on the production
 * platform, the catalog once (the development run is the one that kills it).
 */
export const REPLICATED: ReplicatedService[] = SERVICES.filter((name) => name !== "catalog");

/*
 * Which replica a kill hits: of orders and payments replica 2, since callers
 * reach replica 1 only (no balancer here; in production one would route
 * around the dead one); of orchestrator and notifications, whose work comes
 * from Kafka, RabbitMQ and Temporal rather than from callers, replica 1.
 */
const REPLICA_FAULTS: ProductionFault[] = [
  { kind: "replica", service: "orchestrator", replica: 1, downS: 5 },
  { kind: "replica", service: "notifications", replica: 1, downS: 5 },
  { kind: "replica", service: "orders", replica: 2, downS: 5 },
  { kind: "replica", service: "payments", replica: 2, downS: 5 },
];

export const PRODUCTION: Omit<ProductionOptions, "log"> = {
  // Measured: at 3/s this topology confirmed 0.27 orders/s on the shared two-core
  // machine (placed -> CONFIRMED p50 167 s; before ADR 0027). Every other order
  // does not confirm (pickKind), so at 2/s the load's own gap is about 1 s.
  ratePerSecond: 2,
  warmupS: 20,
  gapS: 10,
  cooldownS: 15,
  faults: [{ kind: "broker", node: "coordinator", downS: 20 }, ...REPLICA_FAULTS, { kind: "temporal" }],
  quiescenceTimeoutS: 300,
  maxConfirmationPauseS: 5,
};

/** The broker and one replica kill: a few minutes, to try the setup or measure a rate. */
export const PRODUCTION_SHORT: Omit<ProductionOptions, "log"> = {
  ...PRODUCTION,
  warmupS: 10,
  gapS: 5,
  cooldownS: 5,
  faults: [{ kind: "broker", node: "coordinator", downS: 20 }, REPLICA_FAULTS[0] as ProductionFault],
  quiescenceTimeoutS: 300,
};

export interface ProductionFaultResult extends FaultResult {
  window: FaultWindow;
  /** CONFIRMED transitions inside the window. */
  confirmations: number;
  /** The longest pause between confirmations that overlaps the window. */
  longestPause: Pause;
}

export interface ProductionReport extends ChaosReport {
  faults: ProductionFaultResult[];
  /** Every pause between confirmations longer than the limit while the load ran, with the faults it overlaps. */
  pauses: (Pause & { during: string[] })[];
  confirmations: {
    count: number;
    perSecondUnderLoad: number;
    /** Placed -> CONFIRMED, seconds: median, 95th percentile, maximum. */
    latencyS: { p50: number; p95: number; max: number };
  };
  /** os.loadavg() (1, 5, 15 minutes) when the run started, after the faults, at the end. */
  loadAverage: { start: number[]; afterFaults: number[]; end: number[] };
  infrastructure: { kafkaBrokers: string; temporalAddress: string };
  rate: number;
  quiescenceSeconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round1 = (n: number) => Math.round(n * 10) / 10;

// ---------------------------------------------------------------- replicas and their supervisor

export interface Instance {
  name: ReplicatedService;
  replica: 1 | 2;
}

const label = (i: Instance) => `${i.name} replica ${i.replica}`;

function instanceUrl(platform: Platform, i: Instance): string {
  const url = i.replica === 1 ? platform.urls[i.name] : platform.replicaUrls[i.name];
  if (!url) throw new Error(`${label(i)} is not part of this platform`);
  return url;
}

/**
 * The OS processes of one replica: the service's processes of this platform
 * (servicePids) whose environment carries this replica's port, the one
 * variable two replicas differ in.
 */
export function instancePids(platform: Platform, prefix: string, i: Instance): number[] {
  const marker = `${portVariable(i.name)}=${new URL(instanceUrl(platform, i)).port}`;
  return servicePids(i.name, prefix).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(marker);
    } catch {
      return false;
    }
  });
}

/** kill -9 of one replica; resolves with its pids once none is left. */
async function killInstance(platform: Platform, prefix: string, i: Instance, timeoutMs = 10_000) {
  const pids = instancePids(platform, prefix, i);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (instancePids(platform, prefix, i).length > 0) {
    if (Date.now() > deadline)
      throw new Error(`${label(i)} still running after kill -9 of ${pids.join(",")}`);
    await sleep(50);
  }
  return pids;
}

/** chaos.ts's supervisor, per replica: a replica that ends by itself is restarted while the other runs on. */
function superviseReplicas(platform: Platform, prefix: string, log: (l: string) => void) {
  return supervise<Instance>(
    {
      units: REPLICATED.flatMap((name): Instance[] => [
        { name, replica: 1 },
        { name, replica: 2 },
      ]),
      key: label,
      running: (i) => instancePids(platform, prefix, i).length > 0,
      output: (i) =>
        (i.replica === 1 ? platform.processes.get(i.name) : platform.replicas.get(i.name))?.output() ?? "",
      // Leftovers of that replica only: the other one runs on.
      kill: (i) => killInstance(platform, prefix, i),
      start: (i) => (i.replica === 1 ? platform.restart(i.name) : platform.restartReplica(i.name)),
    },
    log,
  );
}

// ---------------------------------------------------------------- the infrastructure

/**
 * Fails at once, naming what is missing, unless all three brokers run (from
 * their pid files) and answer, and the Temporal server answers.
 */
export async function checkProductionInfra(log: (line: string) => void): Promise<void> {
  const up = "start it with: ACCORD_TOPOLOGY=production bash infra/infra.sh up";
  const pids = brokerPids();
  for (const n of CLUSTER_NODES) {
    if (pids[n] === undefined || !(await tcpAnswers(brokerAddress(n))))
      throw new Error(`kafka node ${n} (${brokerAddress(n)}) is not running; ${up} kafka`);
  }
  const temporal = process.env.TEMPORAL_ADDRESS ?? "";
  if (!(await tcpAnswers(temporal)))
    throw new Error(`the Temporal server ${temporal} does not answer; ${up} temporal`);
  log(`[chaos] production infrastructure: kafka ${process.env.KAFKA_BROKERS}, temporal ${temporal}`);
}

// ---------------------------------------------------------------- the run

export async function runProductionChaos(options: ProductionOptions): Promise<ProductionReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const loadStart = os.loadavg();
  await checkProductionInfra(log);
  await checkIdentities(log);
  const tag = randomUUID().slice(0, 6).toUpperCase();
  const taskQueue = `orders-chaos-prod-${tag.toLowerCase()}`;
  log(`[chaos] starting the platform, two replicas of ${REPLICATED.join(", ")} (task queue ${taskQueue})`);
  const { platform, prefix, cleanup } = await startIsolatedPlatform(
    `chaos-prod-${tag.toLowerCase()}.`,
    { orchestrator: { ORDERS_TASK_QUEUE: taskQueue } },
    // A restarted orchestrator bundles its workflows first: over 60 s on the loaded two-core machine.
    { replicas: REPLICATED, startTimeoutMs: 180_000 },
  );
  try {
    const stock = catalogue(tag);
    await stockCatalogue(platform, stock);
    const supervisor = superviseReplicas(platform, prefix, log);
    const load = startLoad(platform, stock, options.ratePerSecond, log);
    const loadFrom = Date.now();
    const faults: { fault: ProductionFault; result: FaultResult; window: FaultWindow }[] = [];
    try {
      await sleep(options.warmupS * 1000);
      for (const fault of options.faults) {
        faults.push({ fault, ...(await inject(platform, prefix, fault, supervisor, log)) });
        await sleep(options.gapS * 1000);
      }
      await sleep(options.cooldownS * 1000);
    } finally {
      await load.stop();
    }
    const loadTo = Date.now();
    const afterFaults = os.loadavg();
    log(`[chaos] load stopped: ${load.stats.placed} orders placed; waiting for quiescence`);
    const quiet = await quiescence(platform, options.quiescenceTimeoutS, log);
    const quiescenceSeconds = Math.round((Date.now() - loadTo) / 1000);
    supervisor.stop();
    const invariants = [quiet, ...(await checkInvariants(platform, stock, load, taskQueue))];

    const times = await confirmationTimes(platform);
    const results: ProductionFaultResult[] = faults.map(({ result, window }) => ({
      ...result,
      window,
      confirmations: times.filter((t) => t >= window.from && t <= window.to).length,
      longestPause: longestPause(times, window),
    }));
    const limit = options.maxConfirmationPauseS;
    invariants.push(brokerPauseInvariant(faults, results, limit));
    const pauses = gapsOver(times, { from: loadFrom, to: loadTo })
      .filter((p) => p.seconds > limit)
      .map((p) => ({
        ...p,
        during: results.filter((r) => overlaps(p, r.window)).map((r) => r.fault),
      }));
    return {
      faults: results,
      invariants,
      selfExits: supervisor.selfExits,
      load: { ...load.stats },
      ok: invariants.every((i) => i.ok) && results.every((f) => f.outcome !== "not recovered"),
      pauses,
      confirmations: {
        count: times.length,
        perSecondUnderLoad:
          Math.round((times.filter((t) => t <= loadTo).length / ((loadTo - loadFrom) / 1000)) * 100) / 100,
        latencyS: await confirmationLatency(platform),
      },
      loadAverage: { start: loadStart, afterFaults, end: os.loadavg() },
      infrastructure: {
        kafkaBrokers: process.env.KAFKA_BROKERS ?? "",
        temporalAddress: process.env.TEMPORAL_ADDRESS ?? "",
      },
      rate: options.ratePerSecond,
      quiescenceSeconds,
    };
  } finally {
    keepServiceLogs(platform, tag, log);
    log("[chaos] stopping the platform");
    await cleanup().catch((error: unknown) => log(`[chaos] stop failed: ${String(error)}`));
  }
}

/**
 * What every running process printed (warnings and errors; the ones killed
 * and restarted only since their restart), kept outside the repository so a
 * failed invariant can be read against the services' own account of it.
 */
function keepServiceLogs(platform: Platform, tag: string, log: (line: string) => void): void {
  const dir = path.join(os.tmpdir(), "accord-chaos-logs", `production-${tag.toLowerCase()}`);
  try {
    mkdirSync(dir, { recursive: true });
    for (const [name, proc] of platform.processes)
      writeFileSync(path.join(dir, `${name}.log`), proc.output());
    for (const [name, proc] of platform.replicas)
      writeFileSync(path.join(dir, `${name}-replica-2.log`), proc.output());
    log(`[chaos] service logs: ${dir}`);
  } catch (error) {
    log(`[chaos] service logs not kept: ${String(error)}`);
  }
}

/** Every broker fault's window must hold no pause between confirmations over the limit. */
function brokerPauseInvariant(
  faults: { fault: ProductionFault }[],
  results: ProductionFaultResult[],
  limitS: number,
): InvariantResult {
  const invariant = `no pause between confirmations over ${limitS} s while a broker is down`;
  const windows = results.filter((_, k) => faults[k]?.fault.kind === "broker");
  if (windows.length === 0) return { invariant, ok: false, detail: "no broker was taken down" };
  const problems: string[] = [];
  const lines = windows.map((r) => {
    const p = r.longestPause;
    const line = `${r.fault}: longest pause ${round1(p.seconds)} s (${clock(p.from)} -> ${clock(p.to)}), ${r.confirmations} confirmations in ${clock(r.window.from)} -> ${clock(r.window.to)}`;
    if (p.seconds > limitS || r.outcome === "not recovered") problems.push(line);
    return line;
  });
  return {
    invariant,
    ok: problems.length === 0,
    detail: (problems.length > 0 ? problems : lines).join("; "),
  };
}

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23);

async function inject(
  platform: Platform,
  prefix: string,
  fault: ProductionFault,
  supervisor: Supervisor<Instance>,
  log: (line: string) => void,
): Promise<{ result: FaultResult; window: FaultWindow }> {
  const from = Date.now();
  const elapsed = () => round1((Date.now() - from) / 1000);
  const done = (result: Omit<FaultResult, "recoverySeconds">, to = Date.now()) => ({
    result: { ...result, recoverySeconds: elapsed() },
    window: { from, to },
  });
  if (fault.kind === "broker") {
    let what = `kill -9 kafka broker ${fault.node} (${fault.downS} s down)`;
    try {
      const node =
        fault.node === "coordinator" ? await coordinatorNode(platform.orchestratorGroupId) : fault.node;
      if (fault.node === "coordinator")
        what = `kill -9 kafka broker ${node}, the orchestrator group's coordinator (${fault.downS} s down)`;
      const pid = await killBroker(node);
      log(`[chaos] kill -9 kafka node ${node} (pid ${pid}); down for ${fault.downS} s under load`);
      await sleep(fault.downS * 1000);
      const restartFrom = Date.now();
      log(`[chaos] infra.sh up kafka (node ${node})`);
      // The broker is back when its listener answers; infra.sh goes on (provisioning, all three live).
      let listening: number | undefined;
      const watch = (async () => {
        while (listening === undefined) {
          if (await tcpAnswers(brokerAddress(node))) listening = Date.now();
          else await sleep(200);
        }
      })();
      let scriptError: unknown;
      const newPid = await startBroker(node).catch((error: unknown) => {
        scriptError = error;
        return undefined;
      });
      if (scriptError !== undefined) {
        // The script may give up (a wait of its own timed out) while the node still comes up.
        log(`[chaos] infra.sh up kafka failed: ${lastLines(scriptError)}`);
        const deadline = Date.now() + 120_000;
        while (listening === undefined && Date.now() < deadline) await sleep(500);
      }
      listening ??= Date.now();
      await watch;
      const back = listening ?? Date.now();
      const complete = Date.now();
      const ready = await allReady(platform, 90_000);
      const s = (ms: number) => round1((ms - restartFrom) / 1000);
      const alive = brokerPids()[node] !== undefined && (await tcpAnswers(brokerAddress(node)));
      const script =
        scriptError === undefined
          ? `infra.sh up kafka: node ${node} (pid ${newPid}) listening after ${s(back)} s, all three live after ${s(complete)} s`
          : `infra.sh up kafka FAILED after ${s(complete)} s (${lastLines(scriptError, 3).replace(/\n\s*/g, " | ")}); node ${node} ${alive ? `listening after ${s(back)} s` : "not running"}`;
      return done(
        {
          fault: what,
          outcome: ready && alive ? "recovered" : "not recovered",
          detail: `pid ${pid} killed; ${script}${ready ? "" : "; some service never ready again"}`,
        },
        back,
      );
    } catch (error) {
      return done({ fault: what, outcome: "not recovered", detail: firstLine(error) });
    }
  }
  if (fault.kind === "replica") {
    const i: Instance = { name: fault.service, replica: fault.replica };
    const what = `kill -9 ${label(i)}`;
    supervisor.busy.add(label(i));
    try {
      const pids = await killInstance(platform, prefix, i);
      log(`[chaos] ${what} (pids ${pids.join(",")}); the other replica alone for ${fault.downS} s`);
      await sleep(fault.downS * 1000);
      await supervisor.restart(i);
      const back = Date.now();
      supervisor.busy.add(label(i));
      const ready = await allReady(platform, 90_000);
      return done(
        {
          fault: what,
          outcome: ready ? "recovered" : "not recovered",
          detail: `killed pids ${pids.join(",")}; restarted after ${fault.downS} s${ready ? "" : "; some service never ready again"}`,
        },
        back,
      );
    } catch (error) {
      return done({ fault: what, outcome: "not recovered", detail: firstLine(error) });
    } finally {
      supervisor.busy.delete(label(i));
    }
  }
  const result = await restartInfra(platform, "temporal", log);
  return { result: { ...result, fault: "restart temporal server" }, window: { from, to: Date.now() } };
}

/** When each of the run's orders became CONFIRMED (the orders database's clock), ascending epoch ms. */
async function confirmationTimes(platform: Platform): Promise<number[]> {
  const rows = await queryDb<{ t: number }>(
    platform.databases.orders,
    "SELECT (extract(epoch FROM changed_at) * 1000)::float8 AS t FROM order_status_history WHERE status = 'CONFIRMED' ORDER BY 1",
  );
  return rows.map((r) => Number(r.t));
}

async function confirmationLatency(platform: Platform): Promise<{ p50: number; p95: number; max: number }> {
  const rows = await queryDb<{ p: number[] | null }>(
    platform.databases.orders,
    `SELECT percentile_cont(ARRAY[0.5, 0.95, 1]) WITHIN GROUP (ORDER BY extract(epoch FROM h.changed_at - o.created_at)) AS p
     FROM order_status_history h JOIN orders o USING (order_id) WHERE h.status = 'CONFIRMED'`,
  );
  const [p50 = 0, p95 = 0, max = 0] = (rows[0]?.p ?? []).map((v) => round1(Number(v)));
  return { p50, p95, max };
}

// ---------------------------------------------------------------- the report

export function formatProductionReport(report: ProductionReport): string {
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(" / ");
  const c = report.confirmations;
  const windows = report.faults.map(
    (f) =>
      `  ${f.fault}: ${clock(f.window.from)} -> ${clock(f.window.to)} UTC, ${f.confirmations} confirmations, longest pause ${round1(f.longestPause.seconds)} s`,
  );
  const pauses =
    report.pauses.length === 0
      ? ["  none"]
      : report.pauses.map(
          (p) =>
            `  ${round1(p.seconds)} s: ${clock(p.from)} -> ${clock(p.to)} UTC${p.during.length > 0 ? `, during ${p.during.join(", ")}` : ", outside every fault window"}`,
        );
  return [
    `topology: production (kafka ${report.infrastructure.kafkaBrokers}, temporal ${report.infrastructure.temporalAddress}); two replicas of ${REPLICATED.join(", ")}; callers use replica 1's port`,
    `load ${report.rate} orders/s; load average (1/5/15 min): start ${load(report.loadAverage.start)}, after the faults ${load(report.loadAverage.afterFaults)}, end ${load(report.loadAverage.end)}`,
    `confirmations: ${c.count} (${c.perSecondUnderLoad}/s under load); placed -> CONFIRMED p50 ${c.latencyS.p50} s, p95 ${c.latencyS.p95} s, max ${c.latencyS.max} s; quiescence ${report.quiescenceSeconds} s after the load stopped`,
    "",
    "fault windows (confirmations inside; the longest pause between confirmations overlapping the window):",
    ...windows,
    "",
    "pauses between confirmations over the limit while the load ran:",
    ...pauses,
    "",
    formatReport(report),
  ].join("\n");
}
