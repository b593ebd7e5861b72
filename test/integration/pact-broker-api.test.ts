import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearerFor } from "#test/support/identity.ts";
import {
  type Broker,
  cli,
  startBroker,
  startProvider,
  tempDir,
  verifyFromBroker,
  writeConsumerPact,
} from "../contract/pact-gate-harness.ts";

// Accord's Pact Broker as a process: content dedup, deployments replacing
// each other, refusals of bad input, and the release scripts against it.
// Writes carry the CI client's real token (role release, audience pact-broker).

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let broker: Broker;
const cleanups: (() => Promise<void>)[] = [];
const run = (args: string[]) => cli(broker.url, args);

function script(
  name: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      "bash",
      [path.join(ROOT, "scripts/release", name), ...args],
      {
        cwd: ROOT,
        // The broker is this test's own, so the dev realm's CI secret may write to it (also under CI=true).
        env: {
          ...process.env,
          PACT_BROKER_BASE_URL: broker.url,
          PACT_BRANCH: "main",
          PACT_BROKER_EPHEMERAL: "true",
          ...env,
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === "number" ? error.code : 1) : 0,
          output: `${stdout}${stderr}`,
        }),
    );
  });
}

async function pactDir(consumer: string, provider: string, fields: Record<string, string | number>) {
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  await writeConsumerPact({ consumer, provider, dir: tmp.dir, fields });
  return tmp.dir;
}

beforeAll(async () => {
  broker = await startBroker();
  expect((await run(["create-environment", "--name", "production", "--production"])).code).toBe(0);
});

afterAll(async () => {
  for (const c of cleanups) await c();
  await broker?.stop();
});

describe("pact broker", () => {
  it("stores identical pact content once, so one verification counts for every consumer version", async () => {
    const dir = await pactDir("dedup-web", "dedup-api", { id: "1" });
    for (const v of ["w1", "w2"])
      expect((await run(["publish", dir, "--consumer-app-version", v, "--branch", "main"])).code).toBe(0);

    const server = await startProvider({ id: "1" });
    try {
      // Only the latest main-branch pact is selected (w2), yet the content is w1's too.
      expect(
        await verifyFromBroker({
          brokerUrl: broker.url,
          provider: "dedup-api",
          providerVersion: "a1",
          providerBaseUrl: server.url,
          enablePending: true,
        }),
      ).toBe("passed");
    } finally {
      await server.close();
    }
    expect(
      (
        await run([
          "record-deployment",
          "--pacticipant",
          "dedup-api",
          "--version",
          "a1",
          "--environment",
          "production",
        ])
      ).code,
    ).toBe(0);
    const w1 = await run([
      "can-i-deploy",
      "--pacticipant",
      "dedup-web",
      "--version",
      "w1",
      "--to-environment",
      "production",
    ]);
    expect(w1.code, w1.output).toBe(0);

    const sha = (await (
      await fetch(`${broker.url}/pacts/provider/dedup-api/consumer/dedup-web/version/w1`)
    ).json()) as {
      _links: { self: { href: string } };
    };
    const sha2 = (await (
      await fetch(`${broker.url}/pacts/provider/dedup-api/consumer/dedup-web/version/w2`)
    ).json()) as {
      _links: { self: { href: string } };
    };
    expect(sha._links.self.href).toBe(sha2._links.self.href);
  });

  it("a new deployment replaces the previous one in the environment", async () => {
    const dir = await pactDir("swap-web", "swap-api", { id: "1", total: 1 });
    expect((await run(["publish", dir, "--consumer-app-version", "s1", "--branch", "main"])).code).toBe(0);
    for (const [version, body] of [
      ["good", { id: "1", total: 1 }],
      ["bad", { id: "1" }],
    ] as const) {
      const server = await startProvider(body);
      try {
        await verifyFromBroker({
          brokerUrl: broker.url,
          provider: "swap-api",
          providerVersion: version,
          providerBaseUrl: server.url,
          enablePending: true,
        });
      } finally {
        await server.close();
      }
    }
    const deploy = (v: string) =>
      run(["record-deployment", "--pacticipant", "swap-api", "--version", v, "--environment", "production"]);
    const check = () =>
      run(["can-i-deploy", "--pacticipant", "swap-web", "--version", "s1", "--to-environment", "production"]);
    expect((await deploy("good")).code).toBe(0);
    expect((await check()).code).toBe(0);
    expect((await deploy("bad")).code).toBe(0);
    const after = await check();
    expect(after.code, after.output).toBe(1);
    expect(after.output).toContain("the version of swap-api currently in production (bad)");
  });

  it("refuses bad input with 400/404 instead of failing", async () => {
    // A valid token, so what is refused is the input, not the caller.
    const release = {
      "content-type": "application/json",
      authorization: await bearerFor("accord-ci", "pact-broker"),
    };
    const publish = await fetch(`${broker.url}/contracts/publish`, {
      method: "POST",
      headers: release,
      body: JSON.stringify({
        pacticipantName: "x",
        pacticipantVersionNumber: "1",
        contracts: [
          { consumerName: "x", providerName: "y", specification: "pact", content: "not base64 json" },
        ],
      }),
    });
    expect(publish.status).toBe(400);
    expect(JSON.stringify(await publish.json())).toContain("contracts[0].content");

    expect((await fetch(`${broker.url}/pacticipants/nobody`)).status).toBe(404);
    expect((await fetch(`${broker.url}/matrix?latestby=cvp`)).status).toBe(400);
    const pfv = await fetch(`${broker.url}/pacts/provider/dedup-api/for-verification`, {
      method: "POST",
      headers: release,
      body: JSON.stringify({ consumerVersionSelectors: [{ matchingBranch: true }] }),
    });
    expect(pfv.status).toBe(400);
    const unknownEnv = await run([
      "can-i-deploy",
      "--pacticipant",
      "dedup-web",
      "--version",
      "w1",
      "--to-environment",
      "nowhere",
    ]);
    expect(unknownEnv.code).not.toBe(0);
    expect((await fetch(`${broker.url}/readyz`)).status).toBe(200);
  });

  it("release scripts: publish, gate, record; an unknown version is refused with a hint", async () => {
    const dir = await pactDir("script-web", "script-api", { id: "1" });
    const env = { PACT_VERSION: "sw1" };
    const published = await script("publish-pacts.sh", [dir], env);
    expect(published.code, published.output).toBe(0);

    // The consumer needs its provider in staging first (the real broker's rule).
    const blocked = await script("can-i-deploy.sh", ["script-web", "staging"], env);
    expect(blocked.code, blocked.output).toBe(1);
    expect(blocked.output).toContain("no version is currently recorded as deployed/released");

    const unknown = await script("can-i-deploy.sh", ["script-api", "staging"], { PACT_VERSION: "sa1" });
    expect(unknown.code).not.toBe(0);
    expect(unknown.output).toContain("is unknown to the broker");

    const server = await startProvider({ id: "1" });
    try {
      expect(
        await verifyFromBroker({
          brokerUrl: broker.url,
          provider: "script-api",
          providerVersion: "sa1",
          providerBaseUrl: server.url,
          enablePending: true,
        }),
      ).toBe("passed");
    } finally {
      await server.close();
    }
    const api = await script("can-i-deploy.sh", ["script-api", "staging"], { PACT_VERSION: "sa1" });
    expect(api.code, api.output).toBe(0);
    expect(
      (await script("record-deployment.sh", ["script-api", "staging"], { PACT_VERSION: "sa1" })).code,
    ).toBe(0);
    const web = await script("can-i-deploy.sh", ["script-web", "staging"], env);
    expect(web.code, web.output).toBe(0);
  });
});
