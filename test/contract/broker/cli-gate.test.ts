import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startProvider,
  tempDir,
  verifyFromBroker,
  writeConsumerPact,
} from "#test/contract/pact-gate-harness.ts";
import { type BrokerProcess, putVersion, startBroker } from "#test/support/broker.ts";

// The gate commands end to end through the official CLI: can-i-deploy with
// --to-environment, --to (a tag), --main-branch and --retry-while-unknown,
// can-i-merge, and list-latest-pact-versions. The matrix rules themselves
// have their own tests; these check that each command reaches the broker,
// follows what it answers and exits as it should.

let broker: BrokerProcess;
const cleanups: (() => Promise<void>)[] = [];

async function publish(consumer: string, provider: string, version: string, fields: Record<string, string>) {
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  await writeConsumerPact({ consumer, provider, dir: tmp.dir, fields });
  const r = await broker.cli(["publish", tmp.dir, "--consumer-app-version", version, "--branch", "main"]);
  expect(r.code, r.output).toBe(0);
}

async function verify(provider: string, version: string, sends: Record<string, string>) {
  const server = await startProvider(sends);
  try {
    return await verifyFromBroker({
      brokerUrl: broker.url,
      provider,
      providerVersion: version,
      providerBaseUrl: server.url,
      enablePending: false,
    });
  } finally {
    await server.close();
  }
}

beforeAll(async () => {
  broker = await startBroker();
  expect((await broker.cli(["create-environment", "--name", "production", "--production"])).code).toBe(0);
  // web w1 needs { id, total } from api; api a1 sends it and runs in production.
  await publish("gate-web", "gate-api", "w1", { id: "1", total: "9" });
  expect(await verify("gate-api", "a1", { id: "1", total: "9" })).toBe("passed");
  const deployed = await broker.cli([
    "record-deployment",
    "--pacticipant",
    "gate-api",
    "--version",
    "a1",
    "--environment",
    "production",
  ]);
  expect(deployed.code, deployed.output).toBe(0);
});

afterAll(async () => {
  for (const c of cleanups) await c();
  await broker?.stop();
});

describe("pact-broker gate commands", () => {
  it("can-i-deploy --to-environment: yes for a verified pact, no for a version that is unknown", async () => {
    const yes = await broker.cli([
      "can-i-deploy",
      "--pacticipant",
      "gate-web",
      "--version",
      "w1",
      "--to-environment",
      "production",
    ]);
    expect(yes.code, yes.output).toBe(0);
    expect(yes.output).toContain("Computer says yes");

    const json = await broker.cli([
      "can-i-deploy",
      "--pacticipant",
      "gate-web",
      "--version",
      "w1",
      "--to-environment",
      "production",
      "--output",
      "json",
    ]);
    expect(json.code, json.output).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ summary: { deployable: true } });

    const unknown = await broker.cli([
      "can-i-deploy",
      "--pacticipant",
      "gate-web",
      "--version",
      "no-such-version",
      "--to-environment",
      "production",
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.output).toContain("Computer says no");
  });

  it("can-i-deploy --to TAG checks against the latest version with that tag", async () => {
    const tagged = await broker.cli([
      "create-version-tag",
      "--pacticipant",
      "gate-api",
      "--version",
      "a1",
      "--tag",
      "prod",
    ]);
    expect(tagged.code, tagged.output).toBe(0);
    const r = await broker.cli([
      "can-i-deploy",
      "--pacticipant",
      "gate-web",
      "--version",
      "w1",
      "--to",
      "prod",
    ]);
    expect(r.code, r.output).toBe(0);
  });

  it("can-i-deploy --main-branch and --latest pick the version for the check", async () => {
    for (const selector of ["--main-branch", "--latest"]) {
      const r = await broker.cli([
        "can-i-deploy",
        "--pacticipant",
        "gate-web",
        selector,
        "--to-environment",
        "production",
      ]);
      expect(r.code, `${selector}: ${r.output}`).toBe(0);
    }
  });

  it("can-i-merge: yes when compatible with the main branch of each integrated pacticipant", async () => {
    await putVersion(broker.url, "gate-api", "a1", "main");
    const r = await broker.cli(["can-i-merge", "--pacticipant", "gate-web", "--version", "w1"]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("Computer says yes");
  });

  it("can-i-deploy --retry-while-unknown waits for a verification that arrives while it waits", async () => {
    // w2 needs a field; no provider version in production has verified it yet.
    await publish("gate-web", "gate-api", "w2", { id: "1", total: "9", currency: "EUR" });
    const waiting = broker.cli(
      [
        "can-i-deploy",
        "--pacticipant",
        "gate-web",
        "--version",
        "w2",
        "--to-environment",
        "production",
        "--retry-while-unknown",
        "30",
        "--retry-interval",
        "1",
      ],
      { timeoutMs: 90_000 },
    );
    // The provider's pipeline verifies a2 and deploys it a moment later.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await verify("gate-api", "a2", { id: "1", total: "9", currency: "EUR" })).toBe("passed");
    const deployed = await broker.cli([
      "record-deployment",
      "--pacticipant",
      "gate-api",
      "--version",
      "a2",
      "--environment",
      "production",
    ]);
    expect(deployed.code, deployed.output).toBe(0);
    const r = await waiting;
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("Computer says yes");
  });

  it("can-i-deploy without --retry-while-unknown says no at once while a verification is missing", async () => {
    await publish("gate-web", "gate-api", "w3", { id: "1", note: "x" });
    const r = await broker.cli([
      "can-i-deploy",
      "--pacticipant",
      "gate-web",
      "--version",
      "w3",
      "--to-environment",
      "production",
    ]);
    expect(r.code).toBe(1);
  });

  it("list-latest-pact-versions lists the latest pact of each integration", async () => {
    await publish("gate-mobile", "gate-api", "m1", { id: "1" });
    const r = await broker.cli(["list-latest-pact-versions"]);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(/gate-web.*w3.*gate-api/);
    expect(r.stdout).toMatch(/gate-mobile.*m1.*gate-api/);
    const json = await broker.cli(["list-latest-pact-versions", "--output", "json"]);
    expect(json.code, json.output).toBe(0);
    const pacts = (JSON.parse(json.stdout) as { pacts: { _embedded: { consumer: { name: string } } }[] })
      .pacts;
    expect(pacts.map((p) => p._embedded.consumer.name).sort()).toEqual(["gate-mobile", "gate-web"]);
  });
});
