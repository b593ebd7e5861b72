import { Verifier } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startProvider, tempDir, writeConsumerPact } from "#test/contract/pact-gate-harness.ts";
import {
  type BrokerProcess,
  putVersion,
  type RecordedRequest,
  type RecordingServer,
  releaseToken,
  startBroker,
  startRecordingServer,
} from "#test/support/broker.ts";

// Which events fire which webhooks, with which ${pactbroker.*} parameters,
// as the real broker does: contract_published, contract_content_changed,
// contract_requiring_verification_published (once per provider version that
// has to verify: the main branch's latest and each deployed or released one),
// provider_verification_published/succeeded/failed. Webhooks run after the
// publishing request committed, not inside it.

const PARAMETERS = [
  "pactbroker.consumerName",
  "pactbroker.providerName",
  "pactbroker.consumerVersionNumber",
  "pactbroker.providerVersionNumber",
  "pactbroker.providerVersionTags",
  "pactbroker.providerVersionDescriptions",
  "pactbroker.providerVersionBranch",
  "pactbroker.consumerVersionTags",
  "pactbroker.consumerVersionBranch",
  "pactbroker.pactUrl",
  "pactbroker.verificationResultUrl",
  "pactbroker.githubVerificationStatus",
  "pactbroker.bitbucketVerificationStatus",
  "pactbroker.azureDevOpsVerificationStatus",
  "pactbroker.gitlabVerificationStatus",
  "pactbroker.consumerLabels",
  "pactbroker.providerLabels",
  "pactbroker.eventName",
  "pactbroker.buildUrl",
];
/** A JSON body naming every parameter: what arrives shows what the broker filled in. */
const EVERY_PARAMETER = Object.fromEntries(PARAMETERS.map((p) => [p, `\${${p}}`]));

let broker: BrokerProcess;
let target: RecordingServer;
const cleanups: (() => Promise<void>)[] = [];

type Sent = Record<string, string>;
const sent = (path: string): Sent[] =>
  target.requests.filter((r) => r.url === path).map((r: RecordedRequest) => JSON.parse(r.body) as Sent);
const byEvent = (path: string, event: string) =>
  sent(path).filter((b) => b["pactbroker.eventName"] === event);

