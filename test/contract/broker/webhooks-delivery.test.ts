import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { tempDir, writeConsumerPact } from "#test/contract/pact-gate-harness.ts";
import { type BrokerProcess, putVersion, startBroker, startRecordingServer } from "#test/support/broker.ts";

// How webhooks are delivered: a failed attempt is retried on the retry
// schedule (longer and longer waits) until it succeeds or the schedule runs
// out; every attempt is recorded with its log; the host allowlist is checked
// again before each attempt, so a request to a host no longer allowed never
// opens a connection; a disabled webhook does not fire.

const SCHEDULE = [0.3, 0.6, 1.2] as const;

let broker: BrokerProcess;
const cleanups: (() => Promise<void>)[] = [];

interface Triggered {
  uuid: string;
  status: string;
  attemptsMade: number;
  attemptsRemaining: number;
  eventName: string;
  _links: { "pb:logs": { href: string } };
}

interface Logs {
  status: string;
  logs: string;
  executions: { success: boolean; logs: string }[];
}

async function publish(b: BrokerProcess, consumer: string, provider: string, version: string) {
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  await writeConsumerPact({ consumer, provider, dir: tmp.dir, fields: { id: "1" } });
  const r = await b.cli(["publish", tmp.dir, "--consumer-app-version", version, "--branch", "main"]);
  expect(r.code, r.output).toBe(0);
}

