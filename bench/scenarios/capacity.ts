import type { Platform } from "#test/support/platform.ts";
import { stockBenchSku } from "../lib/bench-sku.ts";
import { createPoster } from "../lib/http.ts";
import { benchCaller } from "../lib/identity.ts";
import { openLoop } from "../lib/open-loop.ts";
import { awaitRoundEnded, placedToConfirmedMs } from "../lib/order-runs.ts";
import { PLACE_ORDER_PATH, platformOrderJson } from "../lib/place-order.ts";
import { startCpuMeter } from "../lib/procs.ts";
import { requireServed } from "../lib/served.ts";
import { type LatencySummary, round, sleep, summarize } from "../lib/stats.ts";
import { platformCpuGroups } from "./platform.ts";

export interface CapacityRun {
  rate: number;
  seconds: number;
  placed: number;
  /** Orders still PENDING or CANCELLING when the wait ended. */
  notTerminal: number;
  /** From the first PlaceOrder to the last order reaching an end. */
  elapsedMs: number;
  /** placed -> CONFIRMED from the orders database's own status history (both times written by orders). */
  placedToConfirmed: LatencySummary;
  /** CPU per order by process, ms, idle use subtracted; total over every process. */
  cpuMsPerOrder: Record<string, number>;
  cpuMsPerOrderTotal: number;
  machineBusy: number;
}

export interface CapacityResult {
  cores: number;
  /** CPU each process used per second with no orders flowing (polls, heartbeats), percent of a core. */
  idle: Record<string, number>;
  /** 10 s windows measured until the idle use settled (work left by an earlier phase dies down). */
  idleWindows?: number;
  runs: CapacityRun[];
  /** cores x 1000 / CPU ms per order of the slowest-rate run: the most orders per second this machine could complete. */
  ceilingPerSec: number;
}

/**
 * What one order costs: orders at rates the platform keeps up with, every
 * order run to its end, CPU of every process metered from the first
 * placement to the last end (its idle use subtracted) and divided by the
 * orders. The cost per order bounds the sustainable rate on this machine,
 * whatever the latency target: cores / cost.
 */
export async function runCapacity(
  quick: boolean,
  runId: string,
  platform: Platform,
  cores: number,
  log: (line: string) => void,
  /** The rates and their seconds; by default issue 15's 10/s (and, in full runs, the gentler 5/s first). */
  rates?: readonly { rate: number; seconds: number }[],
): Promise<CapacityResult> {
  const groups = platformCpuGroups(platform);

  log("capacity: idle CPU of every process (10 s windows with no orders, until it settles)");
  const { idle, idleWindows } = await settledIdle(groups);

  // Olivia (ops) sets the stock and places the orders for many customers.
  const ops = await benchCaller("olivia", "orders");

  const poster = createPoster(platform.urls.orders);
  const runs: CapacityRun[] = [];
  // Quick runs measure issue 15's rate only (10/s); full runs also the gentler 5/s.
  const plan =
    rates ??
    (quick
      ? [{ rate: 10, seconds: 20 }]
      : [
          { rate: 5, seconds: 60 },
          { rate: 10, seconds: 60 },
        ]);
  try {
    for (const { rate, seconds } of plan) {
      const sku = `BENCH-CAP-${runId}-${rate}`.toUpperCase();
      await stockBenchSku(platform, sku);
      log(`capacity: ${rate} orders/s for ${seconds} s, then until every order has ended`);
      const meter = startCpuMeter(groups);
      const started = Date.now();
      const placement = await openLoop({
        rate,
        durationMs: seconds * 1000,
        send: async (i) => {
          const body = platformOrderJson(`bench-cap-${runId}-${rate}-${i}`, sku, i);
          await poster.post(PLACE_ORDER_PATH, body, "application/json", ops.headers);
        },
      });
      requireServed(`capacity placement at ${rate}/s`, placement);
      const notTerminal = await awaitRoundEnded(platform, sku, 180_000);
      const elapsedMs = Date.now() - started;
      const cpu = meter.stop();
      const latencies = await placedToConfirmedMs(platform, sku);
      const placed = placement.ok;
      const cpuMsPerOrder: Record<string, number> = {};
      let total = 0;
      for (const [name, percent] of Object.entries(cpu.groups)) {
        const used = Math.max(0, percent - (idle[name] ?? 0));
        const perOrder = placed > 0 ? ((used / 100) * elapsedMs) / placed : 0;
        cpuMsPerOrder[name] = round(perOrder, 1);
        total += perOrder;
      }
      runs.push({
        rate,
        seconds,
        placed,
        notTerminal,
        elapsedMs,
        placedToConfirmed: summarize(latencies),
        cpuMsPerOrder,
        cpuMsPerOrderTotal: round(total, 1),
        machineBusy: cpu.machineBusy,
      });
    }
  } finally {
    poster.close();
  }
  const base = runs[0];
  return {
    cores,
    idle,
    idleWindows,
    runs,
    ceilingPerSec:
      base && base.cpuMsPerOrderTotal > 0 ? round((cores * 1000) / base.cpuMsPerOrderTotal, 1) : 0,
  };
}

/**
 * Idle use, measured only once the platform is idle: a phase before this one
 * (15,000 webhooks) leaves notifications, PostgreSQL and RabbitMQ busy for a
 * while, and an idle reading taken then is subtracted from every process's
 * use under load, which clamps their cost per order to 0. Windows of 10 s
 * until one uses no less than 90 % of the one before, at most 9. This only
 * helps when that work dies down; work going on at a steady rate (retried
 * deliveries) passes as idle, and the report flags what it clamped.
 */
async function settledIdle(
  groups: Record<string, () => number[]>,
): Promise<{ idle: Record<string, number>; idleWindows: number }> {
  const sum = (g: Record<string, number>) => Object.values(g).reduce((a, b) => a + b, 0);
  let previous: Record<string, number> | undefined;
  for (let window = 1; ; window++) {
    const meter = startCpuMeter(groups);
    await sleep(10_000);
    const idle = meter.stop().groups;
    if ((previous && sum(idle) >= 0.9 * sum(previous)) || window === 9) return { idle, idleWindows: window };
    previous = idle;
  }
}