async function createWebhook(path: string, events: string[], scope: Record<string, unknown> = {}) {
  const r = await broker.request("/webhooks", {
    method: "POST",
    body: {
      ...scope,
      events: events.map((name) => ({ name })),
      request: { method: "POST", url: `${target.url}${path}`, body: EVERY_PARAMETER },
    },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

async function publish(version: string, branch: string, fields: Record<string, string>, ...extra: string[]) {
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  await writeConsumerPact({ consumer: "ev-web", provider: "ev-api", dir: tmp.dir, fields });
  const r = await broker.cli([
    "publish",
    tmp.dir,
    "--consumer-app-version",
    version,
    "--branch",
    branch,
    ...extra,
  ]);
  expect(r.code, r.output).toBe(0);
}

/** Verifies exactly the pact at pactUrl, as a provider build triggered by a webhook does. */
async function verifyPactUrl(
  pactUrl: string,
  version: string,
  branch: string,
  sends: Record<string, string>,
) {
  const server = await startProvider(sends);
  try {
    await new Verifier({
      provider: "ev-api",
      providerBaseUrl: server.url,
      pactUrls: [pactUrl],
      publishVerificationResult: true,
      pactBrokerToken: await releaseToken(),
      providerVersion: version,
      providerVersionBranch: branch,
      stateHandlers: { "order 1 exists": async () => {} },
      logLevel: "error",
    }).verifyProvider();
    return "passed";
  } catch {
    return "failed";
  } finally {
    await server.close();
  }
}

beforeAll(async () => {
  broker = await startBroker({ env: { PACT_BROKER_WEBHOOK_POLL_MS: "200" } });
  target = await startRecordingServer();
  expect((await broker.cli(["create-environment", "--name", "production", "--production"])).code).toBe(0);
  // ev-api: a1 runs in production, a2 is the latest of its main branch.
  await putVersion(broker.url, "ev-api", "a1", "main");
  const deployed = await broker.cli([
    "record-deployment",
    "--pacticipant",
    "ev-api",
    "--version",
    "a1",
    "--environment",
    "production",
  ]);
  expect(deployed.code, deployed.output).toBe(0);
  await putVersion(broker.url, "ev-api", "a2", "main");
  await putVersion(broker.url, "ev-web", "w0", "feat-x");
  await createWebhook("/pact-events", [
    "contract_published",
    "contract_content_changed",
    "contract_requiring_verification_published",
  ]);
  await createWebhook(
    "/verification-events",
    ["provider_verification_published", "provider_verification_succeeded", "provider_verification_failed"],
    { provider: { name: "ev-api" } },
  );
});

afterAll(async () => {
  for (const c of cleanups) await c();
  await target?.close();
  await broker?.stop();
});

describe("webhook events", () => {
  it("a first pact: contract_published, contract_content_changed, and one contract_requiring_verification_published per provider version", async () => {
    await publish("w1", "feat-x", { id: "1" }, "--tag", "t1", "--build-url", "http://ci.local/builds/1");
    await vi.waitFor(() => expect(sent("/pact-events")).toHaveLength(4), { timeout: 15_000, interval: 100 });

    const [published] = byEvent("/pact-events", "contract_published");
    expect(published).toMatchObject({
      "pactbroker.consumerName": "ev-web",
      "pactbroker.providerName": "ev-api",
      "pactbroker.consumerVersionNumber": "w1",
      "pactbroker.consumerVersionBranch": "feat-x",
      "pactbroker.consumerVersionTags": "t1",
      "pactbroker.buildUrl": "http://ci.local/builds/1",
      "pactbroker.githubVerificationStatus": "pending",
      "pactbroker.verificationResultUrl": "",
      "pactbroker.consumerLabels": "",
    });
    expect(byEvent("/pact-events", "contract_content_changed")).toHaveLength(1);

    const required = byEvent("/pact-events", "contract_requiring_verification_published");
    expect(
      required
        .map((b) => [
          b["pactbroker.providerVersionNumber"],
          b["pactbroker.providerVersionBranch"],
          b["pactbroker.providerVersionDescriptions"],
        ])
        .sort(),
    ).toEqual([
      ["a1", "main", "currently deployed version (production)"],
      ["a2", "main", "latest version from main branch"],
    ]);

    // The pact URL is the content's permalink, and it answers (the publish had committed).
    const pactUrl = published?.["pactbroker.pactUrl"] ?? "";
    expect(pactUrl).toMatch(
      new RegExp(`^${broker.url}/pacts/provider/ev-api/consumer/ev-web/pact-version/[0-9a-f]+/metadata/`),
    );
    const pact = await fetch(pactUrl);
    expect(pact.status).toBe(200);
    expect(((await pact.json()) as { consumer: { name: string } }).consumer.name).toBe("ev-web");
    for (const b of sent("/pact-events")) expect(b["pactbroker.pactUrl"]).toBe(pactUrl);
  });

  it("the same content again: no contract_content_changed; still required by the versions that have not verified", async () => {
    await publish("w2", "feat-x", { id: "1" });
    await vi.waitFor(() => expect(sent("/pact-events")).toHaveLength(7), { timeout: 15_000, interval: 100 });
    expect(byEvent("/pact-events", "contract_content_changed")).toHaveLength(1);
    expect(
      byEvent("/pact-events", "contract_published").map((b) => b["pactbroker.consumerVersionNumber"]),
    ).toEqual(["w1", "w2"]);
  });

  it("a verification result: provider_verification_published and _succeeded, with the verification's parameters", async () => {
    const [first] = byEvent("/pact-events", "contract_requiring_verification_published");
    const pactUrl = first?.["pactbroker.pactUrl"] ?? "";
    expect(await verifyPactUrl(pactUrl, "a2", "main", { id: "1" })).toBe("passed");
    await vi.waitFor(() => expect(sent("/verification-events")).toHaveLength(2), {
      timeout: 15_000,
      interval: 100,
    });
    expect(
      sent("/verification-events")
        .map((b) => b["pactbroker.eventName"])
        .sort(),
    ).toEqual(["provider_verification_published", "provider_verification_succeeded"]);
    const [result] = sent("/verification-events");
    expect(result).toMatchObject({
      "pactbroker.providerName": "ev-api",
      "pactbroker.providerVersionNumber": "a2",
      "pactbroker.providerVersionBranch": "main",
      "pactbroker.consumerVersionNumber": "w2",
      "pactbroker.githubVerificationStatus": "success",
      "pactbroker.bitbucketVerificationStatus": "SUCCESSFUL",
      "pactbroker.gitlabVerificationStatus": "success",
      "pactbroker.azureDevOpsVerificationStatus": "succeeded",
    });
    const resultUrl = result?.["pactbroker.verificationResultUrl"] ?? "";
    expect(resultUrl).toMatch(/\/verification-results\/\d+$/);
    expect(((await (await fetch(resultUrl)).json()) as { success: boolean }).success).toBe(true);
  });

  it("once a2 verified the content, a new consumer version with it is required of a1 only", async () => {
    await publish("w3", "feat-x", { id: "1" });
    await vi.waitFor(
      () =>
        expect(
          byEvent("/pact-events", "contract_published").map((b) => b["pactbroker.consumerVersionNumber"]),
        ).toContain("w3"),
      { timeout: 15_000, interval: 100 },
    );
    await vi.waitFor(
      () =>
        expect(
          byEvent("/pact-events", "contract_requiring_verification_published")
            .filter((b) => b["pactbroker.consumerVersionNumber"] === "w3")
            .map((b) => b["pactbroker.providerVersionNumber"]),
        ).toEqual(["a1"]),
      { timeout: 15_000, interval: 100 },
    );
  });

  it("a failed verification fires provider_verification_failed", async () => {
    await publish("w4", "feat-x", { id: "1", total: "2" });
    await vi.waitFor(
      () =>
        expect(
          byEvent("/pact-events", "contract_content_changed").map(
            (b) => b["pactbroker.consumerVersionNumber"],
          ),
        ).toEqual(["w1", "w4"]),
      { timeout: 15_000, interval: 100 },
    );
    const [changed] = byEvent("/pact-events", "contract_content_changed").slice(-1);
    expect(await verifyPactUrl(changed?.["pactbroker.pactUrl"] ?? "", "a2", "main", { id: "1" })).toBe(
      "failed",
    );
    await vi.waitFor(
      () => expect(byEvent("/verification-events", "provider_verification_failed")).toHaveLength(1),
      {
        timeout: 15_000,
        interval: 100,
      },
    );
    expect(byEvent("/verification-events", "provider_verification_failed")[0]).toMatchObject({
      "pactbroker.githubVerificationStatus": "failure",
      "pactbroker.consumerVersionNumber": "w4",
    });
  });

  it("runs after the publishing request, not inside it: the publish returns while the webhook is still waiting", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let pactStatus = 0;
    const slow = await startRecordingServer(async (request) => {
      // The webhook's pact URL already answers: the publish had committed.
      pactStatus = (await fetch((JSON.parse(request.body) as Sent)["pactbroker.pactUrl"] ?? "")).status;
      await held;
      return { status: 200 };
    });
    try {
      const r = await broker.request("/webhooks", {
        method: "POST",
        body: {
          consumer: { name: "ev-web" },
          events: [{ name: "contract_published" }],
          request: { method: "POST", url: `${slow.url}/slow`, body: EVERY_PARAMETER },
        },
      });
      expect(r.status).toBe(201);
      await publish("w5", "feat-x", { id: "1" });
      // The publish is done; the webhook has been sent and is not answered yet.
      // The webhook's own fetch of the pact URL answers after the request was
      // recorded, so both are awaited (asserting pactStatus at once raced it).
      await vi.waitFor(
        () => {
          expect(slow.requests).toHaveLength(1);
          expect(pactStatus).toBe(200);
        },
        { timeout: 15_000, interval: 50 },
      );
    } finally {
      release();
      await slow.close();
    }
  });
});
