/**
 * npm run bad-input [-- --short]
 *
 * Starts a private platform and throws malformed RPCs, poison Kafka events and
 * malformed RabbitMQ tasks at it; exits 1 on a server fault for a client
 * error, a crash, or a poison message that did not reach its dead-letter queue.
 */
import { infraDefaults } from "./env.js";

infraDefaults();
const { formatBadInput, runBadInput } = await import("./bad-input.js");

const volume = process.argv.includes("--short") ? "short" : "full";
const started = Date.now();
const report = await runBadInput(volume);
console.log(`\n${formatBadInput(report)}\n(${Math.round((Date.now() - started) / 1000)} s)`);
process.exit(report.ok ? 0 : 1);
