import { type ChildProcess, spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Verifier } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startProvider, tempDir, writeConsumerPact } from "#test/contract/pact-gate-harness.ts";
import {
  type BrokerProcess,
  putVersion,
  type RecordedRequest,
  releaseToken,
  startBroker,
  startRecordingServer,
} from "#test/support/broker.ts";
import { freePort, ROOT } from "#test/support/service-process.ts";

// The loop the webhooks close: a consumer publishes a pact, the broker's
// contract_requiring_verification_published webhook triggers the provider's
// verification of exactly that pact for the provider version in production,
// the result is published, and the consumer's can-i-deploy
// --retry-while-unknown, started right after the publish, turns to yes with
// no manual step. Then the local verification runner
// (scripts/release/verification-runner.ts) as such a webhook's target.

let broker: BrokerProcess;
const cleanups: (() => Promise<void>)[] = [];

/** The webhook body the provider's "CI" gets: the broker's template parameters. */
const VERIFY_BODY = {
  provider: `\${pactbroker.providerName}`,
  pactUrl: `\${pactbroker.pactUrl}`,
  providerVersion: `\${pactbroker.providerVersionNumber}`,
  providerBranch: `\${pactbroker.providerVersionBranch}`,
};

interface VerifyRequest {
  provider: string;
  pactUrl: string;
  providerVersion: string;
  providerBranch: string;
}

async function publish(consumer: string, provider: string, version: string, fields: Record<string, string>) {
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  await writeConsumerPact({ consumer, provider, dir: tmp.dir, fields });
  const r = await broker.cli(["publish", tmp.dir, "--consumer-app-version", version, "--branch", "main"]);
  expect(r.code, r.output).toBe(0);
}

async function deploy(pacticipant: string, version: string) {
  const r = await broker.cli([
    "record-deployment",
    "--pacticipant",
    pacticipant,
    "--version",
    version,
    "--environment",
    "production",
  ]);
  expect(r.code, r.output).toBe(0);
}

async function createWebhook(provider: string, url: string) {
  const r = await broker.cli([
    "create-webhook",
    url,
    "--request",
    "POST",
    "--header",
    "Content-Type: application/json",
    "--data",
    JSON.stringify(VERIFY_BODY),
    "--provider",
    provider,
    "--description",
    `verify changed pacts of ${provider}`,
    "--contract-requiring-verification-published",
  ]);
  expect(r.code, r.output).toBe(0);
}

beforeAll(async () => {
  broker = await startBroker({ env: { PACT_BROKER_WEBHOOK_POLL_MS: "200" } });
  expect((await broker.cli(["create-environment", "--name", "production", "--production"])).code).toBe(0);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await broker?.stop();
});

