import { spawnSync } from "node:child_process";
import { ROOT } from "./service-process.ts";

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
