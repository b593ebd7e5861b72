import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrokerProcess,
  pactDocument,
  publishVerificationResult,
  publishWithCli,
  startBroker,
} from "#test/support/broker.ts";

// Matrix selectors and options as the real Pact Broker reads them
// (lib/pact_broker/matrix/parse_query.rb, Version.for_selector, matrix/service.rb
// validate_selectors; specs spec/lib/pact_broker/matrix/repository_main_branch_spec.rb,
// integration_spec.rb and service_spec.rb), through the official CLI where it can
// express the query, else GET /matrix.

let broker: BrokerProcess;

interface MatrixBody {
  summary: { deployable: boolean | null; reason: string };
  matrix: { consumer: { version: { number: string } }; provider: { version: { number: string } | null } }[];
}

async function publish(
  consumer: string,
  version: string,
  provider: string,
  options: { branch?: string; tags?: string[]; path?: string } = {},
) {
  const doc = pactDocument(consumer, provider, [
    { description: `a request for ${options.path ?? "/orders/1"}`, path: options.path ?? "/orders/1" },
  ]);
  const r = await publishWithCli(broker, [doc], version, {
    ...(options.branch ? { branch: options.branch } : {}),
    ...(options.tags ? { tags: options.tags } : {}),
  });
  expect(r.code, r.output).toBe(0);
}

