// Checks what kustomize built (one overlay's YAML, on stdin or in the file
// named) against the services' own configuration schemas: for every
// Deployment container that runs a service under services/, the environment
// Kubernetes would give it (envFrom ConfigMaps, env values, ConfigMap and
// Secret references) is passed to that service's config loader and to the
// service host's (auth, tracing, front door, Kafka credentials). It fails when
// a loader refuses (a required variable missing, a bad value), when a given
// variable is read by nothing (a misspelt name), when a reference points at
// no ConfigMap or key in the output, or when the container port or listen
// address is not what the service listens on.
// A Secret that is not in the output (production: the cluster's secret store
// provides it) gets a stand-in of the right shape here, never in the manifests.
//   node scripts/check-manifest-config.ts < built.yaml
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { z } from "zod";
import { authEnv } from "#lib/auth/config.ts";
import { ConfigError, frontDoorEnv, loadConfig } from "#lib/host/config.ts";
import { kafkaAuthEnv } from "#lib/messaging/kafka.ts";
import { tracingEnv } from "#lib/observability/tracing.ts";

interface Manifest {
  kind?: string;
  metadata?: { name?: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: { template?: { spec?: { containers?: Container[] } } };
}
interface KeyRef {
  name?: string;
  key?: string;
  optional?: boolean;
}
interface Container {
  name: string;
  image?: string;
  ports?: { containerPort?: number; name?: string }[];
  envFrom?: { configMapRef?: { name?: string }; secretRef?: { name?: string } }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef };
  }[];
}

// Stand-ins for Secrets the output does not hold, shaped as each reader expects.
const SECRET_STAND_INS: Record<string, string> = {
  AMQP_URL: "amqp://stand-in:stand-in@rabbitmq:5672",
  NOTIFICATIONS_SECRET_KEY: Buffer.alloc(32).toString("base64"),
};
const STAND_IN = "stand-in";

// What the service host reads for every process (lib/host/service-host.ts hostEnv) beside the service's own.
const hostEnv = authEnv.extend({ SHUTDOWN_DEADLINE_MS: z.string().optional(), ...frontDoorEnv });

const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function main(): Promise<number> {
  const file = process.argv[2];
  const text = readFileSync(file ?? 0, "utf8");
  const manifests = parseAllDocuments(text).map((doc) => doc.toJS() as Manifest | null);
  const byKind = (kind: string) =>
    new Map(
      manifests
        .filter((m): m is Manifest => m?.kind === kind && typeof m.metadata?.name === "string")
        .map((m) => [m.metadata?.name as string, m]),
    );
  const configMaps = byKind("ConfigMap");
  const secrets = byKind("Secret");
  const problems: string[] = [];
  let checked = 0;

  for (const deployment of byKind("Deployment").values()) {
    for (const container of deployment.spec?.template?.spec?.containers ?? []) {
      const service = serviceOfImage(container.image);
      if (service === undefined) continue;
      const where = `Deployment ${deployment.metadata?.name} container ${container.name}`;
      const env = environmentOf(container, configMaps, secrets, (p) => problems.push(`${where}: ${p}`));
      const ports = (container.ports ?? []).map((p) => Number(p.containerPort));
      const found = await checkServiceEnv(service, env, ports);
      for (const p of found) problems.push(`${where}: ${p}`);
      checked++;
    }
  }
  if (checked === 0) problems.push("no Deployment runs a service under services/ (nothing was checked)");
  for (const p of problems) console.error(`[check-manifest-config] ${p}`);
  console.log(
    `[check-manifest-config] ${checked} service containers checked against their config schemas, ${problems.length} problems`,
  );
  return problems.length === 0 ? 0 : 1;
}

/** The service an image accord/<name> runs, when services/<name> exists. */
export function serviceOfImage(image: string | undefined): string | undefined {
  const match = /^accord\/([a-z-]+)(?::[\w.-]+)?$/.exec(image ?? "");
  if (!match) return undefined;
  try {
    readFileSync(`${ROOT}services/${match[1]}/src/config.ts`);
    return match[1];
  } catch {
    return undefined;
  }
}

