import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrokerProcess,
  pactDocument,
  publishVerificationResult,
  publishWithCli,
  startBroker,
} from "#test/support/broker.ts";

// Where Accord's broker differs from the real one on purpose (ADR 0007), pinned
// so that a change is a decision, not an accident.

let broker: BrokerProcess;

interface MatrixBody {
  summary: { deployable: boolean | null };
  matrix: unknown[];
}

async function matrix(query: string): Promise<{ status: number; body: MatrixBody }> {
  const r = await broker.request(`/matrix?${query}`);
  return { status: r.status, body: r.body as MatrixBody };
}

async function verify(provider: string, version: string, consumer: string, success: boolean) {
  const r = await publishVerificationResult(broker, {
    provider,
    consumer,
    consumerVersion: "1",
    providerVersion: version,
    success,
    branch: "main",
  });
  expect(r.status).toBe(201);
}

beforeAll(async () => {
  broker = await startBroker();
  expect((await broker.cli(["create-environment", "--name", "prod"])).code).toBe(0);
  const docs = [pactDocument("FooD", "BarD", [{ description: "a request", path: "/a" }])];
  expect((await publishWithCli(broker, docs, "1", { branch: "main" })).code).toBe(0);
  // BarD 10 failed, then passed; BarD 11 never verified; both are in prod. BarD 12 is not.
  await verify("BarD", "10", "FooD", false);
  await verify("BarD", "10", "FooD", true);
  await verify("BarD", "12", "FooD", true);
  const cli = async (args: string[]) => {
    const r = await broker.cli(args);
    expect(r.code, r.output).toBe(0);
  };
  await cli(["create-or-update-version", "--pacticipant", "BarD", "--version", "11", "--branch", "main"]);
  for (const [version, instance] of [
    ["10", "a"],
    ["11", "b"],
  ])
    await cli([
      "record-deployment",
      "--pacticipant",
      "BarD",
      "--version",
      `${version}`,
      "--environment",
      "prod",
      "--application-instance",
      `${instance}`,
    ]);
});

afterAll(async () => {
  await broker?.stop();
});

describe("deliberate differences from the real broker", () => {
  it("a provider version in scope that never verified the pact is an unknown row, with cvp too", async () => {
    // The real broker's cvp keeps only the newest provider version's row among
    // those with a verification (10 here) and may say yes; we say it is unknown.
    const r = await matrix("q[][pacticipant]=FooD&q[][version]=1&latestby=cvp&environment=prod");
    expect(r.status).toBe(200);
    expect(r.body.summary.deployable).toBeNull();
  });

  it("without latestby, each provider version counts with its latest verification, not every one", async () => {
    // The real broker returns every verification row then (10 failed and 10 passed).
    const r = await matrix("q[][pacticipant]=FooD&q[][version]=1&q[][pacticipant]=BarD&q[][version]=10");
    expect(r.body.matrix).toHaveLength(1);
    expect(r.body.summary.deployable).toBe(true);
  });

  it("limit is checked but not applied: every row is returned", async () => {
    const r = await matrix("q[][pacticipant]=FooD&q[][version]=1&latestby=cvpv&limit=1");
    expect(r.status).toBe(200);
    expect(r.body.matrix.length).toBeGreaterThan(1);
  });

  it("latestby=cp is refused", async () => {
    expect((await matrix("q[][pacticipant]=FooD&latestby=cp")).status).toBe(400);
  });
});