async function verify(
  provider: string,
  version: string,
  consumer: string,
  consumerVersion: string,
  success: boolean,
  branch?: string,
) {
  const r = await publishVerificationResult(broker, {
    provider,
    consumer,
    consumerVersion,
    providerVersion: version,
    success,
    ...(branch ? { branch } : {}),
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

async function cli(args: string[], expectedCode?: number) {
  const r = await broker.cli(args);
  if (expectedCode !== undefined) expect(r.code, r.output).toBe(expectedCode);
  return r;
}

const tag = (pacticipant: string, version: string, name: string) =>
  cli(["create-version-tag", "--pacticipant", pacticipant, "--version", version, "--tag", name], 0);

async function matrix(query: string): Promise<MatrixBody> {
  const r = await broker.request(`/matrix?${query}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as MatrixBody;
}

async function refused(query: string): Promise<string[]> {
  const r = await broker.request(`/matrix?${query}`);
  expect(r.status, JSON.stringify(r.body)).toBe(400);
  return (r.body as { errors: string[] }).errors;
}

beforeAll(async () => {
  broker = await startBroker();
  await cli(["create-environment", "--name", "prod", "--production"], 0);
});

afterAll(async () => {
  await broker?.stop();
});

describe("main branch selectors", () => {
  it("q[][mainBranch] without latest is every version of the main branch", async () => {
    await publish("Foo20", "1", "Bar20", { branch: "main" });
    await publish("Foo20", "2", "Bar20", { branch: "main", path: "/orders/2" });
    await verify("Bar20", "10", "Foo20", "1", false, "main");
    await verify("Bar20", "10", "Foo20", "2", true, "main");
    await cli(["record-deployment", "--pacticipant", "Bar20", "--version", "10", "--environment", "prod"], 0);

    // The CLI's --main-branch sends q[][mainBranch]=true without q[][latest].
    const all = await cli([
      "can-i-deploy",
      "--pacticipant",
      "Foo20",
      "--main-branch",
      "--to-environment",
      "prod",
    ]);
    expect(all.code, all.output).toBe(1);
    expect(all.output).toContain(
      "The verification for the pact between one of the versions of Foo20 from branch main (1) and the version of Bar20 currently in prod (10) failed",
    );
    const latest = await matrix(
      "q[][pacticipant]=Foo20&q[][mainBranch]=true&q[][latest]=true&latestby=cvpv&environment=prod",
    );
    expect(latest.summary.deployable).toBe(true);
  });

  it("mainBranch=true as an option: the latest version of each main branch with latest=true, every one without", async () => {
    await cli(["create-or-update-pacticipant", "--name", "Bar21", "--main-branch", "develop"], 0);
    await publish("Foo21", "1", "Bar21", { branch: "feat/x" });
    await verify("Bar21", "1", "Foo21", "1", false, "develop");
    await verify("Bar21", "2", "Foo21", "1", true, "develop");
    await verify("Bar21", "3", "Foo21", "1", false, "not-develop");

    const merge = await cli(["can-i-merge", "--pacticipant", "Foo21", "--version", "1"]);
    expect(merge.code, merge.output).toBe(0);
    const latest = await matrix(
      "q[][pacticipant]=Foo21&q[][version]=1&latest=true&mainBranch=true&latestby=cvpv",
    );
    expect(latest.matrix.map((r) => r.provider.version?.number)).toEqual(["2"]);

    const every = await matrix("q[][pacticipant]=Foo21&q[][version]=1&mainBranch=true&latestby=cvpv");
    expect(every.matrix.map((r) => r.provider.version?.number).sort()).toEqual(["1", "2"]);
    expect(every.summary.deployable).toBe(false);
  });

  it("a branch selector without latest is every version of that branch", async () => {
    await publish("Foo27", "1", "Bar27", { branch: "main" });
    await publish("Foo27", "2", "Bar27", { branch: "main", path: "/orders/2" });
    await verify("Bar27", "10", "Foo27", "1", true, "main");
    await verify("Bar27", "10", "Foo27", "2", true, "main");
    await cli(["record-deployment", "--pacticipant", "Bar27", "--version", "10", "--environment", "prod"], 0);
    const r = await cli([
      "can-i-deploy",
      "--pacticipant",
      "Foo27",
      "--branch",
      "main",
      "--to-environment",
      "prod",
    ]);
    expect(r.code, r.output).toBe(0);
    expect(
      (await matrix("q[][pacticipant]=Foo27&q[][branch]=main&latestby=cvpv&environment=prod")).matrix,
    ).toHaveLength(2);
  });
});

describe("environment and tag selectors", () => {
  it("q[][environment] selects the versions currently in that environment", async () => {
    await publish("Foo22", "1", "Bar22", { branch: "main" });
    await verify("Bar22", "1", "Foo22", "1", true, "main");
    await cli(["record-deployment", "--pacticipant", "Bar22", "--version", "1", "--environment", "prod"], 0);
    await verify("Bar22", "2", "Foo22", "1", false, "main");

    const inProd = await matrix(
      "q[][pacticipant]=Foo22&q[][version]=1&q[][pacticipant]=Bar22&q[][environment]=prod&latestby=cvpv",
    );
    expect(inProd.summary.deployable).toBe(true);
    expect(inProd.matrix.map((r) => r.provider.version?.number)).toEqual(["1"]);
  });

  it("a 'tag' option alone infers the other side: every version with that tag", async () => {
    // Foo23 1 (prod) was verified; Foo23 3 (not prod) failed, and does not count.
    await publish("Foo23", "1", "Bar23", { tags: ["prod"] });
    await publish("Foo23", "3", "Bar23", { path: "/orders/3" });
    await verify("Bar23", "10", "Foo23", "1", true);
    await tag("Bar23", "10", "test");
    await verify("Bar23", "10", "Foo23", "3", false);

    const onlyProd = await matrix(
      "q[][pacticipant]=Bar23&q[][latest]=true&q[][tag]=test&tag=prod&latestby=cvp",
    );
    expect(onlyProd.summary.deployable).toBe(true);
    expect(onlyProd.matrix.map((r) => r.consumer.version.number)).toEqual(["1"]);

    // ...and a prod version without a verification leaves the answer unknown.
    await publish("Foo23", "2", "Bar23", { tags: ["prod"], path: "/orders/2" });
    const missing = await matrix(
      "q[][pacticipant]=Bar23&q[][latest]=true&q[][tag]=test&tag=prod&latestby=cvp",
    );
    expect(missing.summary.deployable).toBeNull();
  });

  it("explicit and inferred selectors together (a provider, every prod version of one consumer, the others inferred)", async () => {
    // Foo24 1, 2 (prod) -> Bar24 2 ok; Foo24 3 -> Bar24 2 failed; Cat24 20 (prod) unverified; Dog24 40 ok.
    await publish("Foo24", "1", "Bar24", { tags: ["prod"] });
    await verify("Bar24", "2", "Foo24", "1", true);
    await publish("Foo24", "2", "Bar24", { tags: ["prod"], path: "/orders/2" });
    await verify("Bar24", "2", "Foo24", "2", true);
    await publish("Foo24", "3", "Bar24", { path: "/orders/3" });
    await verify("Bar24", "2", "Foo24", "3", false);
    await publish("Cat24", "20", "Bar24", { tags: ["prod"] });
    await publish("Dog24", "40", "Bar24");
    await verify("Bar24", "2", "Dog24", "40", true);

    const base = "q[][pacticipant]=Bar24&q[][version]=2&q[][pacticipant]=Foo24&q[][tag]=prod";
    const inferredLatest = await matrix(`${base}&latest=true&tag=prod&latestby=cvp`);
    expect(inferredLatest.summary.deployable).toBeNull();
    expect(inferredLatest.summary.reason).toContain("Cat24");
    expect(inferredLatest.matrix.filter((r) => r.consumer.version.number !== "20")).toHaveLength(2);

    const inferredAll = await matrix(`${base}&tag=prod&latestby=cvp`);
    expect(inferredAll.summary.deployable).toBeNull();
    expect(inferredAll.summary.reason).toContain("Cat24");

    const explicitOnly = await matrix(`${base}&latestby=cvp`);
    expect(explicitOnly.summary.deployable).toBe(true);
  });

  it("--ignore lets a known failure through, and says so", async () => {
    await publish("Foo26", "1", "Bar26", { branch: "main" });
    await verify("Bar26", "1", "Foo26", "1", false, "main");
    await cli(["record-deployment", "--pacticipant", "Bar26", "--version", "1", "--environment", "prod"], 0);
    expect(
      (await cli(["can-i-deploy", "--pacticipant", "Foo26", "--version", "1", "--to-environment", "prod"]))
        .code,
    ).toBe(1);
    const ignored = await cli([
      "can-i-deploy",
      "--pacticipant",
      "Foo26",
      "--version",
      "1",
      "--to-environment",
      "prod",
      "--ignore",
      "Bar26",
    ]);
    expect(ignored.code, ignored.output).toBe(0);
  });
});

describe("the query string", () => {
  it("groups q[] fields the way Rack does: a field seen again starts the next selector", async () => {
    await publish("Foo25", "1", "Bar25", { branch: "main" });
    const body = await matrix("q[][version]=1&q[][pacticipant]=Foo25&latestby=cvpv");
    expect(body.matrix).toHaveLength(1);
  });

  it("refuses the combinations the real broker refuses, with its messages", async () => {
    await publish("Foo28", "1", "Bar28", { branch: "main" });
    expect(await refused("q[][pacticipant]=Foo28&q[][version]=1&q[][latest]=true")).toEqual([
      "A version number and latest flag cannot both be specified for Foo28",
    ]);
    expect((await refused("q[][pacticipant]=Foo28&q[][version]=1&tag=prod&environment=prod"))[0]).toContain(
      "Cannot specify more than one",
    );
    expect((await refused("q[][pacticipant]=Foo28&q[][version]=1&mainBranch=true&tag=prod"))[0]).toContain(
      "Cannot specify more than one",
    );
    expect(await refused("q[][pacticipant]=Foo28&q[][version]=1&latest=true&environment=prod")).toEqual([
      "Cannot specify both latest=true and an environment.",
    ]);
    expect(await refused("q[][pacticipant]=Foo28&q[][version]=1&environment=nowhere")).toEqual([
      "Environment with name 'nowhere' does not exist",
    ]);
    expect(await refused("q[][pacticipant]=Foo28&q[][version]=1&limit=0")).toEqual([
      "The limit must be 1 or greater.",
    ]);
    expect(await refused("q[][pacticipant]=Foo28&q[][version]=1&ignore[][version]=2")).toEqual([
      "Please specify the pacticipant name to ignore",
    ]);
    expect(await refused("q[][version]=1")).toEqual(["Please specify the pacticipant name"]);
    expect(await refused("latestby=cvp")).toEqual(["Please provide 1 or more version selectors."]);
  });
});
