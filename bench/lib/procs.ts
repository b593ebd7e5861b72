import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** The process listening on a local TCP port: a service started through test/support, or an infrastructure server. */
export function pidOnPort(port: number): number | undefined {
  const out = execFileSync("ss", ["-ltnpH", `sport = :${port}`]).toString();
  const match = /pid=(\d+)/.exec(out);
  return match ? Number(match[1]) : undefined;
}

function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Pids whose command line matches, e.g. every postgres backend. */
export function pidsMatching(test: (cmdline: string, comm: string) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
      const comm = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      if (test(cmdline, comm)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

const portOf = (address: string | undefined, fallback: number) => {
  const port = Number(address?.split(",")[0]?.split(":").at(-1));
  return Number.isFinite(port) && port > 0 ? port : fallback;
};

/**
 * The infrastructure this bench talks to, found by the ports it uses (other
 * copies of Kafka or Temporal on the machine are not counted). PostgreSQL is
 * the postmaster plus its children, the backends serving every connection.
 */
export const INFRA_GROUPS: Record<string, () => number[]> = {
  postgres: () => {
    const master = pidOnPort(Number(process.env.PGPORT ?? 5432));
    if (!master) return [];
    return [
      master,
      ...pidsMatching((_c, comm) => comm.startsWith("postgres")).filter((p) => parentOf(p) === master),
    ];
  },
  // Every broker of the list: one in development, three in the production topology.
  kafka: () =>
    (process.env.KAFKA_BROKERS ?? "127.0.0.1:9092")
      .split(",")
      .map((broker) => pidOnPort(portOf(broker, 9092)))
      .filter((p): p is number => p !== undefined),
  rabbitmq: () => listenerOf(Number(new URL(process.env.AMQP_URL ?? "amqp://x:5672").port || 5672)),
  temporal: () => listenerOf(portOf(process.env.TEMPORAL_ADDRESS, 7233)),
  // Tracing as shipped sends every span to Zipkin: ingesting them is part of an order's cost.
  zipkin: () => listenerOf(portOf(process.env.ZIPKIN_PORT, 9411)),
  // Services check tokens locally against cached keys; Keycloak's own use still counts.
  keycloak: () => listenerOf(portOf(process.env.KEYCLOAK_PORT, 8180)),
  prometheus: () => listenerOf(portOf(process.env.PROMETHEUS_PORT, 9090)),
};

function listenerOf(port: number): number[] {
  const pid = pidOnPort(port);
  return pid === undefined ? [] : [pid];
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

export interface CpuReading {
  /** Percent of one core per group (200 = both cores of a 2-core machine). */
  groups: Record<string, number>;
  /** Percent of the whole machine busy. */
  machineBusy: number;
}

/**
 * CPU used per group of processes between start and stop, from /proc. Pids
 * are looked up again at stop, so processes born meanwhile (a new postgres
 * backend) count from zero.
 */
export function startCpuMeter(groups: Record<string, () => number[]>) {
  const t0 = Date.now();
  const m0 = machineTicks();
  const before = new Map<number, number>();
  for (const find of Object.values(groups))
    for (const pid of find()) {
      const ticks = cpuTicks(pid);
      if (ticks !== undefined) before.set(pid, ticks);
    }
  return {
    stop(): CpuReading {
      const seconds = (Date.now() - t0) / 1000;
      const m1 = machineTicks();
      const out: Record<string, number> = {};
      for (const [name, find] of Object.entries(groups)) {
        let ticks = 0;
        for (const pid of find()) {
          const now = cpuTicks(pid);
          if (now !== undefined) ticks += now - (before.get(pid) ?? 0);
        }
        out[name] = Math.round((ticks / TICKS_PER_SECOND / seconds) * 1000) / 10;
      }
      const machineBusy =
        m1.total > m0.total ? Math.round(((m1.busy - m0.busy) / (m1.total - m0.total)) * 1000) / 10 : 0;
      return { groups: out, machineBusy };
    },
  };
}

export interface Target {
  port: number;
  pid: number | undefined;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Runs one of bench/targets/*.ts as its own plain Node process (Node strips the
 * types itself), so the child is the server; it prints "LISTENING <port>" when ready.
 */
export async function startTarget(file: string, env: Record<string, string>): Promise<Target> {
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, "bench/targets", file)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start:\n${output}`)), 30_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      const match = /LISTENING (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${code}:\n${output}`));
    });
  });
  return {
    port,
    pid: child.pid,
    output: () => output,
    stop: () => stopChild(child, "SIGTERM", 10_000),
  };
}

/**
 * Sends `signal` and waits for the child to exit, killing it after `graceMs`.
 * The fallback timer is cleared on exit, so it never holds the bench open.
 */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const fallback = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(fallback);
      resolve();
    });
    child.kill(signal);
  });
}
