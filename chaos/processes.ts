import { readdirSync, readFileSync } from "node:fs";
import { entryPoint } from "#test/support/service-process.ts";

/**
 * Finds the OS processes of one service (or simulator) of one platform: every
 * process whose command line runs its entry point (entryPoint: services/ or
 * simulators/) and whose environment carries the platform's topic prefix, so
 * never a service of another platform sharing the machine. Node runs main.ts
 * itself, so that is normally one process; more means a leftover of an
 * earlier start (one still starting when startPlatform gave up) that a restart
 * must not meet on its port. Read from /proc rather than from the platform's
 * handles, which only know the last process they started and no pid.
 */
export function servicePids(name: string, topicPrefix: string): number[] {
  const entry = entryPoint(name);
  const marker = `ACCORD_TOPIC_PREFIX=${topicPrefix}`;
  const pids: number[] = [];
  for (const dir of readdirSync("/proc")) {
    if (!/^\d+$/.test(dir)) continue;
    try {
      const cmdline = readFileSync(`/proc/${dir}/cmdline`, "latin1");
      if (!cmdline.includes(entry)) continue;
      const environ = readFileSync(`/proc/${dir}/environ`, "latin1").split("\0");
      if (!environ.includes(marker)) continue;
      const stat = readFileSync(`/proc/${dir}/stat`, "latin1");
      // Field 3 (after the parenthesised command) is the state; Z = exited, not yet reaped.
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "Z") continue;
      pids.push(Number(dir));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** kill -9 every process of the service; resolves once none is left. */
export async function killService(name: string, topicPrefix: string, timeoutMs = 10_000): Promise<number[]> {
  const pids = servicePids(name, topicPrefix);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (servicePids(name, topicPrefix).length > 0) {
    if (Date.now() > deadline) throw new Error(`${name} still running after kill -9 of ${pids.join(",")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return pids;
}
