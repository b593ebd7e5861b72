/**
 * npm run bad-input [-- --short]
 *
 * Starts a private platform and throws malformed RPCs, poison Kafka events and
 * malformed RabbitMQ tasks at it; exits 1 on a server fault for a client
 * error, a crash, or a poison message that did not reach its dead-letter queue.
 * Writes reports/bad-input/report.md (short-report.md with --short).
 */
import { infraDefaults } from "./env.ts";
import { writeRunReport } from "./report-file.ts";

infraDefaults();
const { formatBadInput, runBadInput } = await import("./bad-input.ts");

const volume = process.argv.includes("--short") ? "short" : "full";
const started = new Date();
const report = await runBadInput(volume);
const text = formatBadInput(report);
console.log(`\n${text}\n(${Math.round((Date.now() - started.getTime()) / 1000)} s)`);
const written = writeRunReport({
  folder: "bad-input",
  title: "Bad input at volume",
  command: `npm run bad-input${volume === "short" ? " -- --short" : ""}`,
  short: volume === "short",
  startedAt: started,
  ok: report.ok,
  text,
  data: report,
});
console.log(`report: ${written}`);
process.exit(report.ok ? 0 : 1);
