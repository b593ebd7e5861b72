import { describe, expect, it } from "vitest";
import { formatAttack, runAttack } from "#chaos/attack.ts";

// The short attack run (npm run attack is the full one): every group of the
// suite against a private platform with real tokens; short sends the token
// attacks over Connect and gRPC to orders only and the internal RPCs over
// Connect as a customer and anonymously. Each case must be denied with the
// code it expects and leave the state it aimed at unchanged.
describe("attack suite (short)", () => {
  it("denies every attack with the expected code and leaves the targets untouched", async () => {
    const report = await runAttack("short", (line) => console.log(line));
    const text = formatAttack(report);
    console.log(text);
    expect(report.cases.length, text).toBeGreaterThan(50);
    expect(
      report.cases
        .filter((c) => !c.pass)
        .map((c) => `${c.group}: ${c.name} -> ${c.actual}${c.state ? ` (${c.state})` : ""}`),
      text,
    ).toEqual([]);
  }, 600_000);
});
