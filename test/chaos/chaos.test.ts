import { describe, expect, it } from "vitest";
import { type Fault, formatReport, runChaos, SHORT } from "#chaos/chaos.ts";

// The short chaos run: orders at a steady rate while three services are
// kill -9'd and restarted and Kafka is restarted, then the invariants (every
// order final, one capture per confirmed order, refunds, stock, deliveries,
// one workflow per order). Runs last and alone (project "chaos"), because a
// Kafka restart is felt by everything that shares the broker.
// CHAOS_NO_INFRA=1 keeps to killing service processes.
describe("chaos (short)", () => {
  it("keeps every invariant through kill -9 of services and a Kafka restart", async () => {
    const faults: Fault[] = process.env.CHAOS_NO_INFRA
      ? SHORT.faults.filter((f) => f.kind === "kill")
      : SHORT.faults;
    const report = await runChaos({ ...SHORT, faults, log: (line) => console.log(line) });
    const text = formatReport(report);
    console.log(text);
    expect(
      report.faults.filter((f) => f.outcome === "not recovered"),
      text,
    ).toEqual([]);
    expect(
      report.invariants.filter((i) => !i.ok),
      text,
    ).toEqual([]);
  }, 900_000);
});
