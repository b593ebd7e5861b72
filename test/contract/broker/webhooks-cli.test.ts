import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrokerProcess,
  putVersion,
  type RecordingServer,
  startBroker,
  startRecordingServer,
} from "#test/support/broker.ts";

// The official CLI's webhook commands against Accord's broker: create-webhook,
// create-or-update-webhook, test-webhook and delete-webhook, and the webhook
// resources they leave behind (/webhooks, the collections per consumer and
// provider, redaction of credentials).

let broker: BrokerProcess;
let target: RecordingServer;

interface WebhookJson {
  uuid: string;
  description: string;
  enabled: boolean;
  consumer?: { name: string };
  provider?: { name: string };
  events: { name: string }[];
  request: {
    method: string;
    url: string;
    headers: Record<string, string>;
    body?: unknown;
    password?: string;
  };
  _links: Record<string, { href: string }>;
}

async function webhooks(): Promise<WebhookJson[]> {
  const r = await broker.request("/webhooks");
  expect(r.status).toBe(200);
  return (r.body as { _embedded: { webhooks: WebhookJson[] } })._embedded.webhooks;
}

beforeAll(async () => {
  broker = await startBroker();
  target = await startRecordingServer();
  await putVersion(broker.url, "hook-web", "w1", "main");
  await putVersion(broker.url, "hook-api", "a1", "main");
});

afterAll(async () => {
  await target?.close();
  await broker?.stop();
});

