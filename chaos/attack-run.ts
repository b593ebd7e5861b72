/**
 * npm run attack [-- --short] [--only findings,internal,tokens,reflection,kafka,broker]
 *
 * Starts a private platform (real services, real tokens from the realm) and
 * attacks it: the findings of issue 10, forged and expired tokens, every
 * internal RPC as a customer, reflection, Kafka without the right principal,
 * Pact Broker writes without the release role. Exits 1 when any case is not
 * denied as expected. Writes reports/attack/report.{md,json}
 * (short-report.* with --short); a run with --only writes no report, since
 * it is not the whole suite.
 */
import { infraDefaults } from "./env.ts";
import { writeRunReport } from "./report-file.ts";

infraDefaults();
const { formatAttack, GROUPS, runAttack } = await import("./attack.ts");
type Group = (typeof GROUPS)[number];

const volume = process.argv.includes("--short") ? "short" : "full";
const onlyAt = process.argv.indexOf("--only");
const only = onlyAt < 0 ? undefined : (process.argv[onlyAt + 1] ?? "").split(",").filter(Boolean);
const unknown = (only ?? []).filter((g) => !(GROUPS as readonly string[]).includes(g));
if (only !== undefined && (only.length === 0 || unknown.length > 0)) {
  console.error(
    `--only takes a comma-separated list of ${GROUPS.join(", ")}; got "${process.argv[onlyAt + 1] ?? ""}"`,
  );
  process.exit(2);
}
const started = new Date();
const report = await runAttack(volume, undefined, only as Group[] | undefined);
const text = formatAttack(report);
console.log(`\n${text}\n(${Math.round((Date.now() - started.getTime()) / 1000)} s)`);
if (only !== undefined) process.exit(report.ok ? 0 : 1);
const written = writeRunReport({
  folder: "attack",
  title: "Attack suite",
  command: `npm run attack${volume === "short" ? " -- --short" : ""}`,
  short: volume === "short",
  startedAt: started,
  ok: report.ok,
  text,
  data: report,
});
console.log(`report: ${written}`);
process.exit(report.ok ? 0 : 1);
