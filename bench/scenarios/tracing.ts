import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { type Platform, type ServiceName, startPlatform } from "#test/support/platform.ts";
import { stockBenchSku } from "../lib/bench-sku.ts";
import { createPoster } from "../lib/http.ts";
import { benchCaller } from "../lib/identity.ts";
import { openLoop } from "../lib/open-loop.ts";
import { awaitRoundEnded, placedToConfirmedMs } from "../lib/order-runs.ts";
import { PLACE_ORDER_PATH, platformOrderJson } from "../lib/place-order.ts";
import { pidsMatching, ROOT, startCpuMeter } from "../lib/procs.ts";
import { requireServed } from "../lib/served.ts";
import { type LatencySummary, round, sleep, summarize } from "../lib/stats.ts";
import { platformCpuGroups } from "./platform.ts";

export interface TracingRound {
  tracing: "on" | "off";
  rate: number;
  seconds: number;
  placed: number;
  notTerminal: number;
  /** PlaceOrder as the client saw it (open loop, from the scheduled send). */
  checkout: LatencySummary;
  /** placed -> CONFIRMED from the orders database's status history. */
  placedToConfirmed: LatencySummary;
  /** CPU per order over every process (services, simulators, infrastructure), idle use subtracted. */
  cpuMsPerOrder: number;
  /** The services' own share (orders, inventory, payments, shipping, notifications, orchestrator). */
  serviceCpuMsPerOrder: number;
  /** Zipkin's JVM, per order: the backend's cost, apart from the services'. */
  zipkinCpuMsPerOrder: number;
  loadAverage: number;
}

export interface TracingResult {
  sampleRatio: number;
  rounds: TracingRound[];
  /** Rounds that failed, with why. */
  errors: string[];
  /** One order's spans alone (bench/targets/span-cost.ts), CPU ms per order, by run: off, on, off, on. */
  spanCost: { tracing: "on" | "off"; cpuMsPerOrder: number; spansPerOrder: number }[];
  /** Averaged over the rounds of each mode. */
  summary: Record<"on" | "off", { cpuMsPerOrder: number; serviceCpuMsPerOrder: number; checkoutP99: number }>;
}

const SERVICES: ServiceName[] = [
  "orders",
  "inventory",
  "payments",
  "shipping",
  "notifications",
  "orchestrator",
];

/**
 * Checkout with tracing on and off in the same run: the platform is started
 * once per round with OTEL_SDK_DISABLED true or false (off, on, on, off, so
 * drift in the machine's load hits both modes alike), PlaceOrder runs at a
 * fixed rate, every order runs to its end, and each process's CPU is
 * metered from the first placement to the last end, idle use subtracted.
 */