describe("pact-broker webhook commands", () => {
  it("create-webhook saves the request template, its events and its pacticipants", async () => {
    const r = await broker.cli([
      "create-webhook",
      `${target.url}/build?pact=\${pactbroker.pactUrl}`,
      "--request",
      "POST",
      "--header",
      "Content-Type: application/json",
      "Authorization: Bearer t0ken",
      "--data",
      `{"pact":"\${pactbroker.pactUrl}","provider":"\${pactbroker.providerName}"}`,
      "--user",
      "ci:pa55word",
      "--consumer",
      "hook-web",
      "--provider",
      "hook-api",
      "--description",
      "verify hook-api",
      "--contract-requiring-verification-published",
      "--provider-verification-published",
    ]);
    expect(r.code, r.output).toBe(0);
    const created = JSON.parse(r.stdout) as WebhookJson;
    expect(created).toMatchObject({
      description: "verify hook-api",
      enabled: true,
      consumer: { name: "hook-web" },
      provider: { name: "hook-api" },
      events: expect.arrayContaining([
        { name: "contract_requiring_verification_published" },
        { name: "provider_verification_published" },
      ]),
      request: {
        method: "POST",
        url: `${target.url}/build?pact=\${pactbroker.pactUrl}`,
        // Credentials are never sent back out.
        headers: { "Content-Type": "application/json", Authorization: "**********" },
        password: "**********",
      },
    });
    expect(created._links["pb:execute"]?.href).toBe(`${broker.url}/webhooks/${created.uuid}/execute`);
    expect(JSON.stringify(created)).not.toContain("pa55word");
    expect(JSON.stringify(created)).not.toContain("t0ken");

    const listed = await webhooks();
    expect(listed.map((w) => w.uuid)).toEqual([created.uuid]);
    for (const path of [
      "/webhooks/provider/hook-api",
      "/webhooks/consumer/hook-web",
      "/webhooks/provider/hook-api/consumer/hook-web",
      "/pacts/provider/hook-api/consumer/hook-web/webhooks",
    ]) {
      const scoped = await broker.request(path);
      expect(scoped.status, path).toBe(200);
      const links = (scoped.body as { _links: { "pb:webhooks": { href: string }[] } })._links["pb:webhooks"];
      expect(
        links.map((l) => l.href),
        path,
      ).toEqual([`${broker.url}/webhooks/${created.uuid}`]);
    }
  });

  it("test-webhook sends the request now, filled in, and shows the log without credentials", async () => {
    const [hook] = await webhooks();
    const r = await broker.cli(["test-webhook", "--uuid", hook?.uuid ?? ""]);
    expect(r.code, r.output).toBe(0);
    const sent = target.requests.at(-1);
    expect(sent?.method).toBe("POST");
    expect(sent?.url).toMatch(/^\/build\?pact=http%3A%2F%2F127\.0\.0\.1/);
    expect(sent?.headers.authorization).toBe(`Basic ${Buffer.from("ci:pa55word").toString("base64")}`);
    // The CLI prints a line of its own ("Executing webhook at ...") before the JSON answer.
    const json = r.stdout.split("\n").find((line) => line.startsWith("{")) ?? "";
    const answer = JSON.parse(json) as { success: boolean; logs: string };
    expect(answer.success).toBe(true);
    // No pact yet between the two: the real broker's placeholders.
    expect(JSON.parse(sent?.body ?? "{}")).toEqual({
      pact: `${broker.url}/pacts/provider/hook-api/consumer/hook-web/version/placeholder`,
      provider: "hook-api",
    });
    expect(answer.logs).toContain("Webhook execution succeeded");
    expect(answer.logs).toContain("Authorization: **********");
    expect(answer.logs).not.toContain("pa55word");
    expect(answer.logs).not.toContain(Buffer.from("ci:pa55word").toString("base64"));
  });

  it("create-or-update-webhook --uuid updates the webhook with that uuid", async () => {
    const [hook] = await webhooks();
    const uuid = hook?.uuid ?? "";
    const r = await broker.cli([
      "create-or-update-webhook",
      `${target.url}/other`,
      "--uuid",
      uuid,
      "--request",
      "POST",
      "--provider",
      "hook-api",
      "--description",
      "renamed",
      "--contract-content-changed",
    ]);
    expect(r.code, r.output).toBe(0);
    const updated = (await broker.request(`/webhooks/${uuid}`)).body as WebhookJson;
    expect(updated).toMatchObject({
      uuid,
      description: "renamed",
      provider: { name: "hook-api" },
      events: [{ name: "contract_content_changed" }],
      request: { url: `${target.url}/other` },
    });
    expect(updated.consumer).toBeUndefined();
  });

  it("refuses a webhook to a host, scheme or method outside the allowlists", async () => {
    const refused = async (url: string, method = "POST") => {
      const r = await broker.request("/webhooks", {
        method: "POST",
        body: { events: [{ name: "contract_published" }], request: { method, url } },
      });
      expect(r.status, url).toBe(400);
      return JSON.stringify(r.body);
    };
    expect(await refused("http://10.1.2.3/hook")).toContain(
      "host 10.1.2.3 is not in the webhook host allowlist",
    );
    expect(await refused("http://ci.example.org/hook")).toContain("PACT_BROKER_WEBHOOK_HOST_WHITELIST");
    expect(await refused("ftp://127.0.0.1/hook")).toContain("scheme ftp");
    expect(await refused(`${target.url}/hook`, "GET")).toContain("method GET");
    const cli = await broker.cli([
      "create-webhook",
      "http://10.1.2.3/hook",
      "--request",
      "POST",
      "--contract-published",
      "--retries",
      "0",
    ]);
    expect(cli.code).not.toBe(0);
    expect(await webhooks()).toHaveLength(1);
  });

  it("refuses a webhook for a pacticipant the broker does not know", async () => {
    const r = await broker.request("/webhooks", {
      method: "POST",
      body: { consumer: { name: "nobody" }, request: { method: "POST", url: `${target.url}/x` } },
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain("No pacticipant with name 'nobody' found");
  });

  it("delete-webhook deletes it", async () => {
    const [hook] = await webhooks();
    const r = await broker.cli(["delete-webhook", "--uuid", hook?.uuid ?? ""]);
    expect(r.code, r.output).toBe(0);
    expect(await webhooks()).toEqual([]);
    expect((await broker.request(`/webhooks/${hook?.uuid}`)).status).toBe(404);
  });
});
