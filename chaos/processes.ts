import { readdirSync, readFileSync } from "node:fs";

/**
 * Finds the OS processes of one service of one platform: every process whose
 * command line runs services/<name>/src/main.ts and whose environment carries
 * the platform's topic prefix. That matches both the tsx wrapper and the node
 * process it spawns (the one that really serves), and never a service of
 * another platform sharing the machine.
 *
 * Why not the ChildProcess that test/support/service-process.ts holds: it is
 * the tsx CLI, which runs the service in a child node process; a SIGKILL to
 * the wrapper cannot be relayed and leaves the real service running as an
 * orphan that still holds the port.
 */
export function servicePids(name: string, topicPrefix: string): number[] {
  const entry = `services/${name}/src/main.ts`;
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
