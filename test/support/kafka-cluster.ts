import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { groupCoordinator } from "../../infra/production/kafka/cluster.ts";
import { ROOT, runDir } from "./service-process.ts";
import { tcpAnswers } from "./tcp.ts";

/**
 * The production topology's three Kafka nodes (infra/production/kafka-cluster.sh),
 * for chaos runs: which are running, kill -9 of one by its pid file, and the
 * restart, which is `ACCORD_TOPOLOGY=production bash infra/infra.sh up kafka`
 * (it starts only the nodes that do not answer and waits until the cluster
 * lists all three as live brokers again).
 */

export const CLUSTER_NODES = [1, 2, 3] as const;
export type ClusterNode = (typeof CLUSTER_NODES)[number];

/** Where infra.sh keeps node n's pid. */
export function brokerPidFile(n: ClusterNode): string {
  return path.join(runDir(), `kafka-broker-${n}.pid`);
}

/** Node n's client listener with infra/env.sh's production ports: 127.0.0.1:19092, :19094, :19096. */
export function brokerAddress(n: ClusterNode): string {
  return `127.0.0.1:${19092 + 2 * (n - 1)}`;
}

/** True while the process exists and has not exited (a zombie is gone for our purposes). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function pidOf(n: ClusterNode): number | undefined {
  try {
    const pid = Number(readFileSync(brokerPidFile(n), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && running(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of every node that runs, by node id; a node that is down has none. */
export function brokerPids(): Partial<Record<ClusterNode, number>> {
  const pids: Partial<Record<ClusterNode, number>> = {};
  for (const n of CLUSTER_NODES) {
    const pid = pidOf(n);
    if (pid !== undefined) pids[n] = pid;
  }
  return pids;
}

/**
 * kill -9 of node n (by its pid file); resolves with the pid once the process
 * is gone and its client port refuses connections. The port is waited for too:
 * a killed JVM's main thread is a zombie while its other threads still hold
 * the sockets, and infra.sh reuses a node whose port answers.
 */
export async function killBroker(n: ClusterNode, timeoutMs = 10_000): Promise<number> {
  const pid = pidOf(n);
  if (pid === undefined)
    throw new Error(`kafka node ${n} is not running (no live pid in ${brokerPidFile(n)})`);
  process.kill(pid, "SIGKILL");
  const deadline = Date.now() + timeoutMs;
  while (running(pid) || (await tcpAnswers(brokerAddress(n)))) {
    if (Date.now() > deadline) throw new Error(`kafka node ${n} (pid ${pid}) still running after kill -9`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return pid;
}

/**
 * `ACCORD_TOPOLOGY=production bash infra/infra.sh up kafka`: starts every
 * node that does not answer, provisions users and ACLs, and returns (with its
 * output) once all three are live brokers. The port variables of the
 * development broker are left out, so infra/env.sh's production ports apply.
 */
export function restartCluster(timeoutMs = 420_000): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, ACCORD_TOPOLOGY: "production" };
  for (const name of ["KAFKA_HOST", "KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "KAFKA_BROKERS"]) delete env[name];
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [path.join(ROOT, "infra/infra.sh"), "up", "kafka"],
      { cwd: ROOT, env, timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`infra.sh up kafka failed: ${error.message}\n${stdout}${stderr}`));
        else resolve(`${stdout}${stderr}`);
      },
    );
  });
}

/** Brings node n back (restartCluster) and checks that it runs again; resolves with its new pid. */
export async function startBroker(n: ClusterNode, timeoutMs?: number): Promise<number> {
  const output = await restartCluster(timeoutMs);
  const pid = pidOf(n);
  if (pid === undefined)
    throw new Error(`kafka node ${n} is not running after infra.sh up kafka:\n${output}`);
  return pid;
}

/** The node coordinating a consumer group now (infra/production/kafka/cluster.ts, asked on the three nodes). */
export async function coordinatorNode(groupId: string): Promise<ClusterNode> {
  const brokers = CLUSTER_NODES.map((n) => brokerAddress(n)).join(",");
  const id = await groupCoordinator(groupId, { ...process.env, KAFKA_BROKERS: brokers });
  const node = CLUSTER_NODES.find((n) => n === id);
  if (node === undefined) throw new Error(`group ${groupId}: coordinator ${id} is not a node of the cluster`);
  return node;
}
