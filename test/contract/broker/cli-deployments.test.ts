import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir, writeConsumerPact } from "#test/contract/pact-gate-harness.ts";
import { type BrokerProcess, environmentUuid, putVersion, startBroker } from "#test/support/broker.ts";

// record-deployment, record-undeployment, record-release and
// record-support-ended through the official CLI. An undeployment or the end
// of support takes the version out of the gate: a provider whose only
// consumer left production may deploy again.

let broker: BrokerProcess;
let production: string;
const cleanups: (() => Promise<void>)[] = [];

interface Listed {
  applicationInstance: string | null;
  _embedded: { pacticipant: { name: string }; version: { number: string } };
}

async function currentlyDeployed(pacticipant: string): Promise<string[]> {
  const r = await broker.request(
    `/environments/${production}/deployed-versions/currently-deployed?pacticipant=${pacticipant}`,
  );
  const list = (r.body as { _embedded: { deployedVersions: Listed[] } })._embedded.deployedVersions;
  return list.map(
    (x) => `${x._embedded.version.number}${x.applicationInstance ? `@${x.applicationInstance}` : ""}`,
  );
}

async function currentlySupported(pacticipant: string): Promise<string[]> {
  const r = await broker.request(
    `/environments/${production}/released-versions/currently-supported?pacticipant=${pacticipant}`,
  );
  const list = (r.body as { _embedded: { releasedVersions: Listed[] } })._embedded.releasedVersions;
  return list.map((x) => x._embedded.version.number);
}

async function publish(consumer: string, provider: string, version: string) {
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  await writeConsumerPact({ consumer, provider, dir: tmp.dir, fields: { id: "1" } });
  const r = await broker.cli(["publish", tmp.dir, "--consumer-app-version", version, "--branch", "main"]);
  expect(r.code, r.output).toBe(0);
}

const canIDeploy = (pacticipant: string, version: string) =>
  broker.cli([
    "can-i-deploy",
    "--pacticipant",
    pacticipant,
    "--version",
    version,
    "--to-environment",
    "production",
  ]);

beforeAll(async () => {
  broker = await startBroker();
  const created = await broker.cli(["create-environment", "--name", "production", "--production"]);
  expect(created.code, created.output).toBe(0);
  production = (await environmentUuid(broker.url, "production")) ?? "";
});

afterAll(async () => {
  for (const c of cleanups) await c();
  await broker?.stop();
});

describe("pact-broker deployment commands", () => {
  it("record-deployment replaces the previous deployment of the same application instance", async () => {
    for (const v of ["1", "2", "3"]) await putVersion(broker.url, "ledger", v, "main");
    const deploy = (version: string, ...extra: string[]) =>
      broker.cli([
        "record-deployment",
        "--pacticipant",
        "ledger",
        "--version",
        version,
        "--environment",
        "production",
        ...extra,
      ]);
    const first = await deploy("1");
    expect(first.code, first.output).toBe(0);
    expect(first.output).toContain("Recorded deployment of ledger version 1 to production");
    expect((await deploy("2")).code).toBe(0);
    expect((await deploy("3", "--application-instance", "blue")).code).toBe(0);
    expect(await currentlyDeployed("ledger")).toEqual(["2", "3@blue"]);
  });

  it("record-undeployment ends the deployment of one application instance, then of the one without", async () => {
    const undeploy = (...extra: string[]) =>
      broker.cli(["record-undeployment", "--pacticipant", "ledger", "--environment", "production", ...extra]);
    const blue = await undeploy("--application-instance", "blue");
    expect(blue.code, blue.output).toBe(0);
    expect(blue.output).toContain("Undeployed ledger from production environment");
    expect(await currentlyDeployed("ledger")).toEqual(["2"]);

    const plain = await undeploy();
    expect(plain.code, plain.output).toBe(0);
    expect(await currentlyDeployed("ledger")).toEqual([]);

    const again = await undeploy();
    expect(again.code).not.toBe(0);
    expect(again.output).toContain("ledger is not currently deployed to production environment");
  });

  it("an undeployed consumer is no longer checked by its provider's can-i-deploy", async () => {
    await publish("till", "till-api", "t1");
    await putVersion(broker.url, "till-api", "a2", "main");
    const deployed = await broker.cli([
      "record-deployment",
      "--pacticipant",
      "till",
      "--version",
      "t1",
      "--environment",
      "production",
    ]);
    expect(deployed.code, deployed.output).toBe(0);

    // till t1 runs in production and a2 never verified its pact: unknown, so no.
    const blocked = await canIDeploy("till-api", "a2");
    expect(blocked.code, blocked.output).toBe(1);

    const gone = await broker.cli([
      "record-undeployment",
      "--pacticipant",
      "till",
      "--environment",
      "production",
    ]);
    expect(gone.code, gone.output).toBe(0);
    const free = await canIDeploy("till-api", "a2");
    expect(free.code, free.output).toBe(0);
  });

  it("record-release adds supported versions; record-support-ended ends one of them", async () => {
    await publish("kiosk", "kiosk-api", "k1");
    await putVersion(broker.url, "kiosk", "k2", "main");
    await putVersion(broker.url, "kiosk-api", "a2", "main");
    const release = (version: string) =>
      broker.cli([
        "record-release",
        "--pacticipant",
        "kiosk",
        "--version",
        version,
        "--environment",
        "production",
      ]);
    const k1 = await release("k1");
    expect(k1.code, k1.output).toBe(0);
    expect(k1.output).toContain("Recorded release of kiosk version k1 to production");
    expect((await release("k2")).code).toBe(0);
    expect(await currentlySupported("kiosk")).toEqual(["k1", "k2"]);
    // The released k1's pact is still checked.
    expect((await canIDeploy("kiosk-api", "a2")).code).toBe(1);

    const ended = await broker.cli([
      "record-support-ended",
      "--pacticipant",
      "kiosk",
      "--version",
      "k1",
      "--environment",
      "production",
    ]);
    expect(ended.code, ended.output).toBe(0);
    expect(ended.output).toContain("Recorded support ended for application kiosk, version k1");
    expect(await currentlySupported("kiosk")).toEqual(["k2"]);
    // k2 published no pact, so nothing released needs kiosk-api any more.
    const free = await canIDeploy("kiosk-api", "a2");
    expect(free.code, free.output).toBe(0);
  });

  it("deployed and released versions embed their pacticipant, version and environment", async () => {
    await putVersion(broker.url, "embed", "e1");
    expect(
      (
        await broker.cli([
          "record-deployment",
          "--pacticipant",
          "embed",
          "--version",
          "e1",
          "--environment",
          "production",
        ])
      ).code,
    ).toBe(0);
    const r = await broker.request(
      `/environments/${production}/deployed-versions/currently-deployed?pacticipant=embed&version=e1`,
    );
    const [dep] = (r.body as { _embedded: { deployedVersions: Record<string, unknown>[] } })._embedded
      .deployedVersions;
    expect(dep).toMatchObject({
      currentlyDeployed: true,
      applicationInstance: null,
      target: null,
      undeployedAt: null,
      _embedded: {
        pacticipant: { name: "embed" },
        version: { number: "e1" },
        environment: { name: "production", uuid: production },
      },
    });
    const self = (dep as { _links: { self: { href: string } } })._links.self.href;
    expect(self).toMatch(new RegExp(`^${broker.url}/deployed-versions/[0-9a-f-]{36}$`));
    expect((await broker.request(self.slice(broker.url.length))).status).toBe(200);
  });
});
