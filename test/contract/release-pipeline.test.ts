import { execFile } from "node:child_process";
import { chmod, cp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devClientSecret } from "#lib/auth/dev-identities.ts";
import {
  type Broker,
  startBroker,
  startProvider,
  tempDir,
  verifyFromBroker,
  writeConsumerPact,
} from "#test/contract/pact-gate-harness.ts";
import { ROOT } from "#test/support/service-process.ts";

// release.yml's steps as the workflow runs them: every step is a subcommand of
// scripts/release/pipeline.sh. The test builds a tiny repository (a proto, a
// consumer pact, the release scripts) with two commits, clones it the way CI
// does (shallow), and releases it through Accord's broker: a provider "stock"
// and its consumer "shop", where the second commit is a coordinated change
// (stock adds `name`, shop starts to need it).

interface Result {
  code: number;
  output: string;
}

let work: string;
let removeWork: () => Promise<void>;
let origin: string;
let broker: Broker;
let deployLog: string;
const commits: string[] = [];

const SCRIPTS = [
  "scripts/buf-breaking.sh",
  "scripts/release/common.sh",
  "scripts/release/broker-token.ts",
  "scripts/release/pipeline.sh",
  "scripts/release/can-i-deploy.sh",
  "scripts/release/can-i-merge.sh",
  "scripts/release/publish-pacts.sh",
  "scripts/release/record-deployment.sh",
];
const PROTO = "proto/accord/stock/v1/stock.proto";
const proto = (fields: string) =>
  `syntax = "proto3";\n\npackage accord.stock.v1;\n\n// A stock item.\nmessage Item {\n${fields}}\n`;

