import "./lib/env.ts";
import { execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PRODUCT_SERVICES, startPlatform } from "#test/support/platform.ts";
import { productionInfra } from "#test/support/production-infra.ts";
import {
  type PerfRecording,
  perfUsable,
  recordPerf,
  summarizePerf,
  TEMPORAL_CODE_PATHS,
} from "./lib/perf-profile.ts";
import { INFRA_GROUPS, ROOT } from "./lib/procs.ts";
import { profileOf, summarizeProfile } from "./lib/profile.ts";
import { type BenchReport, markdown, verdicts } from "./report.ts";
import { runAuthorizationBench } from "./scenarios/authorization.ts";
import { runCapacity } from "./scenarios/capacity.ts";
import { runEvents } from "./scenarios/events.ts";
import { runKafkaClientBench } from "./scenarios/kafka-client.ts";
import { runOrdersBench } from "./scenarios/orders.ts";
import { runE2e, runNotifications } from "./scenarios/platform.ts";
import { runTracingBench } from "./scenarios/tracing.ts";

/**
 * npm run bench [-- --quick] [--only=events,orders,authorization,tracing,kafka-client,notifications,capacity,e2e] [--out=dir]
 * Runs the scenarios one after the other in one process, against the running
 * infrastructure, and writes reports/bench/report.{json,md} and chart.png.
 *
 * npm run bench -- --topology=production [--quick] [--out=dir]
 * The capacity probe alone on the production topology (ADR 0021: three Kafka
 * brokers, the Temporal server on PostgreSQL, two replicas of every product
 * service; start it with ACCORD_TOPOLOGY=production npm run infra:up), written
 * to reports/bench/production/.
 */
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const topologyArg =
  args.find((a) => a.startsWith("--topology="))?.slice("--topology=".length) ?? "development";
if (topologyArg !== "development" && topologyArg !== "production") {
  console.error(
    "usage: npm run bench -- [--quick] [--only=...] [--out=dir] [--topology=development|production]",
  );
  process.exit(2);
}
const topology: "development" | "production" = topologyArg;
const production = topology === "production";
// Before any scenario reads the addresses: the production Kafka cluster and Temporal server.
if (production) productionInfra();
const only = production
  ? ["capacity"]
  : args
      .find((a) => a.startsWith("--only="))
      ?.slice("--only=".length)
      .split(",");
const wants = (name: string) => !only || only.includes(name);
// --out keeps exploratory runs away from the committed report.
const outDir = path.resolve(
  ROOT,
  args.find((a) => a.startsWith("--out="))?.slice("--out=".length) ??
    (production ? "reports/bench/production" : "reports/bench"),
);
const runId = randomUUID().replaceAll("-", "").slice(0, 8);
const t0 = Date.now();
const log = (line: string) =>
  process.stdout.write(`[bench +${Math.round((Date.now() - t0) / 1000)}s] ${line}\n`);

/**
 * The production topology on this machine: its idle processes alone use about
 * a core, and 2 orders/s keep the machine 99 % busy (quick probes, 2026-12-02),
 * so its rates stay at and below that.
 */
const PRODUCTION_RATES = (quick: boolean) =>
  quick
    ? [{ rate: 2, seconds: 20 }]
    : [
        { rate: 1, seconds: 60 },
        { rate: 2, seconds: 60 },
      ];

