import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { kafkaPasswordFor } from "#lib/messaging/kafka.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The infrastructure endpoints for the command-line runners, with the same
 * variables and defaults as infra/env.sh (vitest's global setup sets them for
 * the tests), and the run's Kafka principal: `chaos` unless KAFKA_USERNAME says
 * otherwise (ACLs on the sandbox prefixes only, infra/kafka/acl-table.ts); the
 * processes a run starts inherit it.
 */
export function infraDefaults(): void {
  const env = process.env;
  env.KAFKA_USERNAME ||= "chaos";
  env.KAFKA_PASSWORD ||= kafkaPasswordFor(env.KAFKA_USERNAME);
  env.PGHOST ||= "127.0.0.1";
  env.PGPORT ||= "5432";
  env.PGUSER ||= "accord";
  env.PGPASSWORD ||= "accord";
  env.KAFKA_BROKERS ||= `${env.KAFKA_HOST || "127.0.0.1"}:${env.KAFKA_PORT || "9092"}`;
  env.AMQP_URL ||= `amqp://${env.RABBITMQ_USER || "accord"}:${env.RABBITMQ_PASSWORD || "accord"}@${env.RABBITMQ_HOST || "127.0.0.1"}:${env.RABBITMQ_PORT || "5672"}`;
  env.TEMPORAL_ADDRESS ||= `${env.TEMPORAL_HOST || "127.0.0.1"}:${env.TEMPORAL_PORT || "7233"}`;
}

/** The variables infra/env.sh gives other values in the production topology. */
const PRODUCTION_VARIABLES = [
  "KAFKA_PORT",
  "KAFKA_CONTROLLER_PORT",
  "KAFKA_BROKERS",
  "TEMPORAL_PORT",
  "TEMPORAL_UI_PORT",
  "TEMPORAL_ADDRESS",
] as const;

/**
 * Points this process (and so the platform it starts, and the infra.sh calls
 * it makes) at the production topology's Kafka cluster and Temporal server:
 * ACCORD_TOPOLOGY=production and the addresses infra/env.sh gives it, read
 * from that file, so the ports are written down once. A shell that sourced
 * env.sh for development exports the development ports; those are dropped
 * first, unless the shell already said production. Call before infraDefaults.
 */
export function productionInfra(): Record<(typeof PRODUCTION_VARIABLES)[number], string> {
  const env = { ...process.env };
  if (env.ACCORD_TOPOLOGY !== "production") for (const name of PRODUCTION_VARIABLES) delete env[name];
  env.ACCORD_TOPOLOGY = "production";
  const print = PRODUCTION_VARIABLES.map((name) => `"${name}=$${name}"`).join(" ");
  const out = spawnSync(
    "bash",
    ["-c", `source infra/env.sh && export_client_addresses && printf '%s\\n' ${print}`],
    {
      cwd: ROOT,
      env,
      encoding: "utf8",
    },
  );
  if (out.status !== 0) throw new Error(`infra/env.sh (production) failed: ${out.stderr.trim()}`);
  const values = {} as Record<(typeof PRODUCTION_VARIABLES)[number], string>;
  for (const line of out.stdout.split("\n")) {
    const at = line.indexOf("=");
    const name = line.slice(0, at) as (typeof PRODUCTION_VARIABLES)[number];
    if (at > 0 && PRODUCTION_VARIABLES.includes(name)) values[name] = line.slice(at + 1);
  }
  for (const name of PRODUCTION_VARIABLES) {
    if (!values[name]) throw new Error(`infra/env.sh (production) gave no ${name}`);
    process.env[name] = values[name];
  }
  process.env.ACCORD_TOPOLOGY = "production";
  return values;
}
