/**
 * npm run chaos [-- --short] [--rate <orders per second>] [--check]
 *
 * --check only loads the run and fetches its callers' tokens (olivia, alice,
 * bob from the development realm), then exits: a seconds-long smoke check.
 *
 * Starts a private platform (test/support/platform.ts), loads it with orders
 * while it kill -9s services and restarts the infrastructure, then checks the
 * invariants; exits 1 on any violation. Writes reports/chaos/report.md
 * (short-report.md with --short). The infrastructure is the one named by
 * PGHOST/PGPORT, KAFKA_BROKERS, AMQP_URL, TEMPORAL_ADDRESS (defaults: infra/env.sh),
 * restarted with infra/infra.sh.
 */
import { infraDefaults } from "./env.ts";
import { writeRunReport } from "./report-file.ts";

infraDefaults();
const { FULL, SHORT, checkIdentities, formatReport, runChaos } = await import("./chaos.ts");

const USAGE = "usage: npm run chaos -- [--short] [--rate <orders per second>] [--check]";
const args = process.argv.slice(2);
if (args.includes("--help")) {
  console.log(USAGE);
  process.exit(0);
}
if (args.includes("--check")) {
  await checkIdentities((line) => console.log(line));
  process.exit(0);
}
const short = args.includes("--short");
const rateAt = args.indexOf("--rate");
const rate = rateAt >= 0 ? Number(args[rateAt + 1]) : undefined;
if (rate !== undefined && !(rate > 0)) {
  console.error(USAGE);
  process.exit(2);
}
const options = { ...(short ? SHORT : FULL) };
if (rate !== undefined) options.ratePerSecond = rate;
const started = new Date();
const report = await runChaos(options);
const text = formatReport(report);
console.log(`\n${text}\n(${Math.round((Date.now() - started.getTime()) / 1000)} s)`);
const written = writeRunReport({
  folder: "chaos",
  title: "Chaos run",
  command: `npm run chaos${args.length ? ` -- ${args.join(" ")}` : ""}`,
  short,
  startedAt: started,
  ok: report.ok,
  text,
  data: { options: { ...options, log: undefined }, report },
});
console.log(`report: ${written}`);
process.exit(report.ok ? 0 : 1);
