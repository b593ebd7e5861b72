// Checks docker-compose.yml without Docker (none runs on these machines):
// the YAML parses (anchors and merge keys resolved as compose does), and
//   - every service of the default stack (no profiles) depends on, and shares
//     a network namespace with, default services only, so `docker compose up`
//     without a profile starts what it did before;
//   - the production profile has three Kafka nodes with distinct ids and
//     ports, replication factor 3, min.insync.replicas 2 and a quorum of the
//     three; two replicas of every service but the console (one) behind HAProxy;
//   - every depends_on and network_mode target and every named volume exists;
//   - every published port is bound to 127.0.0.1;
//   - each service's environment (${VAR:-default} taken at its default)
//     passes that service's own config loaders (scripts/check-manifest-config.ts).
//   node scripts/check-compose.ts [docker-compose.yml]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { checkServiceEnv, serviceOfImage } from "./check-manifest-config.ts";

interface ComposeService {
  profiles?: string[];
  image?: string;
  build?: unknown;
  depends_on?: string[] | Record<string, unknown>;
  network_mode?: string;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { host_ip?: string; published?: string | number })[];
  volumes?: (string | { type?: string; source?: string })[];
  deploy?: { replicas?: number };
}
interface ComposeFile {
  services?: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const REPLICATED = [
  "catalog",
  "orders",
  "inventory",
  "payments",
  "shipping",
  "notifications",
  "orchestrator",
];
const KAFKA_NODES = ["kafka-1", "kafka-2", "kafka-3"];

/** "${NAME:-default}" and "${NAME-default}" to their default, "$$" to "$": what compose gives with nothing set. */
function interpolate(value: string): string {
  return value
    .split("$$")
    .map((part) => part.replace(/\$\{[A-Z0-9_]+:?-([^}]*)\}/g, "$1"))
    .join("$");
}

function environmentOf(service: ComposeService): Map<string, string> {
  const env = new Map<string, string>();
  const entries = Array.isArray(service.environment)
    ? service.environment.map((line) => line.split(/=(.*)/s, 2) as [string, string])
    : Object.entries(service.environment ?? {});
  for (const [key, value] of entries) {
    if (value !== null && value !== undefined) env.set(key, interpolate(String(value)));
  }
  return env;
}

const dependencies = (s: ComposeService) =>
  Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
const sharedNamespace = (s: ComposeService) => /^service:(.+)$/.exec(s.network_mode ?? "")?.[1];

async function main(): Promise<number> {
  const file = process.argv[2] ?? fileURLToPath(new URL("../docker-compose.yml", import.meta.url));
  let compose: ComposeFile;
  try {
    compose = parse(readFileSync(file, "utf8"), { merge: true }) as ComposeFile;
  } catch (error) {
    console.error(`[check-compose] ${file} does not parse: ${(error as Error).message}`);
    return 1;
  }
  const services = compose.services ?? {};
  const problems: string[] = [];
  const isProduction = (s: ComposeService | undefined) => s?.profiles?.includes("production") ?? false;
  const isDefault = (s: ComposeService | undefined) => s !== undefined && (s.profiles ?? []).length === 0;

  for (const [name, s] of Object.entries(services)) {
    for (const target of [...dependencies(s), sharedNamespace(s)].filter(
      (t): t is string => t !== undefined,
    )) {
      if (!(target in services)) problems.push(`${name}: depends on or joins ${target}, which is no service`);
      else if (isDefault(s) && !isDefault(services[target]))
        problems.push(`${name} (default stack) depends on or joins ${target}, which is only in a profile`);
    }
    if (!s.image && !s.build) problems.push(`${name}: neither an image nor a build`);
    for (const port of s.ports ?? []) {
      const hostIp =
        typeof port === "string" ? port.split(":").length === 3 && port.split(":")[0] : port.host_ip;
      if (isProduction(s) && hostIp !== "127.0.0.1")
        problems.push(`${name}: port ${JSON.stringify(port)} is not bound to 127.0.0.1`);
    }
    for (const volume of s.volumes ?? []) {
      const source = typeof volume === "string" ? volume.split(":")[0] : volume.source;
      if (source && !/^[./~]/.test(source) && !(source in (compose.volumes ?? {})))
        problems.push(`${name}: volume ${source} is not declared under volumes`);
    }
  }

  // Kafka: three nodes of one static quorum, RF 3, min.insync 2.
  const ids = new Set<string>();
  const ports = new Set<string>();
  for (const node of KAFKA_NODES) {
    const s = services[node];
    if (!isProduction(s)) {
      problems.push(`${node}: missing from the production profile`);
      continue;
    }
    const env = environmentOf(s as ComposeService);
    ids.add(env.get("KAFKA_NODE_ID") ?? "");
    ports.add(env.get("KAFKA_PORT") ?? "").add(env.get("KAFKA_CONTROLLER_PORT") ?? "");
    if (env.get("KAFKA_REPLICATION_FACTOR") !== "3")
      problems.push(`${node}: KAFKA_REPLICATION_FACTOR is not 3`);
    if (env.get("KAFKA_MIN_INSYNC_REPLICAS") !== "2")
      problems.push(`${node}: KAFKA_MIN_INSYNC_REPLICAS is not 2`);
    const voters = (env.get("KAFKA_CONTROLLER_QUORUM_VOTERS") ?? "").split(",").filter(Boolean);
    if (voters.length !== 3)
      problems.push(`${node}: the controller quorum lists ${voters.length} voters, not 3`);
  }
  if (ids.size !== 3)
    problems.push(`the Kafka nodes' ids are not three distinct ones: ${[...ids].join(", ")}`);
  if (ports.size !== 6)
    problems.push("the Kafka nodes' client and controller ports are not six distinct ones");

  // The services: two replicas each but the console; HAProxy in front.
  if (!isProduction(services.haproxy)) problems.push("haproxy: missing from the production profile");
  let checked = 0;
  for (const [name, s] of Object.entries(services)) {
    if (!isProduction(s)) continue;
    const service = serviceOfImage(s.image);
    if (service === undefined) continue;
    const replicas = s.deploy?.replicas ?? 1;
    if (REPLICATED.includes(service) && replicas !== 2) problems.push(`${name}: ${replicas} replicas, not 2`);
    for (const p of await checkServiceEnv(service, environmentOf(s))) problems.push(`${name}: ${p}`);
    checked++;
  }
  for (const service of [...REPLICATED, "console"]) {
    if (!Object.values(services).some((s) => isProduction(s) && s.image === `accord/${service}`))
      problems.push(`${service}: not in the production profile`);
  }

  for (const p of problems) console.error(`[check-compose] ${p}`);
  const defaults = Object.values(services).filter(isDefault).length;
  const production = Object.values(services).filter(isProduction).length;
  console.log(
    `[check-compose] ${defaults} default and ${production} production services parsed, ${checked} service environments checked against their config schemas, ${problems.length} problems`,
  );
  return problems.length === 0 ? 0 : 1;
}

process.exitCode = await main();
