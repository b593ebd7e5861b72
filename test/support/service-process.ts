import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

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

/** A free TCP port on loopback, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
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
