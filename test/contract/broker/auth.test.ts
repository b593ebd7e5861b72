import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devClientTokens } from "#lib/auth/dev-identities.ts";
import {
  startProvider,
  tempDir,
  verifyFromBroker,
  writeConsumerPact,
} from "#test/contract/pact-gate-harness.ts";
import {
  type BrokerProcess,
  type BrokerRequestInit,
  environmentUuid,
  type JsonResponse,
  releaseToken,
  startBroker,
} from "#test/support/broker.ts";
import { bearerFor } from "#test/support/identity.ts";

// Issue 10: the broker accepted verification results and deployments from
// anyone, so can-i-deploy could be made to pass for a broken provider. Now
// every write needs a realm token for audience "pact-broker" whose caller
// holds the role "release" (accord-ci); reads are open unless
// PACT_BROKER_PUBLIC_READ=false, which lets any valid broker token read.
// Real broker processes, real tokens from the real Keycloak, the official CLI.

let broker: BrokerProcess;
const cleanups: (() => Promise<void>)[] = [];

const CONSUMER = "auth-shop";
const PROVIDER = "auth-api";

/** A token for the broker's audience from a client without the release role (a service account). */
const serviceBrokerToken = () => devClientTokens("orders").token("pact-broker");

/** can-i-deploy of the consumer to production, through the official CLI (a read). */
async function canIDeploy() {
  return broker.cli(
    ["can-i-deploy", "--pacticipant", CONSUMER, "--version", "s1", "--to-environment", "production"],
    { token: null },
  );
}

/** Every way a caller may try to tell the broker that the broken provider now passes and runs in production. */
async function forgeries(authorization: string | null): Promise<JsonResponse[]> {
  const env = await environmentUuid(broker.url, "production");
  const pact = await broker.request(`/pacts/provider/${PROVIDER}/consumer/${CONSUMER}/version/s1`);
  const results = (pact.body as { _links: Record<string, { href: string }> })._links[
    "pb:publish-verification-results"
  ]?.href;
  if (!results || !env) throw new Error("setup: no pact or environment");
  const as: BrokerRequestInit = { authorization };
  return Promise.all([
    broker.request(results, { ...as, body: { success: true, providerApplicationVersion: "p2" } }),
    broker.request(`/pacticipants/${PROVIDER}/versions/p2`, { ...as, method: "PUT", body: {} }),
    broker.request(`/pacticipants/${PROVIDER}/branches/main/versions/p2`, { ...as, method: "PUT", body: {} }),
    broker.request(`/pacticipants/${PROVIDER}/versions/p1/deployed-versions/environment/${env}`, {
      ...as,
      body: {},
    }),
    broker.request(`/pacticipants/${PROVIDER}/versions/p1/tags/prod`, { ...as, method: "PUT", body: {} }),
    broker.request("/environments", { ...as, body: { name: "staging", production: false } }),
    broker.request("/pacticipants", { ...as, body: { name: "intruder" } }),
    broker.request(`/environments/${env}`, { ...as, method: "DELETE" }),
    broker.request("/webhooks", {
      ...as,
      body: {
        events: [{ name: "contract_published" }],
        request: { method: "POST", url: "http://127.0.0.1:1/x" },
      },
    }),
    broker.request("/contracts/publish", {
      ...as,
      body: { pacticipantName: CONSUMER, pacticipantVersionNumber: "s9", contracts: [] },
    }),
  ]);
}