/** The environment Kubernetes would give the container (later entries win, as in the kubelet). */
function environmentOf(
  container: Container,
  configMaps: Map<string, Manifest>,
  secrets: Map<string, Manifest>,
  problem: (text: string) => void,
): Map<string, string> {
  const env = new Map<string, string>();
  for (const source of container.envFrom ?? []) {
    const cmName = source.configMapRef?.name;
    if (cmName !== undefined) {
      const cm = configMaps.get(cmName);
      if (!cm) problem(`envFrom names ConfigMap ${cmName}, which is not in the output`);
      for (const [k, v] of Object.entries(cm?.data ?? {})) env.set(k, String(v));
    }
    if (source.secretRef?.name !== undefined)
      problem("envFrom secretRef: name each secret variable with secretKeyRef");
  }
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) {
      env.set(entry.name, String(entry.value));
      continue;
    }
    const cmRef = entry.valueFrom?.configMapKeyRef;
    if (cmRef) {
      const value = configMaps.get(cmRef.name ?? "")?.data?.[cmRef.key ?? ""];
      if (value === undefined)
        problem(`${entry.name}: ConfigMap ${cmRef.name} key ${cmRef.key} is not in the output`);
      else env.set(entry.name, String(value));
      continue;
    }
    const secretRef = entry.valueFrom?.secretKeyRef;
    if (secretRef) {
      if (!secretRef.name || !secretRef.key) {
        problem(`${entry.name}: secretKeyRef without a name or key`);
        continue;
      }
      const secret = secrets.get(secretRef.name);
      if (secret) {
        const encoded = secret.data?.[secretRef.key];
        const plain = secret.stringData?.[secretRef.key];
        if (encoded === undefined && plain === undefined) {
          problem(`${entry.name}: Secret ${secretRef.name} has no key ${secretRef.key}`);
          continue;
        }
        env.set(entry.name, plain ?? Buffer.from(encoded as string, "base64").toString("utf8"));
      } else {
        env.set(entry.name, SECRET_STAND_INS[entry.name] ?? STAND_IN);
      }
      continue;
    }
    problem(`${entry.name}: neither a value nor a ConfigMap or Secret reference`);
  }
  return env;
}

/**
 * Runs the service's loaders on the environment; returns what is wrong.
 * `declaredPorts` (the container's ports), when given, must hold the port the
 * service listens on.
 */
export async function checkServiceEnv(
  service: string,
  env: Map<string, string>,
  declaredPorts?: number[],
): Promise<string[]> {
  const record = Object.fromEntries(env);
  const problems: string[] = [];
  const module = (await import(`${ROOT}services/${service}/src/config.ts`)) as Record<string, unknown>;
  const loader = Object.entries(module).find(
    ([name, value]) => /^load\w+Config$/.test(name) && typeof value === "function",
  );
  if (!loader) return [`services/${service}/src/config.ts exports no load...Config function`];
  const known = new Set<string>(["LOG_LEVEL", "NODE_ENV"]);
  const attempt = (what: string, run: () => object) => {
    try {
      for (const key of Object.keys(run())) known.add(key);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(`${what} refuses it: ${error.message.replace(/\n\s*/g, " ")}`);
    }
  };
  attempt(`services/${service} config`, () => (loader[1] as (e: typeof record) => object)(record));
  attempt("the host's auth and front-door settings", () => loadConfig(hostEnv, record));
  attempt("the host's tracing settings", () => loadConfig(tracingEnv, record));
  // Only processes that talk to Kafka need a Kafka principal (the host builds a client for them).
  const main = readFileSync(`${ROOT}services/${service}/src/main.ts`, "utf8");
  if (main.includes("host.kafka("))
    attempt("the Kafka credentials", () => loadConfig(z.object(kafkaAuthEnv), record));
  for (const key of Object.keys(kafkaAuthEnv)) known.add(key);

  // A refusing loader returns no keys, so the names are only checked once every loader accepted.
  for (const key of problems.length === 0 ? env.keys() : []) {
    if (!known.has(key))
      problems.push(`${key} is given but read by nothing (misspelt, or not this service's)`);
  }
  const prefix = service.toUpperCase().replace(/-/g, "_");
  const port = Number(record[`${prefix}_PORT`]);
  if (declaredPorts && !declaredPorts.includes(port))
    problems.push(
      `listens on ${prefix}_PORT=${record[`${prefix}_PORT`]}, but the container declares ports ${declaredPorts.join(", ") || "none"}`,
    );
  const host = record[`${prefix}_HOST`];
  if (host !== "0.0.0.0" && host !== "::")
    problems.push(
      `${prefix}_HOST is ${host ?? "unset (127.0.0.1)"}: nothing outside its own network namespace could reach it`,
    );
  return problems;
}

// Run as a script, not when imported (scripts/check-compose.ts uses the checks above).
if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main();