function exec(cmd: string, args: string[], cwd: string, env: Record<string, string | undefined> = {}) {
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) merged[k] = v;
  return new Promise<Result>((resolve) => {
    execFile(cmd, args, { cwd, env: merged, timeout: 90_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

const git = async (cwd: string, ...args: string[]) => {
  const r = await exec(
    "git",
    ["-c", "user.name=accord", "-c", "user.email=accord@example.invalid", ...args],
    cwd,
  );
  if (r.code !== 0) throw new Error(`git ${args.join(" ")}: ${r.output}`);
  return r.output.trim();
};

/** The environment a workflow step sees: only what the test sets, nothing inherited from a real CI. */
function stepEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    PATH: `${path.join(ROOT, ".accord/cache/node24/bin")}:${path.join(ROOT, "node_modules/.bin")}:${process.env.PATH ?? ""}`,
    PACT_BROKER_BASE_URL: broker.url,
    PACT_BRANCH: "main",
    PACT_ENVIRONMENT: "production",
    PACT_DO_NOT_TRACK: "true",
    NO_COLOR: "1",
    RELEASE_DEPLOY_COMMAND: path.join(work, "deploy.sh"),
    PACT_VERSION: undefined,
    // The broker's writes need a token: the steps fetch their own by client
    // credentials of accord-ci, as a workflow given the secret does. The
    // test's broker trusts the dev realm, whose secret this is.
    PACT_BROKER_TOKEN: undefined,
    PACT_BROKER_CLIENT_SECRET: devClientSecret("accord-ci"),
    PACT_BROKER_CLIENT_ID: undefined,
    PACT_BROKER_OIDC_ISSUER: undefined,
    PACT_BROKER_EPHEMERAL: undefined,
    BUF_BREAKING_AGAINST: undefined,
    GITHUB_HEAD_REF: undefined,
    GITHUB_REF_NAME: undefined,
    ...extra,
  };
}

/** A step of the workflow: scripts/release/pipeline.sh <args> in a checkout. */
const pipeline = (checkout: string, args: string[], env: Record<string, string | undefined> = {}) =>
  exec("bash", ["scripts/release/pipeline.sh", ...args], checkout, stepEnv(env));

/** CI's checkout: a shallow clone (depth 1) of origin at a branch or tag. */
async function shallowClone(name: string, ref: string): Promise<string> {
  const dir = path.join(work, name);
  await git(work, "clone", "--quiet", "--depth", "1", "--branch", ref, `file://${origin}`, dir);
  expect(await git(dir, "rev-parse", "--is-shallow-repository")).toBe("true");
  return dir;
}

async function commit(
  message: string,
  fields: string,
  consumerNeeds: Record<string, string>,
): Promise<string> {
  await writeFile(path.join(origin, PROTO), proto(fields));
  // The consumer test writes its pact afresh (pact-js would merge into an old file).
  await rm(path.join(origin, "contracts/shop-stock.json"), { force: true });
  await writeConsumerPact({
    consumer: "shop",
    provider: "stock",
    dir: path.join(origin, "contracts"),
    fields: consumerNeeds,
  });
  await git(origin, "add", "-A");
  await git(origin, "commit", "--quiet", "-m", message);
  return git(origin, "rev-parse", "--short", "HEAD");
}

async function deployed(): Promise<string[]> {
  const text = await readFile(deployLog, "utf8").catch(() => "");
  return text.split("\n").filter((l) => l !== "");
}

async function verify(checkout: string, sends: Record<string, unknown>): Promise<void> {
  // Stands in for `pipeline.sh verify` (the provider's contract test with the
  // pact-js Verifier, results published), with a tiny provider.
  const server = await startProvider(sends);
  try {
    const version = await git(checkout, "rev-parse", "--short", "HEAD");
    const result = await verifyFromBroker({
      brokerUrl: broker.url,
      provider: "stock",
      providerVersion: version,
      providerBaseUrl: server.url,
      enablePending: true,
    });
    expect(result).toBe("passed");
  } finally {
    await server.close();
  }
}

beforeAll(async () => {
  ({ dir: work, remove: removeWork } = await tempDir());
  origin = path.join(work, "origin");
  deployLog = path.join(work, "deployed.log");
  const deploy = path.join(work, "deploy.sh");
  await writeFile(
    deploy,
    `#!/usr/bin/env bash\necho "$1 $(git rev-parse --short HEAD) $2" >> ${JSON.stringify(deployLog)}\n`,
  );
  await chmod(deploy, 0o755);

  await mkdir(path.join(origin, path.dirname(PROTO)), { recursive: true });
  await mkdir(path.join(origin, "contracts"), { recursive: true });
  for (const file of SCRIPTS) {
    await mkdir(path.join(origin, path.dirname(file)), { recursive: true });
    await cp(path.join(ROOT, file), path.join(origin, file));
  }
  await cp(path.join(ROOT, "buf.yaml"), path.join(origin, "buf.yaml"));
  await git(origin, "init", "--quiet", "--initial-branch", "main");
  commits.push(await commit("stock sends id, shop reads it", "  string id = 1;\n", { id: "1" }));
  await git(origin, "tag", "v1");
  // The coordinated change: stock adds name, shop needs it, in one commit.
  commits.push(
    await commit("stock adds name, shop reads it", "  string id = 1;\n  string name = 2;\n", {
      id: "1",
      name: "x",
    }),
  );
  // A breaking change on a branch: id deleted without being reserved.
  await git(origin, "checkout", "--quiet", "-b", "breaking");
  await writeFile(path.join(origin, PROTO), proto("  string name = 2;\n"));
  await git(origin, "commit", "--quiet", "-am", "id deleted");
  await git(origin, "checkout", "--quiet", "main");

  broker = await startBroker();
});

afterAll(async () => {
  await broker?.stop();
  await removeWork?.();
});

describe("buf breaking in a CI checkout", () => {
  it("refuses to skip in a shallow clone without history", async () => {
    const clone = await shallowClone("shallow-main", "main");
    const r = await exec("bash", ["scripts/buf-breaking.sh"], clone, stepEnv());
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toContain("shallow clone");
    expect(r.output).not.toMatch(/skipped/i);

    const missing = await exec(
      "bash",
      ["scripts/buf-breaking.sh"],
      clone,
      stepEnv({ BUF_BREAKING_AGAINST: "origin/nope" }),
    );
    expect(missing.code, missing.output).not.toBe(0);
    expect(missing.output).toContain("origin/nope, is not in this clone");
  });

  it("works once the base is fetched", async () => {
    const clone = await shallowClone("shallow-deepened", "main");
    await git(clone, "fetch", "--quiet", "--deepen=1", "origin");
    const r = await exec("bash", ["scripts/buf-breaking.sh"], clone, stepEnv());
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`no breaking change against HEAD~1 (${commits[0]})`);
  });

  it("passes the genuine first commit of a repository (complete, not shallow)", async () => {
    const first = await shallowClone("first", "v1");
    await git(first, "fetch", "--quiet", "--unshallow", "origin");
    expect(await git(first, "rev-parse", "--is-shallow-repository")).toBe("false");
    const r = await exec("bash", ["scripts/buf-breaking.sh"], first, stepEnv());
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("is the first commit of the repository");
  });

  it("pipeline.sh breaking fails without a released/<env> tag, instead of skipping", async () => {
    const clone = await shallowClone("no-tag", "main");
    const r = await pipeline(clone, ["breaking"]);
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toContain("no tag released/production");
  });
});

describe("release.yml's steps against the broker", () => {
  it("the deploy step refuses to run without a long-lived broker", async () => {
    const clone = await shallowClone("no-broker", "v1");
    const none = await pipeline(clone, ["deploy", "stock"], { PACT_BROKER_BASE_URL: "" });
    expect(none.code, none.output).not.toBe(0);
    expect(none.output).toContain("no Pact Broker configured");
    const ephemeral = await pipeline(clone, ["deploy", "stock"], { PACT_BROKER_EPHEMERAL: "true" });
    expect(ephemeral.code, ephemeral.output).not.toBe(0);
    expect(ephemeral.output).toContain("keeps no deployment history");
    expect(await deployed()).toEqual([]);
  });

  it("the deploy step fails closed without broker credentials, or with wrong ones", async () => {
    const clone = await shallowClone("no-credentials", "v1");
    // On CI the public dev secret is no default: a missing secret stops the step.
    const missing = await pipeline(clone, ["deploy", "stock"], {
      CI: "true",
      GITHUB_ACTIONS: "true",
      PACT_BROKER_CLIENT_SECRET: undefined,
    });
    expect(missing.code, missing.output).not.toBe(0);
    expect(missing.output).toContain("PACT_BROKER_CLIENT_SECRET is not set");
    expect(missing.output).toContain("no credentials for the broker");
    const wrong = await pipeline(clone, ["deploy", "stock"], { PACT_BROKER_CLIENT_SECRET: "not-the-secret" });
    expect(wrong.code, wrong.output).not.toBe(0);
    expect(wrong.output).toContain("identity provider refused a token for accord-ci");
    expect(wrong.output).not.toContain("not-the-secret");
    // A made-up token is taken as given, and the broker refuses the write.
    const forged = await exec("bash", ["scripts/release/publish-pacts.sh"], clone, {
      ...stepEnv(),
      PACT_BROKER_TOKEN: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
    });
    expect(forged.code, forged.output).not.toBe(0);
    expect(forged.output).toContain("401 Unauthorized");
    expect((await broker.request(`/pacticipants/shop/versions/${commits[0]}`)).status).toBe(404);
    expect(await deployed()).toEqual([]);
  });

  it("release 1: publish, verify, then per service can-i-deploy -> deploy -> record; the tag moves", async () => {
    const r1 = await shallowClone("release-1", "v1");
    // The first release has no tag yet: the base is given (workflow_dispatch input `base`).
    const breaking = await pipeline(r1, ["breaking"], { BUF_BREAKING_AGAINST: "HEAD" });
    expect(breaking.code, breaking.output).toBe(0);
    const published = await pipeline(r1, ["publish"]);
    expect(published.code, published.output).toBe(0);
    await verify(r1, { id: "1" });
    for (const service of ["stock", "shop"]) {
      const step = await pipeline(r1, ["deploy", service]);
      expect(step.code, step.output).toBe(0);
    }
    expect(await deployed()).toEqual([`stock ${commits[0]} production`, `shop ${commits[0]} production`]);
    const marked = await pipeline(r1, ["mark-released"]);
    expect(marked.code, marked.output).toBe(0);
    expect(await git(origin, "rev-parse", "--short", "released/production^{commit}")).toBe(commits[0]);
  });

  it("release 2 (coordinated change): buf breaking against the release, all-up-front refuses, providers-first releases", async () => {
    const r2 = await shallowClone("release-2", "main");
    // The base is the last release, fetched by the step itself into the shallow clone.
    const breaking = await pipeline(r2, ["breaking"]);
    expect(breaking.code, breaking.output).toBe(0);
    expect(breaking.output).toContain(
      `no breaking change against refs/tags/released/production (${commits[0]})`,
    );
    const published = await pipeline(r2, ["publish"]);
    expect(published.code, published.output).toBe(0);
    await verify(r2, { id: "1", name: "x" });

    // The old contracts step: can-i-deploy for every service before any is deployed.
    const upFront: Record<string, Result> = {};
    for (const service of ["stock", "shop"])
      upFront[service] = await exec("bash", ["scripts/release/can-i-deploy.sh", service], r2, stepEnv());
    expect(upFront.stock?.code, upFront.stock?.output).toBe(0);
    expect(upFront.shop?.code, upFront.shop?.output).toBe(1);
    expect(upFront.shop?.output).toContain("Computer says no");

    // Consumer first: its gate says no and nothing is deployed.
    const shopFirst = await pipeline(r2, ["deploy", "shop"]);
    expect(shopFirst.code, shopFirst.output).not.toBe(0);
    expect(await deployed()).toHaveLength(2);

    // release.yml's order: the provider, then its consumer, each asked right before it deploys.
    for (const service of ["stock", "shop"]) {
      const step = await pipeline(r2, ["deploy", service]);
      expect(step.code, step.output).toBe(0);
      expect(step.output).toContain("Computer says yes");
    }
    expect((await deployed()).slice(2)).toEqual([
      `stock ${commits[1]} production`,
      `shop ${commits[1]} production`,
    ]);
    const marked = await pipeline(r2, ["mark-released"]);
    expect(marked.code, marked.output).toBe(0);
    expect(await git(origin, "rev-parse", "--short", "released/production^{commit}")).toBe(commits[1]);

    // contracts-pr.yml's gate: each is compatible with the other's main branch.
    const merge = await pipeline(r2, ["can-i-merge"], { RELEASE_PACTICIPANTS: "stock shop" });
    expect(merge.code, merge.output).toBe(0);
    expect(merge.output).toContain("Computer says yes");
  });

  it("buf breaking against the release catches a deleted, unreserved field", async () => {
    const clone = await shallowClone("breaking", "breaking");
    const r = await pipeline(clone, ["breaking"]);
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toContain('deleted without reserving the number "1"');
  });
});

describe("release.yml and contracts-pr.yml call pipeline.sh", () => {
  it("the deploy job asks the gate per service, providers first, with no step skipped by an if:", async () => {
    const yml = await readFile(path.join(ROOT, ".github/workflows/release.yml"), "utf8");
    const deployJob = yml.slice(yml.indexOf("\n  deploy:"));
    expect(deployJob).not.toMatch(/^\s+if:/m);
    expect(yml).not.toContain("can-i-deploy.sh");
    expect(yml.slice(0, yml.indexOf("\n  deploy:"))).not.toContain("pipeline.sh deploy");
    for (const step of ["breaking", "consumer-tests", "publish", "verify", "mark-released"])
      expect(yml).toContain(`scripts/release/pipeline.sh ${step}`);

    const order = [...deployJob.matchAll(/scripts\/release\/pipeline\.sh deploy (\S+)/g)].map(
      (m) => m[1] ?? "",
    );
    expect(order).toEqual([
      "catalog",
      "inventory",
      "payments",
      "shipping",
      "orders",
      "notifications",
      "orchestrator",
    ]);
    // Each consumer after its providers (contracts/<consumer>-<provider>.json).
    for (const file of await readdir(path.join(ROOT, "contracts"))) {
      if (!file.endsWith(".json")) continue;
      const pact = JSON.parse(await readFile(path.join(ROOT, "contracts", file), "utf8")) as {
        consumer: { name: string };
        provider: { name: string };
      };
      const consumer = order.indexOf(pact.consumer.name);
      if (consumer === -1) continue; // not deployed by this workflow (accord-cli, partner-webhook)
      expect(order.indexOf(pact.provider.name), file).toBeGreaterThanOrEqual(0);
      expect(order.indexOf(pact.provider.name), file).toBeLessThan(consumer);
    }
  });

  it("the pull-request workflow runs buf breaking against the base branch and can-i-merge", async () => {
    const yml = await readFile(path.join(ROOT, ".github/workflows/contracts-pr.yml"), "utf8");
    expect(yml).toMatch(/BUF_BREAKING_AGAINST: origin\/\$\{\{ github\.base_ref \}\}/);
    for (const step of ["require-broker", "breaking", "consumer-tests", "publish", "verify", "can-i-merge"])
      expect(yml).toContain(`scripts/release/pipeline.sh ${step}`);
  });
});
