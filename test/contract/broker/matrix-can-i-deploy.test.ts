import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrokerProcess,
  pactDocument,
  publishVerificationResult,
  publishWithCli,
  startBroker,
} from "#test/support/broker.ts";

// can-i-deploy scenarios of the real Pact Broker (spec/features/can_i_deploy_spec.rb,
// spec/lib/pact_broker/matrix/integration_environment_spec.rb and integration_spec.rb)
// against Accord's broker, through the official CLI where it can ask, else the HTTP API.

let broker: BrokerProcess;

interface Summary {
  summary: { deployable: boolean | null; reason: string };
}

const interaction = [{ description: "a request for order 1", path: "/orders/1", body: { id: "1" } }];

async function publish(consumer: string, version: string, providers: string[], branch = "main") {
  const docs = providers.map((p) => pactDocument(consumer, p, interaction));
  const r = await publishWithCli(broker, docs, version, { branch });
  expect(r.code, r.output).toBe(0);
}

async function verify(
  provider: string,
  version: string,
  consumer: string,
  consumerVersion: string,
  success = true,
) {
  const r = await publishVerificationResult(broker, {
    provider,
    consumer,
    consumerVersion,
    providerVersion: version,
    success,
    branch: "main",
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

async function cli(args: string[], expectedCode?: number) {
  const r = await broker.cli(args);
  if (expectedCode !== undefined) expect(r.code, r.output).toBe(expectedCode);
  return r;
}

const release = (pacticipant: string, version: string) =>
  cli(["record-release", "--pacticipant", pacticipant, "--version", version, "--environment", "prod"], 0);

const deploy = (pacticipant: string, version: string, instance?: string) =>
  cli(
    [
      "record-deployment",
      "--pacticipant",
      pacticipant,
      "--version",
      version,
      "--environment",
      "prod",
      ...(instance ? ["--application-instance", instance] : []),
    ],
    0,
  );

const canIDeploy = (pacticipant: string, version: string) =>
  cli(["can-i-deploy", "--pacticipant", pacticipant, "--version", version, "--to-environment", "prod"]);

async function deployable(path: string): Promise<boolean | null> {
  const r = await broker.request(path);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return (r.body as Summary).summary.deployable;
}

const canIDeployResource = (pacticipant: string, version: string) =>
  deployable(`/can-i-deploy?pacticipant=${pacticipant}&version=${version}&environment=prod`);
const branchToEnvironment = (pacticipant: string, branch: string) =>
  deployable(
    `/pacticipants/${pacticipant}/branches/${branch}/latest-version/can-i-deploy/to-environment/prod`,
  );

beforeAll(async () => {
  broker = await startBroker();
  await cli(["create-environment", "--name", "prod", "--production"], 0);
});

afterAll(async () => {
  await broker?.stop();
});

describe("several provider versions live in the environment at once (issue #903: cvpv)", () => {
  it("an older released provider version whose verification failed blocks the consumer, on every route", async () => {
    await publish("Foo1", "1", ["Bar1"]);
    await verify("Bar1", "10", "Foo1", "1", false);
    await release("Bar1", "10");
    await verify("Bar1", "11", "Foo1", "1", true);
    await release("Bar1", "11");

    const viaCli = await canIDeploy("Foo1", "1");
    expect(viaCli.code, viaCli.output).toBe(1);
    expect(viaCli.output).toContain(
      "The verification for the pact between version 1 of Foo1 and one of the versions of Bar1 currently in prod (10) failed",
    );
    // The real broker's /can-i-deploy and branch resources force latestby=cvpv with an environment.
    expect(await canIDeployResource("Foo1", "1")).toBe(false);
    expect(await branchToEnvironment("Foo1", "main")).toBe(false);
  });

  it("when every released provider version verified the pact, the consumer may deploy", async () => {
    await publish("Foo2", "1", ["Bar2"]);
    await verify("Bar2", "10", "Foo2", "1", true);
    await release("Bar2", "10");
    await verify("Bar2", "11", "Foo2", "1", true);
    await release("Bar2", "11");

    expect((await canIDeploy("Foo2", "1")).code).toBe(0);
    expect(await canIDeployResource("Foo2", "1")).toBe(true);
    expect(await branchToEnvironment("Foo2", "main")).toBe(true);
  });

  it("an older deployment on another application instance whose verification failed blocks the consumer", async () => {
    await publish("Foo3", "1", ["Bar3"]);
    await verify("Bar3", "10", "Foo3", "1", false);
    await deploy("Bar3", "10", "instance-1");
    await verify("Bar3", "11", "Foo3", "1", true);
    await deploy("Bar3", "11", "instance-2");

    expect((await canIDeploy("Foo3", "1")).code).toBe(1);
    expect(await canIDeployResource("Foo3", "1")).toBe(false);
    expect(await branchToEnvironment("Foo3", "main")).toBe(false);
  });

  it("a redeployment without an instance replaces the previous version, whose failure then no longer counts", async () => {
    await publish("Foo4", "1", ["Bar4"]);
    await verify("Bar4", "10", "Foo4", "1", false);
    await deploy("Bar4", "10");
    await verify("Bar4", "11", "Foo4", "1", true);
    await deploy("Bar4", "11");

    expect((await canIDeploy("Foo4", "1")).code).toBe(0);
    expect(await canIDeployResource("Foo4", "1")).toBe(true);
    expect(await branchToEnvironment("Foo4", "main")).toBe(true);
  });

  it("a provider must have verified every consumer version in the environment", async () => {
    await publish("Foo5", "1", ["Bar5"]);
    await deploy("Foo5", "1", "a");
    await verify("Bar5", "10", "Foo5", "1", true);
    const doc = pactDocument("Foo5", "Bar5", [{ description: "another request", path: "/orders/2" }]);
    expect((await publishWithCli(broker, [doc], "2", { branch: "main" })).code).toBe(0);
    await deploy("Foo5", "2", "b");

    const missing = await canIDeploy("Bar5", "10");
    expect(missing.code, missing.output).toBe(1);
    expect(missing.output).toContain(
      "There is no verified pact between one of the versions of Foo5 currently in prod (2)",
    );
    await verify("Bar5", "10", "Foo5", "2", true);
    expect((await canIDeploy("Bar5", "10")).code).toBe(0);
  });
});

describe("who requires whom", () => {
  it("a consumer needs its provider in the environment first; a provider does not need its consumers there", async () => {
    await publish("Foo6", "1", ["Bar6"]);
    await verify("Bar6", "2", "Foo6", "1", true);
    const consumer = await canIDeploy("Foo6", "1");
    expect(consumer.code).toBe(1);
    expect(consumer.output).toContain(
      "There is no verified pact between version 1 of Foo6 and a version of Bar6 currently in prod (no version is currently recorded as deployed/released in this environment)",
    );
    const provider = await canIDeploy("Bar6", "2");
    expect(provider.code, provider.output).toBe(0);
    expect(provider.output).toContain("There are no missing dependencies");
  });

  it("an app that is both consumer and provider needs its own provider deployed first", async () => {
    await publish("Foo7", "1", ["Bar7"]);
    await verify("Bar7", "2", "Foo7", "1", true);
    await publish("Bar7", "2", ["Baz7"]);
    expect((await canIDeploy("Bar7", "2")).code).toBe(1);
    await verify("Baz7", "4", "Bar7", "2", true);
    await deploy("Baz7", "4");
    expect((await canIDeploy("Bar7", "2")).code).toBe(0);
  });

  it("an old consumer version that did not have a later provider yet is judged on its own pacts", async () => {
    await publish("Foo8", "1", ["Bar8"]);
    await verify("Bar8", "2", "Foo8", "1", true);
    await publish("Foo8", "2", ["Bar8", "Wiffle8"]);
    await verify("Bar8", "3", "Foo8", "2", true);
    await verify("Wiffle8", "10", "Foo8", "2", true);
    expect(await deployable("/matrix?q[][pacticipant]=Foo8&q[][version]=1&latestby=cvpv")).toBe(true);
  });

  it("two applications with pacts with each other: each must have verified the other's version", async () => {
    // ServiceA 1 was verified by ServiceB 100, but ServiceB 100 only by ServiceA 99.
    await publish("ServiceB9", "100", ["ServiceA9"]);
    await verify("ServiceA9", "99", "ServiceB9", "100", true);
    await publish("ServiceA9", "1", ["ServiceB9"]);
    await verify("ServiceB9", "100", "ServiceA9", "1", true);

    const both = await cli([
      "can-i-deploy",
      "--pacticipant",
      "ServiceA9",
      "--version",
      "1",
      "--pacticipant",
      "ServiceB9",
      "--version",
      "100",
    ]);
    expect(both.code, both.output).toBe(1);
    const one = await cli(["can-i-deploy", "--pacticipant", "ServiceB9", "--version", "100"]);
    expect(one.code, one.output).toBe(1);
  });
});

describe("unknown names and refused requests", () => {
  it("an unknown pacticipant is a 400 naming it, not 'deployable: false'", async () => {
    const viaCli = await canIDeploy("Nobody", "1");
    expect(viaCli.code).not.toBe(0);
    expect(viaCli.output).toContain("Pacticipant Nobody not found");

    const matrix = await broker.request("/matrix?q[][pacticipant]=Nobody&q[][version]=1&latestby=cvpv");
    expect(matrix.status).toBe(400);
    expect(matrix.body).toEqual({ errors: ["Pacticipant Nobody not found"] });

    const resource = await broker.request("/can-i-deploy?pacticipant=Nobody&version=1&environment=prod");
    expect(resource.status).toBe(400);
    expect(JSON.stringify(resource.body)).toContain("Nobody");
  });

  it("an unknown version of a known pacticipant cannot be deployed", async () => {
    await publish("Foo10", "1", ["Bar10"]);
    const r = await canIDeploy("Foo10", "9");
    expect(r.code).toBe(1);
    expect(r.output).toContain("No pacts or verifications have been published for version 9 of Foo10");
  });

  it("/can-i-deploy takes a version and exactly one of environment or to", async () => {
    await publish("Foo11", "1", ["Bar11"]);
    const status = async (query: string) => (await broker.request(`/can-i-deploy?${query}`)).status;
    expect(await status("pacticipant=Foo11&environment=prod")).toBe(400);
    expect(await status("pacticipant=Foo11&version=1&environment=prod&to=prod")).toBe(400);
    expect(await status("pacticipant=Foo11&version=1")).toBe(400);
    expect(await status("pacticipant=Foo11&version=1&environment=nowhere")).toBe(400);
    expect(await status("version=1&environment=prod")).toBe(400);
    // A 'to' tag instead of an environment: the latest version with that tag of each other side.
    const viaTag = await broker.request("/can-i-deploy?pacticipant=Foo11&version=1&to=prod");
    expect(viaTag.status, JSON.stringify(viaTag.body)).toBe(200);
    expect((viaTag.body as Summary).summary.reason).toContain(
      "the latest version of Bar11 with tag prod (no such version exists)",
    );
  });

  it("the branch resource is a 404 for an unknown branch or environment", async () => {
    await publish("Foo12", "1", ["Bar12"]);
    const status = async (p: string) => (await broker.request(p)).status;
    expect(
      await status("/pacticipants/Foo12/branches/main/latest-version/can-i-deploy/to-environment/nowhere"),
    ).toBe(404);
    expect(
      await status("/pacticipants/Foo12/branches/nope/latest-version/can-i-deploy/to-environment/prod"),
    ).toBe(404);
  });
});