async function main() {
  mkdirSync(outDir, { recursive: true });
  const cpus = os.cpus();
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    finishedAt: "",
    mode: quick ? "quick" : "full",
    topology,
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? "unknown",
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      node: process.versions.node,
    },
    loadAverage: {},
    targets: [],
    errors: [],
  };
  // One failing scenario is reported, the others still run.
  const attempt = async (name: string, fn: () => Promise<void>) => {
    if (!wants(name)) return;
    report.loadAverage[name] = Math.round((os.loadavg()[0] ?? 0) * 10) / 10;
    try {
      await fn();
    } catch (error) {
      const message = `${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
      log(`FAILED ${message}`);
      report.errors.push(message.split("\n").slice(0, 3).join(" "));
    }
  };

  await attempt("events", async () => {
    log("events: protobuf vs JSON");
    report.events = runEvents(quick);
  });
  await attempt("orders", async () => {
    // Raw profiles are megabytes: kept out of the committed report, which carries their summaries.
    report.orders = await runOrdersBench(quick, runId, path.join(os.tmpdir(), "accord-bench-profiles"), log);
  });
  await attempt("authorization", async () => {
    log("authorization: PlaceOrder and GetOrder with and without the authorization interceptor");
    report.authorization = await runAuthorizationBench(quick, runId, log);
  });
  await attempt("tracing", async () => {
    log("tracing: checkout with tracing off and on, a platform per round");
    report.tracing = await runTracingBench(quick, runId, log);
  });
  await attempt("kafka-client", async () => {
    log("kafka-client: kafkajs and @platformatic/kafka, the same per-event work, a child process per round");
    report.kafkaClient = await runKafkaClientBench(quick, runId, log);
  });
  if (wants("notifications") || wants("capacity") || wants("e2e")) {
    log("starting the platform (every service as its own process)");
    const orchestratorGroup = `bench-orchestrator-${runId}`;
    // The orchestrator is profiled over the platform phases (idle time is
    // excluded from the summary); notifications per process it runs as (the
    // webhook phases restart it), so its first profile is the webhook run's.
    const profileRoot = path.join(os.tmpdir(), "accord-bench-profiles");
    const orchestratorProfileDir = path.join(profileRoot, `orchestrator-${runId}`);
    const notificationsProfileDir = path.join(profileRoot, `notifications-${runId}`);
    const platform = await startPlatform(
      {
        orchestrator: {
          ORCHESTRATOR_GROUP_ID: orchestratorGroup,
          NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${orchestratorProfileDir}`,
        },
        notifications: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${notificationsProfileDir}` },
      },
      production ? { replicas: PRODUCT_SERVICES, startTimeoutMs: 180_000 } : {},
    );
    try {
      await attempt("notifications", async () => {
        report.notifications = await runNotifications(quick, runId, platform, log);
      });
      await attempt("capacity", async () => {
        const temporalRecording = startTemporalPerf(profileRoot, runId, report.errors);
        try {
          report.capacity = await runCapacity(
            quick,
            runId,
            platform,
            cpus.length,
            log,
            production ? PRODUCTION_RATES(quick) : undefined,
          );
        } finally {
          await temporalRecording?.stop();
        }
        if (temporalRecording)
          report.profiles = {
            ...report.profiles,
            "temporal-capacity": summarizePerf(temporalRecording.file, TEMPORAL_CODE_PATHS),
          };
      });
      await attempt("e2e", async () => {
        // First at a rate within the capacity the probe measured: what the
        // design gives when the machine keeps up; then the target's rate.
        report.e2eWithinCapacity = await runE2e(quick, runId, platform, orchestratorGroup, log, {
          rate: 5,
          seconds: quick ? 20 : 120,
        });
        report.e2e = await runE2e(quick, runId, platform, orchestratorGroup, log);
      });
    } finally {
      log("stopping the platform");
      await platform.stop();
    }
    const profile = existsSync(orchestratorProfileDir)
      ? profileOf(orchestratorProfileDir, undefined)
      : undefined;
    if (profile) report.profiles = { ...report.profiles, "orchestrator-platform": summarizeProfile(profile) };
    else report.errors.push(`orchestrator: no CPU profile written to ${orchestratorProfileDir}`);
    // node writes a profile per thread (CPU.<date>.<time>.<pid>.<thread>.<seq>): thread 1 is
    // the SDK's workflow thread, the sandbox every workflow task runs in (ADR 0022, 0023).
    const workflowThread = profile
      ? profileOf(orchestratorProfileDir, path.basename(profile).split(".")[3], 1)
      : undefined;
    if (workflowThread)
      report.profiles = {
        ...report.profiles,
        "orchestrator-workflow-thread": summarizeProfile(workflowThread),
      };
    if (wants("notifications")) {
      const first = existsSync(notificationsProfileDir) ? oldestProfile(notificationsProfileDir) : undefined;
      if (first) report.profiles = { ...report.profiles, "notifications-webhooks": summarizeProfile(first) };
      else report.errors.push(`notifications: no CPU profile written to ${notificationsProfileDir}`);
    }
  }

  report.finishedAt = new Date().toISOString();
  report.targets = verdicts(report);
  const json = JSON.stringify(report, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2);
  writeFileSync(path.join(outDir, "report.json"), `${json}\n`);
  writeFileSync(
    path.join(outDir, "report.md"),
    markdown(report, path.relative(outDir, path.join(ROOT, "docs/adr/0010-benchmarks.md"))),
  );
  // The chart draws the lookup, checkout, webhook and end-to-end phases; a run without them has none.
  if (report.orders || report.notifications || report.e2e) chart();
  log(`done: ${path.relative(ROOT, outDir)}/report.md`);
  for (const t of report.targets) log(`${t.status.padEnd(12)} ${t.name}: ${t.measured} (goal ${t.target})`);
}

/**
 * The Temporal server sampled with perf through the capacity phase (ADR 0025),
 * or nothing, with the reason in the report's errors, when perf is missing.
 */
function startTemporalPerf(profileRoot: string, runId: string, errors: string[]): PerfRecording | undefined {
  const pid = INFRA_GROUPS.temporal?.()[0];
  if (pid === undefined) {
    errors.push("temporal: no process found on its port to profile");
    return undefined;
  }
  if (!perfUsable()) {
    errors.push(
      "temporal: not profiled (Linux perf is not installed or may not sample here: apt-get install linux-perf)",
    );
    return undefined;
  }
  mkdirSync(profileRoot, { recursive: true });
  return recordPerf(pid, path.join(profileRoot, `temporal-${runId}.perf.data`));
}

/** The profile written first in a folder (the process that exited first). */
function oldestProfile(dir: string): string | undefined {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => path.join(dir, f))
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)[0];
}

/** The chart is drawn by matplotlib; installed for the user on first use. */
function chart() {
  const python = "python3";
  const has = spawnSync(python, ["-c", "import matplotlib"], { stdio: "ignore" }).status === 0;
  if (!has) {
    log("installing matplotlib for the chart (pip --user)");
    execFileSync(python, ["-m", "pip", "install", "--quiet", "--user", "matplotlib"], { stdio: "inherit" });
  }
  execFileSync(
    python,
    [path.join(ROOT, "bench/chart.py"), path.join(outDir, "report.json"), path.join(outDir, "chart.png")],
    {
      stdio: "inherit",
      env: { ...process.env, MPLBACKEND: "Agg" },
    },
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
