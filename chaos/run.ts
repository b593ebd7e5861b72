/**
 * npm run chaos [-- --short] [--rate <orders per second>] [--topology=production] [--check]
 *
 * --check only loads the run and fetches its callers' tokens (olivia, alice,
 * bob from the development realm), then exits: a seconds-long smoke check
 * (with --topology=production it also checks that the production Kafka
 * cluster and Temporal server answer).
 *
 * Starts a private platform (test/support/platform.ts), loads it with orders
 * while it kill -9s services and restarts the infrastructure, then checks the
 * invariants; exits 1 on any violation. Writes reports/chaos/report.md
 * (short-report.md with --short). The infrastructure is the one named by
 * PGHOST/PGPORT, KAFKA_BROKERS, AMQP_URL, TEMPORAL_ADDRESS (defaults: infra/env.sh),
 * restarted with infra/infra.sh.
 *
 * --topology=production runs on the production topology's three Kafka brokers
 * and Temporal server (ports from infra/env.sh with ACCORD_TOPOLOGY=production;
 * start them with `ACCORD_TOPOLOGY=production bash infra/infra.sh up kafka` and
 * `... up temporal`), two replicas of every service, and its own faults
 * (chaos/production.ts); writes reports/chaos/production-report.md
 * (production-short-report.md with --short).
 */
import { productionInfra } from "#test/support/production-infra.ts";
import { infraDefaults } from "./env.ts";
import { writeRunReport } from "./report-file.ts";

const USAGE =
  "usage: npm run chaos -- [--short] [--rate <orders per second>] [--topology=development|production] [--check]";
const args = process.argv.slice(2);
if (args.includes("--help")) {
  console.log(USAGE);
  process.exit(0);
}
const topologyAt = args.findIndex((a) => a === "--topology" || a.startsWith("--topology="));
const topologyArg = args[topologyAt] ?? "";
const topology =
  topologyAt < 0
    ? "development"
    : topologyArg.includes("=")
      ? topologyArg.slice(topologyArg.indexOf("=") + 1)
      : args[topologyAt + 1];
if (topology !== "development" && topology !== "production") {
  console.error(USAGE);
  process.exit(2);
}
const production = topology === "production";
// Before infraDefaults and before the runner loads: both read these variables.
if (production) productionInfra();
infraDefaults();
const { FULL, SHORT, checkIdentities, formatReport, runChaos } = await import("./chaos.ts");

if (args.includes("--check")) {
  const log = (line: string) => console.log(line);
  await checkIdentities(log);
  if (production) {
    try {
      await (await import("./production.ts")).checkProductionInfra(log);
    } catch (error) {
      console.error(`[chaos] ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    }
  }
  process.exit(0);
}
const short = args.includes("--short");
const rateAt = args.indexOf("--rate");
const rate = rateAt >= 0 ? Number(args[rateAt + 1]) : undefined;
if (rate !== undefined && !(rate > 0)) {
  console.error(USAGE);
  process.exit(2);
}
const started = new Date();
const command = `npm run chaos${args.length ? ` -- ${args.join(" ")}` : ""}`;
const seconds = () => Math.round((Date.now() - started.getTime()) / 1000);
/** Prints the run's table, writes its report file and exits with its verdict. */
function finish(run: { title: string; base?: string; ok: boolean; text: string; data: unknown }): never {
  console.log(`\n${run.text}\n(${seconds()} s)`);
  const written = writeRunReport({
    folder: "chaos",
    title: run.title,
    command,
    short,
    ...(run.base === undefined ? {} : { base: run.base }),
    startedAt: started,
    ok: run.ok,
    text: run.text,
    data: run.data,
  });
  console.log(`report: ${written}`);
  process.exit(run.ok ? 0 : 1);
}
if (production) {
  const { PRODUCTION, PRODUCTION_SHORT, formatProductionReport, runProductionChaos } = await import(
    "./production.ts"
  );
  const options = { ...(short ? PRODUCTION_SHORT : PRODUCTION) };
  if (rate !== undefined) options.ratePerSecond = rate;
  const report = await runProductionChaos(options);
  finish({
    title: "Chaos run, production topology",
    base: short ? "production-short-report" : "production-report",
    ok: report.ok,
    text: formatProductionReport(report),
    data: { options: { ...options, log: undefined }, report },
  });
}
const options = { ...(short ? SHORT : FULL) };
if (rate !== undefined) options.ratePerSecond = rate;
const report = await runChaos(options);
finish({
  title: "Chaos run",
  ok: report.ok,
  text: formatReport(report),
  data: { options: { ...options, log: undefined }, report },
});