async function createWebhook(
  b: BrokerProcess,
  provider: string,
  url: string,
  extra: Record<string, unknown> = {},
) {
  const r = await b.request("/webhooks", {
    method: "POST",
    body: {
      provider: { name: provider },
      events: [{ name: "contract_published" }],
      request: {
        method: "POST",
        url,
        headers: { "X-Api-Token": "top-secret", "Content-Type": "application/json" },
        body: { pact: `\${pactbroker.pactUrl}` },
      },
      ...extra,
    },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (r.body as { uuid: string }).uuid;
}

async function triggered(b: BrokerProcess, provider: string, consumer: string): Promise<Triggered[]> {
  const r = await b.request(`/pacts/provider/${provider}/consumer/${consumer}/webhooks/status`);
  expect(r.status).toBe(200);
  return (r.body as { _embedded: { triggeredWebhooks: Triggered[] } })._embedded.triggeredWebhooks;
}

async function logsOf(b: BrokerProcess, t: Triggered): Promise<Logs> {
  return (await b.request(t._links["pb:logs"].href.slice(b.url.length))).body as Logs;
}

beforeAll(async () => {
  broker = await startBroker({
    env: { PACT_BROKER_WEBHOOK_RETRY_SCHEDULE: SCHEDULE.join(" "), PACT_BROKER_WEBHOOK_POLL_MS: "100" },
  });
});

afterAll(async () => {
  for (const c of cleanups) await c();
  await broker?.stop();
});

describe("webhook delivery", () => {
  it("retries a failing webhook with growing waits until it succeeds, recording every attempt", async () => {
    const flaky = await startRecordingServer((_request, index) => ({
      status: index < 2 ? 503 : 200,
      body: "ok",
    }));
    cleanups.push(flaky.close);
    await putVersion(broker.url, "flaky-api", "a1", "main");
    await createWebhook(broker, "flaky-api", `${flaky.url}/hook`);
    await publish(broker, "flaky-web", "flaky-api", "w1");

    await vi.waitFor(
      async () => expect((await triggered(broker, "flaky-api", "flaky-web"))[0]?.status).toBe("success"),
      { timeout: 20_000, interval: 100 },
    );
    expect(flaky.requests).toHaveLength(3);
    const [first, second, third] = flaky.requests.map((r) => r.at);
    // Each wait at least the schedule's, and the second longer than the first.
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(SCHEDULE[0] * 1000 - 50);
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(SCHEDULE[1] * 1000 - 50);

    const [t] = await triggered(broker, "flaky-api", "flaky-web");
    expect(t).toMatchObject({ attemptsMade: 3, attemptsRemaining: 0, eventName: "contract_published" });
    const logs = await logsOf(broker, t as Triggered);
    expect(logs.executions.map((e) => e.success)).toEqual([false, false, true]);
    expect(logs.executions[0]?.logs).toContain("HTTP/1.1 503");
    expect(logs.executions[0]?.logs).toContain("Retrying in 0.3 s (attempt 2 of 4)");
    expect(logs.executions[2]?.logs).toContain("Webhook execution succeeded");
    // The token header went out, but never into the logs.
    expect(flaky.requests[0]?.headers["x-api-token"]).toBe("top-secret");
    expect(logs.logs).toContain("X-Api-Token: **********");
    expect(logs.logs).not.toContain("top-secret");
  });

  it("gives up when the schedule runs out, and says so in the status and the error logs", async () => {
    const broken = await startRecordingServer(() => ({ status: 500, body: "boom" }));
    cleanups.push(broken.close);
    await putVersion(broker.url, "down-api", "a1", "main");
    await createWebhook(broker, "down-api", `${broken.url}/hook`);
    await publish(broker, "down-web", "down-api", "w1");

    await vi.waitFor(
      async () => expect((await triggered(broker, "down-api", "down-web"))[0]?.status).toBe("failure"),
      { timeout: 20_000, interval: 100 },
    );
    expect(broken.requests).toHaveLength(SCHEDULE.length + 1);
    const status = await broker.request("/pacts/provider/down-api/consumer/down-web/webhooks/status");
    expect(status.body).toMatchObject({ summary: { successful: 0, failed: 1, retrying: 0, notRun: 0 } });
    const errorLogs = (status.body as { _links: { "pb:error-logs": { href: string }[] } })._links[
      "pb:error-logs"
    ];
    expect(errorLogs).toHaveLength(1);
    const logs = (await broker.request(errorLogs[0]?.href.slice(broker.url.length) ?? "")).body as Logs;
    expect(logs.status).toBe("failure");
    expect(logs.executions.at(-1)?.logs).toContain("Webhook execution failed");
  });

  it("retries when nothing listens at the URL", async () => {
    const gone = await startRecordingServer();
    const url = `${gone.url}/hook`;
    await gone.close();
    await putVersion(broker.url, "void-api", "a1", "main");
    await createWebhook(broker, "void-api", url);
    await publish(broker, "void-web", "void-api", "w1");
    await vi.waitFor(
      async () => expect((await triggered(broker, "void-api", "void-web"))[0]?.status).toBe("failure"),
      { timeout: 20_000, interval: 100 },
    );
    const [t] = await triggered(broker, "void-api", "void-web");
    const logs = await logsOf(broker, t as Triggered);
    expect(logs.executions).toHaveLength(SCHEDULE.length + 1);
    expect(logs.logs).toContain("Error executing webhook");
  });

  it("does not fire a disabled webhook", async () => {
    const quiet = await startRecordingServer();
    cleanups.push(quiet.close);
    await putVersion(broker.url, "off-api", "a1", "main");
    await createWebhook(broker, "off-api", `${quiet.url}/hook`, { enabled: false });
    await publish(broker, "off-web", "off-api", "w1");
    // Long enough for the runner to have looked (its poll is 100 ms here).
    await new Promise((r) => setTimeout(r, 1000));
    expect(await triggered(broker, "off-api", "off-web")).toEqual([]);
    expect(quiet.requests).toEqual([]);
  });

  it("checks the host allowlist before each attempt: no connection to a host no longer allowed", async () => {
    const target = await startRecordingServer();
    cleanups.push(target.close);
    const first = await startBroker();
    let second: BrokerProcess | undefined;
    try {
      await putVersion(first.url, "fence-api", "a1", "main");
      await createWebhook(first, "fence-api", `${target.url}/hook`);
      await first.process.stop();
      // The same data, but only "localhost" is allowed now, so 127.0.0.1 is not.
      second = await startBroker({
        database: first.database,
        env: { PACT_BROKER_WEBHOOK_HOST_WHITELIST: "localhost", PACT_BROKER_WEBHOOK_RETRY_SCHEDULE: "" },
      });
      await publish(second, "fence-web", "fence-api", "w1");
      const b = second;
      await vi.waitFor(
        async () => expect((await triggered(b, "fence-api", "fence-web"))[0]?.status).toBe("failure"),
        { timeout: 20_000, interval: 100 },
      );
      const [t] = await triggered(b, "fence-api", "fence-web");
      const logs = await logsOf(b, t as Triggered);
      expect(logs.logs).toContain("Request not sent: host 127.0.0.1 is not in the webhook host allowlist");
      expect(target.connections()).toBe(0);
      expect(target.requests).toEqual([]);
    } finally {
      await second?.stop();
      await first.stop();
    }
  });
});