describe("webhook-triggered verification", () => {
  it("can-i-deploy --retry-while-unknown resolves by itself once the webhook's verification is published", async () => {
    // The provider: p1 is its main branch's latest and runs in production.
    await putVersion(broker.url, "loop-api", "p1", "main");
    await deploy("loop-api", "p1");

    // Its CI: on the webhook, queue a build that verifies exactly the pact it
    // was given as the provider version it was given, and publishes the result.
    const builds: Promise<void>[] = [];
    const ci = await startRecordingServer((request: RecordedRequest) => {
      const job = JSON.parse(request.body) as VerifyRequest;
      builds.push(
        (async () => {
          const app = await startProvider({ id: "1", total: "5" });
          try {
            await new Verifier({
              provider: job.provider,
              providerBaseUrl: app.url,
              pactUrls: [job.pactUrl],
              publishVerificationResult: true,
              pactBrokerToken: await releaseToken(),
              providerVersion: job.providerVersion,
              providerVersionBranch: job.providerBranch,
              stateHandlers: { "order 1 exists": async () => {} },
              logLevel: "error",
            }).verifyProvider();
          } finally {
            await app.close();
          }
        })(),
      );
      return { status: 202, body: "queued" };
    });
    cleanups.push(async () => {
      await Promise.allSettled(builds);
      await ci.close();
    });
    await createWebhook("loop-api", `${ci.url}/builds`);

    await publish("loop-web", "loop-api", "c1", { id: "1", total: "5" });
    const gate = await broker.cli(
      [
        "can-i-deploy",
        "--pacticipant",
        "loop-web",
        "--version",
        "c1",
        "--to-environment",
        "production",
        "--retry-while-unknown",
        "40",
        "--retry-interval",
        "1",
      ],
      { timeoutMs: 90_000 },
    );
    expect(gate.code, gate.output).toBe(0);
    expect(gate.output).toContain("Computer says yes");

    // Nobody verified by hand: one webhook, for the version in production, and its build did it.
    expect(ci.requests).toHaveLength(1);
    const job = JSON.parse(ci.requests[0]?.body ?? "{}") as VerifyRequest;
    expect(job).toMatchObject({ provider: "loop-api", providerVersion: "p1", providerBranch: "main" });
    expect(job.pactUrl).toMatch(
      /\/pacts\/provider\/loop-api\/consumer\/loop-web\/pact-version\/[0-9a-f]+\/metadata\//,
    );
    await Promise.all(builds);
  });

  it("the local verification runner takes the webhook and runs the verify command with that pact and version", async () => {
    const tmp = await tempDir();
    cleanups.push(tmp.remove);
    const record = path.join(tmp.dir, "calls.txt");
    const fake = path.join(tmp.dir, "fake-verify.sh");
    // Stands in for scripts/release/verify-provider.sh: records what it was asked to verify.
    await writeFile(
      fake,
      `printf '%s|%s|%s|%s|%s|%s\\n' "$1" "$2" "$3" "$PACT_VERSION" "$PACT_BRANCH" "$PACT_URL" >> '${record}'\n`,
    );
    const port = await freePort();
    const runner: ChildProcess = spawn(
      process.execPath,
      [path.join(ROOT, "scripts/release/verification-runner.ts")],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          VERIFICATION_RUNNER_PORT: String(port),
          VERIFICATION_RUNNER_COMMAND: JSON.stringify(["bash", fake]),
        },
        stdio: "ignore",
      },
    );
    cleanups.push(async () => {
      if (runner.exitCode === null) {
        const exited = new Promise((resolve) => runner.once("exit", resolve));
        runner.kill("SIGTERM");
        await exited;
      }
    });
    const jobs = async () =>
      (
        (await (await fetch(`http://127.0.0.1:${port}/jobs`)).json()) as {
          jobs: { state: string; exitCode: number }[];
        }
      ).jobs;
    await vi.waitFor(jobs, { timeout: 15_000, interval: 100 });

    await putVersion(broker.url, "runner-api", "r7", "main");
    await createWebhook("runner-api", `http://127.0.0.1:${port}/verify`);
    await publish("runner-web", "runner-api", "c1", { id: "1" });

    await vi.waitFor(async () => expect(await jobs()).toMatchObject([{ state: "done", exitCode: 0 }]), {
      timeout: 20_000,
      interval: 100,
    });
    const [provider, testFile, pactUrl, version, branch, envUrl] = (await readFile(record, "utf8"))
      .trim()
      .split("|");
    expect({ provider, testFile, version, branch }).toEqual({
      provider: "runner-api",
      testFile: "",
      version: "r7",
      branch: "main",
    });
    expect(envUrl).toBe(pactUrl);
    expect(pactUrl).toMatch(
      new RegExp(`^${broker.url}/pacts/provider/runner-api/consumer/runner-web/pact-version/`),
    );
    // The broker recorded the webhook as delivered (the runner answers 202 at once).
    const status = await broker.request("/pacts/provider/runner-api/consumer/runner-web/webhooks/status");
    expect(status.body).toMatchObject({ summary: { successful: 1, failed: 0 } });
  });
});
