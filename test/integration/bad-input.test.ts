import { describe, expect, it } from "vitest";
import { formatBadInput, runBadInput } from "#chaos/bad-input.ts";

// Malformed RPCs (every method of every service, Connect JSON and binary and
// gRPC over HTTP/2), poison Kafka events and malformed RabbitMQ tasks against
// a private platform: no 5xx or internal/unknown code for a client error, no
// crash, every poison message in its dead-letter queue.
describe("bad input at volume (short)", () => {
  it("answers client errors with 4xx codes, survives, and dead-letters every poison message", async () => {
    const report = await runBadInput("short", () => {});
    const text = formatBadInput(report);
    console.log(text);
    expect(report.liveness, text).toEqual([]);
    expect(report.kafka.missing, text).toEqual([]);
    expect(report.rabbit.missing, text).toEqual([]);
    expect(
      report.rpc.failures.map((f) => `${f.endpoint} [${f.case}] ${f.status} ${f.code}`),
      text,
    ).toEqual([]);
  }, 240_000);
});
