import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The project's own state (caches, data, logs, reports): ACCORD_HOME, as infra/env.sh sets it, else .accord. */
export const accordHome = () => process.env.ACCORD_HOME || path.join(ROOT, ".accord");
/** Where the project's processes keep pid files and such (ACCORD_HOME/run). */
export const runDir = () => path.join(accordHome(), "run");

/** The simulated external parties: they live in simulators/, the services in services/. */
const SIMULATORS = new Set(["payment-provider", "carrier", "smtp-sink"]);

/** The entry point of a service or simulator, relative to the repository root. */
export function entryPoint(name: string): string {
  return `${SIMULATORS.has(name) ? "simulators" : "services"}/${name}/src/main.ts`;
}

export interface ServiceProcess {
  url: string;
  port: number;
  output: () => string;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/*
 * Ports handed to a child process are chosen here and bound by the child
 * seconds later. A port from the kernel's ephemeral range could meanwhile
 * become the source port of any outgoing connection on the machine (a CI run
 * lost catalog to EADDRINUSE on 127.0.0.1:34827 that way), so they come from
 * below that range instead, and each vitest worker draws from its own slice so
 * two workers never hand out the same port.
 */

/** An inclusive range of ports. */
export interface PortSlice {
  first: number;
  last: number;
}

/** Lowest port handed out: above the infrastructure's fixed ports below it (5432, 9092, 19092-19096...). */
const HANDOFF_FLOOR = 20_000;
/** Slices the hand-off range is cut into; more than the integration project's workers. */
const HANDOFF_SLICES = 8;

/**
 * The slice of [HANDOFF_FLOOR, ephemeralFirst) that worker `poolId` uses
 * (poolId 0 for a process outside vitest, such as the bench), or undefined
 * when the kernel's ephemeral range leaves too little room below it.
 */
export function handoffSlice(ephemeralFirst: number, poolId: number): PortSlice | undefined {
  const size = Math.floor((ephemeralFirst - HANDOFF_FLOOR) / HANDOFF_SLICES);
  if (size < 64) return undefined;
  const index = ((poolId % HANDOFF_SLICES) + HANDOFF_SLICES) % HANDOFF_SLICES;
  const first = HANDOFF_FLOOR + index * size;
  return { first, last: first + size - 1 };
}

/** The first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range). */
function ephemeralFirst(): number {
  try {
    const first = Number.parseInt(
      readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0] ?? "",
      10,
    );
    if (Number.isInteger(first)) return first;
  } catch {
    // Not Linux: the IANA dynamic range, which is what other kernels default to.
  }
  return 49_152;
}

let handoff: { slice: PortSlice; next: number } | null | undefined;

/** Binds `port` on 127.0.0.1 (0: one the kernel picks) and closes it again: the port bound, or undefined when it is taken. */
function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      const bound = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A TCP port on loopback that is free now and that no other caller in this
 * worker, nor any other worker, is handed. On a kernel whose ephemeral range
 * leaves no room below it, the kernel's own pick (racy as described above).
 */
export async function freePort(): Promise<number> {
  if (handoff === undefined) {
    const slice = handoffSlice(ephemeralFirst(), Number.parseInt(process.env.VITEST_POOL_ID ?? "0", 10) || 0);
    // A random start, so a worker that runs a second file does not retry the ports its first file's processes may still hold.
    handoff =
      slice === undefined
        ? null
        : { slice, next: slice.first + Math.floor(Math.random() * (slice.last - slice.first + 1)) };
  }
  if (handoff === null) {
    const port = await tryListen(0);
    if (port === undefined) throw new Error("no free port on 127.0.0.1");
    return port;
  }
  const { slice } = handoff;
  for (let tried = 0; tried <= slice.last - slice.first; tried++) {
    const port = handoff.next;
    handoff.next = port === slice.last ? slice.first : port + 1;
    if ((await tryListen(port)) !== undefined) return port;
  }
  throw new Error(`no free port left in ${slice.first}-${slice.last}`);
}

/**
 * Runs a service's real entry point as its own process, the way the platform
 * does (plain Node, which strips the types itself), and waits until its
 * /readyz answers 200.
 */
export async function startServiceProcess(
  entry: string,
  env: Record<string, string>,
  port: number,
  timeoutMs = 30_000,
): Promise<ServiceProcess> {
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, entry)], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so a SIGKILL reaches whatever the service started too.
    detached: true,
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const killGroup = () => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  };
  const url = `http://127.0.0.1:${port}`;
  // Not vi.waitFor: bench/ and chaos/ start processes through this module outside vitest.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}:\n${output}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      killGroup();
      throw new Error(`${entry} not ready after ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    port,
    output: () => output,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGTERM/SIGINT go to the service itself, which shuts down and exits
        // with its own code; SIGKILL goes to the whole group.
        if (signal === "SIGKILL") killGroup();
        else child.kill(signal);
      }
      return exited;
    },
  };
}