beforeAll(async () => {
  // Debug logs every request: the log a token must never reach.
  broker = await startBroker({ env: { LOG_LEVEL: "debug" } });
  // A consumer whose provider's only verification FAILED, deployed in production:
  // can-i-deploy says no, and an attacker wants it to say yes.
  expect((await broker.cli(["create-environment", "--name", "production", "--production"])).code).toBe(0);
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  await writeConsumerPact({ consumer: CONSUMER, provider: PROVIDER, dir: tmp.dir, fields: { id: "1" } });
  const published = await broker.cli([
    "publish",
    tmp.dir,
    "--consumer-app-version",
    "s1",
    "--branch",
    "main",
  ]);
  expect(published.code, published.output).toBe(0);
  const app = await startProvider({ name: "no id here" });
  try {
    expect(
      await verifyFromBroker({
        brokerUrl: broker.url,
        provider: PROVIDER,
        providerVersion: "p1",
        providerBaseUrl: app.url,
        enablePending: false,
      }),
    ).toBe("failed");
  } finally {
    await app.close();
  }
  const deployed = await broker.cli([
    "record-deployment",
    "--pacticipant",
    PROVIDER,
    "--version",
    "p1",
    "--environment",
    "production",
  ]);
  expect(deployed.code, deployed.output).toBe(0);
});

afterAll(async () => {
  for (const c of cleanups) await c();
  await broker?.stop();
});

describe("broker writes need a release token", () => {
  it("a write without a token is 401 with a JSON error, and can-i-deploy's answer does not change", async () => {
    const before = await canIDeploy();
    expect(before.code, before.output).not.toBe(0);
    expect(before.output).toContain("Computer says no");

    for (const r of await forgeries(null)) {
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ error: expect.stringMatching(/^missing bearer token/) });
      expect(r.headers?.["www-authenticate"]).toBe('Bearer realm="pact-broker"');
    }

    const after = await canIDeploy();
    expect(after.code).toBe(before.code);
    expect(after.stdout).toBe(before.stdout);
    // Nothing was created either.
    expect((await broker.request("/pacticipants/intruder")).status).toBe(404);
    expect((await broker.request(`/pacticipants/${PROVIDER}/versions/p2`)).status).toBe(404);
    expect(await environmentUuid(broker.url, "staging")).toBeUndefined();
  });

  it("the official CLI without PACT_BROKER_TOKEN cannot record a deployment or publish", async () => {
    const record = await broker.cli(
      ["record-deployment", "--pacticipant", PROVIDER, "--version", "p1", "--environment", "production"],
      { token: null },
    );
    expect(record.code, record.output).not.toBe(0);
    expect(record.output).toMatch(/401|missing bearer token/i);

    const tmp = await tempDir();
    cleanups.push(tmp.remove);
    await writeConsumerPact({ consumer: CONSUMER, provider: PROVIDER, dir: tmp.dir, fields: { id: "1" } });
    const publish = await broker.cli(
      ["publish", tmp.dir, "--consumer-app-version", "s2", "--branch", "main"],
      {
        token: null,
      },
    );
    expect(publish.output).toMatch(/401|missing bearer token/i);
    expect((await broker.request(`/pacticipants/${CONSUMER}/versions/s2`)).status).toBe(404);
  });

  it("a customer's token (no pact-broker audience) is 401", async () => {
    const alice = await bearerFor("alice", "orders");
    for (const r of await forgeries(alice)) {
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ error: expect.stringMatching(/^invalid bearer token/) });
    }
    expect((await canIDeploy()).output).toContain("Computer says no");
  });

  it("a valid pact-broker token without the release role is 403", async () => {
    const service = `Bearer ${await serviceBrokerToken()}`;
    for (const r of await forgeries(service)) {
      expect(r.status).toBe(403);
      expect(r.body).toEqual({ error: expect.stringContaining('realm role "release"') });
    }
    const record = await broker.cli(
      ["record-deployment", "--pacticipant", PROVIDER, "--version", "p1", "--environment", "production"],
      { token: await serviceBrokerToken() },
    );
    expect(record.code, record.output).not.toBe(0);
    expect((await canIDeploy()).output).toContain("Computer says no");
  });

  it("garbage, oversized, Basic and unsigned Authorization headers are 401, never a 5xx", async () => {
    const headers = [
      "Bearer",
      "Bearer a.b.c",
      "Basic dXNlcjpwYXNz",
      "bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
      // Past the verifier's 8 KB limit, refused unparsed.
      `Bearer ${"A".repeat(10_000)}`,
    ];
    for (const authorization of headers) {
      const r = await broker.request("/pacticipants", { authorization, body: { name: "intruder" } });
      expect(r.status, authorization.slice(0, 20)).toBe(401);
    }
    // Past Node's own header limit the server refuses the request (431) before the broker sees it.
    const huge = await broker.request("/pacticipants", {
      authorization: `Bearer ${"A".repeat(100_000)}`,
      body: { name: "intruder" },
    });
    expect([401, 431]).toContain(huge.status);
    expect((await broker.request("/pacticipants/intruder")).status).toBe(404);
  });

  it("the CI client's token writes (the release scripts' identity)", async () => {
    const r = await broker.request("/pacticipants", { body: { name: "auth-written" } });
    expect(r.status).toBe(201);
    const cli = await broker.cli(["create-or-update-pacticipant", "--name", "auth-cli-written"]);
    expect(cli.code, cli.output).toBe(0);
  });

  it("never logs a token", async () => {
    const tokens = [await releaseToken(), await serviceBrokerToken(), await bearerFor("alice", "orders")];
    const log = broker.output();
    expect(log).toContain("broker request refused");
    for (const token of tokens) expect(log).not.toContain(token.replace(/^Bearer /, ""));
    // Nor any piece of one: a JWT's header segment is the same for every token the realm signs.
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  });
});