export async function runTracingBench(
  quick: boolean,
  runId: string,
  log: (line: string) => void,
): Promise<TracingResult> {
  const sampleRatio = Number(process.env.OTEL_TRACES_SAMPLER_ARG ?? "1");
  const modes: ("on" | "off")[] = quick ? ["off", "on"] : ["off", "on", "on", "off"];
  const rate = quick ? 5 : 8;
  const seconds = quick ? 20 : 45;
  const rounds: TracingRound[] = [];
  const errors: string[] = [];
  for (const [index, mode] of modes.entries()) {
    const env = {
      OTEL_SDK_DISABLED: mode === "off" ? "true" : "false",
      OTEL_TRACES_SAMPLER_ARG: String(sampleRatio),
    };
    log(`tracing: round ${index + 1}/${modes.length}, tracing ${mode}: starting the platform`);
    // A round that fails (a process that does not start on a busy machine) is
    // reported; the other rounds still give both modes their numbers.
    try {
      const platform = await startPlatform(Object.fromEntries(SERVICES.map((s) => [s, env])));
      try {
        rounds.push(await runRound(platform, mode, `${runId}-${index}`, rate, seconds, log));
      } finally {
        await platform.stop();
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`tracing: round ${index + 1} (${mode}) failed: ${message.split("\n")[0]}`);
      errors.push(`round ${index + 1} (${mode}): ${message.split("\n").slice(0, 4).join(" ")}`);
    }
  }
  if (!rounds.some((r) => r.tracing === "on") || !rounds.some((r) => r.tracing === "off")) {
    throw new Error(`tracing: no round for one of the modes: ${errors.join("; ")}`);
  }
  const pooled = (mode: "on" | "off") => {
    const of = rounds.filter((r) => r.tracing === mode);
    const mean = (f: (r: TracingRound) => number) => round(of.reduce((a, r) => a + f(r), 0) / of.length, 2);
    return {
      cpuMsPerOrder: mean((r) => r.cpuMsPerOrder),
      serviceCpuMsPerOrder: mean((r) => r.serviceCpuMsPerOrder),
      checkoutP99: mean((r) => r.checkout.p99),
    };
  };
  log("tracing: the spans of one order alone, CPU time (off, on, off, on)");
  const spanCost = (["off", "on", "off", "on"] as const).map((mode) => {
    const out = execFileSync(process.execPath, [path.join(ROOT, "bench/targets/span-cost.ts")], {
      cwd: ROOT,
      env: { ...process.env, OTEL_SDK_DISABLED: mode === "off" ? "true" : "false" },
      encoding: "utf8",
    });
    const line = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as {
      cpuMsPerOrder: number;
      spansPerOrder: number;
    };
    return { tracing: mode, cpuMsPerOrder: round(line.cpuMsPerOrder, 3), spansPerOrder: line.spansPerOrder };
  });
  return { sampleRatio, rounds, errors, spanCost, summary: { on: pooled("on"), off: pooled("off") } };
}

async function runRound(
  platform: Platform,
  mode: "on" | "off",
  tag: string,
  rate: number,
  seconds: number,
  log: (line: string) => void,
): Promise<TracingRound> {
  const groups = { ...platformCpuGroups(platform), zipkin: zipkinPids };
  const idleMeter = startCpuMeter(groups);
  await sleep(8_000);
  const idle = idleMeter.stop().groups;

  const ops = await benchCaller("olivia", "orders");

  const sku = `BENCH-TRC-${tag}`.toUpperCase();
  await stockBenchSku(platform, sku);
  const poster = createPoster(platform.urls.orders);
  log(`tracing ${mode}: ${rate} orders/s for ${seconds} s, then until every order has ended`);
  const meter = startCpuMeter(groups);
  const started = Date.now();
  try {
    const placement = await openLoop({
      rate,
      durationMs: seconds * 1000,
      send: async (i) => {
        await poster.post(
          PLACE_ORDER_PATH,
          platformOrderJson(`bench-trc-${tag}-${i}`, sku, i),
          "application/json",
          ops.headers,
        );
      },
    });
    requireServed(`tracing ${mode} placement`, placement);
    const notTerminal = await awaitRoundEnded(platform, sku, 120_000);
    const elapsedMs = Date.now() - started;
    const cpu = meter.stop();
    const latencies = await placedToConfirmedMs(platform, sku);
    const placed = placement.ok;
    const perOrder = (name: string) => {
      const used = Math.max(0, (cpu.groups[name] ?? 0) - (idle[name] ?? 0));
      return placed > 0 ? ((used / 100) * elapsedMs) / placed : 0;
    };
    return {
      tracing: mode,
      rate,
      seconds,
      placed,
      notTerminal,
      checkout: placement.latency,
      placedToConfirmed: summarize(latencies),
      cpuMsPerOrder: round(
        Object.keys(cpu.groups).reduce((a, name) => a + perOrder(name), 0),
        1,
      ),
      serviceCpuMsPerOrder: round(
        SERVICES.reduce((a, s) => a + perOrder(s), 0),
        1,
      ),
      zipkinCpuMsPerOrder: round(perOrder("zipkin"), 1),
      loadAverage: round(os.loadavg()[0] ?? 0, 1),
    };
  } finally {
    poster.close();
  }
}

/** Zipkin's JVM (the exec jar infra.sh runs), found by its command line. */
function zipkinPids(): number[] {
  return pidsMatching((cmdline) => cmdline.includes("java") && cmdline.includes("zipkin"));
}