describe("reads", () => {
  it("are open by default: the index, a pact, the matrix, pacts for verification, health", async () => {
    const none: BrokerRequestInit = { authorization: null };
    expect((await broker.request("/", none)).status).toBe(200);
    expect(
      (await broker.request(`/pacts/provider/${PROVIDER}/consumer/${CONSUMER}/latest`, none)).status,
    ).toBe(200);
    expect((await broker.request(`/matrix?q[][pacticipant]=${CONSUMER}&latestby=cvp`, none)).status).toBe(
      200,
    );
    expect(
      (await broker.request(`/pacts/provider/${PROVIDER}/for-verification`, { ...none, body: {} })).status,
    ).toBe(200);
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
  });

  describe("with PACT_BROKER_PUBLIC_READ=false", () => {
    let closed: BrokerProcess;
    beforeAll(async () => {
      closed = await startBroker({ env: { PACT_BROKER_PUBLIC_READ: "false" } });
    });
    afterAll(async () => {
      await closed?.stop();
    });

    it("need a valid token for the broker; any such token reads, only release writes", async () => {
      const none = await closed.request("/", { authorization: null });
      expect(none.status).toBe(401);
      expect(none.body).toEqual({ error: expect.stringMatching(/^missing bearer token/) });
      expect(
        (await closed.request("/pacts/provider/x/for-verification", { authorization: null, body: {} }))
          .status,
      ).toBe(401);
      expect((await closed.request("/", { authorization: await bearerFor("alice", "orders") })).status).toBe(
        401,
      );

      const service = `Bearer ${await serviceBrokerToken()}`;
      expect((await closed.request("/", { authorization: service })).status).toBe(200);
      expect((await closed.request("/environments", { authorization: service })).status).toBe(200);
      expect(
        (await closed.request("/environments", { authorization: service, body: { name: "qa" } })).status,
      ).toBe(403);
      // Health stays open on the host's own terms.
      expect((await fetch(`${closed.url}/healthz`)).status).toBe(200);
    });

    it("the official CLI reads and writes with PACT_BROKER_TOKEN, and reads nothing without it", async () => {
      const created = await closed.cli(["create-environment", "--name", "production", "--production"]);
      expect(created.code, created.output).toBe(0);
      const listed = await closed.cli(["list-environments"]);
      expect(listed.code, listed.output).toBe(0);
      expect(listed.output).toContain("production");
      const anonymous = await closed.cli(["list-environments"], { token: null });
      expect(anonymous.code, anonymous.output).not.toBe(0);
    });
  });
});
