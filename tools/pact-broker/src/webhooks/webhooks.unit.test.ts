import { describe, expect, it } from "vitest";
import { BrokerData, emptySnapshot, type Snapshot } from "../domain/model.ts";
import { hostMatches, LOOPBACK_POLICY, refusal } from "./allowlist.ts";
import { redactHeaders, redactUrl } from "./execute.ts";
import { parseWebhookInput, type Webhook } from "./model.ts";
import { nextState } from "./runner.ts";
import { render, renderBody, renderUrl, TEMPLATE_PARAMETERS } from "./template.ts";
import { contentChanged, requiredVerifications, testParameters, triggersFor } from "./triggers.ts";

// The pure parts of webhooks: input parsing, the allowlists, template
// rendering, which events a publication or a verification fires (with the
// real broker's parameters), and the retry schedule.

const BASE = "http://broker";

function world() {
  const s: Snapshot = emptySnapshot();
  let id = 0;
  const t = (n: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, n));
  const pacticipant = (name: string, mainBranch: string | null = "main") => {
    const p = { id: ++id, name, mainBranch, createdAt: t(0) };
    s.pacticipants.push(p);
    return p;
  };
  const version = (p: { id: number }, number: string, branch?: string, tags: string[] = []) => {
    const v = { id: ++id, pacticipantId: p.id, number, createdAt: t(id) };
    s.versions.push(v);
    if (branch) {
      let b = s.branches.find((x) => x.pacticipantId === p.id && x.name === branch);
      if (!b) {
        b = { id: ++id, pacticipantId: p.id, name: branch, createdAt: t(id) };
        s.branches.push(b);
      }
      s.branchVersions.push({ id: ++id, branchId: b.id, versionId: v.id, createdAt: t(id) });
    }
    for (const name of tags) s.tags.push({ versionId: v.id, name });
    return v;
  };
  const content = (c: { id: number }, p: { id: number }, sha: string) => {
    const pv = { id: ++id, consumerId: c.id, providerId: p.id, sha, createdAt: t(id) };
    s.pactVersions.push(pv);
    return pv;
  };
  const publish = (cv: { id: number }, p: { id: number }, pv: { id: number }) => {
    const pub = {
      id: ++id,
      consumerVersionId: cv.id,
      providerId: p.id,
      pactVersionId: pv.id,
      revision: 1,
      createdAt: t(id),
    };
    s.publications.push(pub);
    return pub;
  };
  const verify = (pv: { id: number }, provV: { id: number }, success: boolean) => {
    const v = { id: ++id, pactVersionId: pv.id, providerVersionId: provV.id, success, createdAt: t(id) };
    s.verifications.push(v);
    return v;
  };
  const env = (name: string) => {
    const e = { uuid: `env-${name}`, name, displayName: null, production: name === "production" };
    s.environments.push(e);
    return e;
  };
  const deploy = (v: { id: number }, e: { uuid: string }) =>
    s.deployedVersions.push({
      uuid: `d${++id}`,
      versionId: v.id,
      environmentUuid: e.uuid,
      applicationInstance: null,
      createdAt: t(id),
      undeployedAt: null,
    });
  const release = (v: { id: number }, e: { uuid: string }) =>
    s.releasedVersions.push({
      uuid: `r${++id}`,
      versionId: v.id,
      environmentUuid: e.uuid,
      createdAt: t(id),
      supportEndedAt: null,
    });
  return {
    s,
    data: () => new BrokerData(s),
    pacticipant,
    version,
    content,
    publish,
    verify,
    env,
    deploy,
    release,
  };
}

function webhook(
  events: Webhook["events"],
  scope: Partial<Pick<Webhook, "consumerId" | "providerId">> = {},
): Webhook {
  return {
    uuid: `w-${events.join("-")}`,
    consumerId: scope.consumerId ?? null,
    providerId: scope.providerId ?? null,
    enabled: true,
    events,
    request: { method: "POST", url: "http://127.0.0.1/hook", headers: {} },
    createdAt: new Date(0),
    updatedAt: new Date(0),
  };
}

describe("webhook input", () => {
  it("reads the real broker's shape and the Rust CLI's header list, defaulting the event", () => {
    const parsed = parseWebhookInput({
      description: "d",
      consumer: { name: "web" },
      request: {
        method: "post",
        url: "http://127.0.0.1/x",
        headers: ["Content-Type: application/json", "X-A:b"],
      },
    });
    expect(parsed).toEqual({
      input: {
        description: "d",
        consumerName: "web",
        enabled: true,
        events: ["contract_content_changed"],
        request: {
          method: "POST",
          url: "http://127.0.0.1/x",
          headers: { "Content-Type": "application/json", "X-A": "b" },
        },
      },
    });
  });

  it("names every bad field", () => {
    const parsed = parseWebhookInput({ events: [{ name: "nope" }], request: { headers: [7] } });
    expect("errors" in parsed && Object.keys(parsed.errors).sort()).toEqual([
      "events[0].name",
      "request.headers[0]",
      "request.method",
      "request.url",
    ]);
  });
});

describe("allowlist", () => {
  it("matches names, one-label wildcards, IPs, CIDR ranges and regexes; IP entries never match names", () => {
    expect(hostMatches("ci.example.org", "ci.example.org")).toBe(true);
    expect(hostMatches("a.example.org", "*.example.org")).toBe(true);
    expect(hostMatches("a.b.example.org", "*.example.org")).toBe(false);
    expect(hostMatches("10.1.2.3", "10.0.0.0/8")).toBe(true);
    expect(hostMatches("11.1.2.3", "10.0.0.0/8")).toBe(false);
    expect(hostMatches("::1", "::1")).toBe(true);
    expect(hostMatches("localhost", "127.0.0.1")).toBe(false);
    expect(hostMatches("build.foo.com", "/\\.foo\\.com$/")).toBe(true);
  });

  it("refuses by scheme, method and host; loopback POST is allowed by default", () => {
    expect(refusal(LOOPBACK_POLICY, "POST", new URL("http://127.0.0.1:9/x"))).toBeUndefined();
    expect(refusal(LOOPBACK_POLICY, "POST", new URL("http://[::1]:9/x"))).toBeUndefined();
    // Other spellings of the loopback address are normalised by the URL parser.
    expect(refusal(LOOPBACK_POLICY, "POST", new URL("http://2130706433/x"))).toBeUndefined();
    expect(refusal(LOOPBACK_POLICY, "POST", new URL("http://10.0.0.1/x"))).toMatch(/host 10.0.0.1/);
    expect(refusal(LOOPBACK_POLICY, "POST", new URL("http://127.0.0.1.nip.io/x"))).toMatch(/host/);
    expect(refusal(LOOPBACK_POLICY, "GET", new URL("http://127.0.0.1/x"))).toMatch(/method GET/);
    expect(refusal(LOOPBACK_POLICY, "POST", new URL("ftp://127.0.0.1/x"))).toMatch(/scheme ftp/);
  });
});

describe("templates", () => {
  const params = { "pactbroker.pactUrl": "http://b/p?x=1", "pactbroker.consumerName": 'we"b' };

  it("fills known parameters and leaves unknown ones as written", () => {
    expect(render(`\${pactbroker.consumerName} \${pactbroker.nope}`, params)).toBe(
      `we"b \${pactbroker.nope}`,
    );
  });

  it("escapes values in the URL and keeps a JSON body valid whatever the values hold", () => {
    expect(renderUrl(`http://ci/b?pact=\${pactbroker.pactUrl}`, params)).toBe(
      "http://ci/b?pact=http%3A%2F%2Fb%2Fp%3Fx%3D1",
    );
    const body = renderBody(
      { who: `\${pactbroker.consumerName}`, list: [`\${pactbroker.pactUrl}`, 1] },
      params,
    );
    expect(JSON.parse(body ?? "")).toEqual({ who: 'we"b', list: ["http://b/p?x=1", 1] });
    expect(renderBody(`c=\${pactbroker.consumerName}`, params)).toBe('c=we"b');
  });

  it("knows the real broker's parameter names", () => {
    for (const name of [
      "pactbroker.pactUrl",
      "pactbroker.providerVersionBranch",
      "pactbroker.providerVersionNumber",
      "pactbroker.consumerVersionBranch",
      "pactbroker.consumerName",
      "pactbroker.providerName",
      "pactbroker.providerVersionDescriptions",
      "pactbroker.verificationResultUrl",
      "pactbroker.githubVerificationStatus",
      "pactbroker.eventName",
      "pactbroker.buildUrl",
    ])
      expect(TEMPLATE_PARAMETERS).toContain(name);
  });
});

describe("events", () => {
  it("contract_requiring_verification_published: once per provider version that has not verified, reasons joined", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    const prod = w.env("production");
    const test = w.env("test");
    const a1 = w.version(api, "a1", "main");
    const a2 = w.version(api, "a2", "main");
    const a0 = w.version(api, "a0", "release");
    w.deploy(a2, test);
    w.deploy(a1, prod);
    w.release(a0, prod);
    const pv = w.content(web, api, "sha1");
    w.verify(pv, a1, false);
    w.publish(w.version(web, "w1", "main"), api, pv);
    const required = requiredVerifications(w.data(), pv);
    expect(required.map((r) => [r.version.number, r.branch, r.descriptions.join(", ")])).toEqual([
      ["a2", "main", "latest version from main branch, currently deployed version (test)"],
      ["a0", "release", "currently released version (production)"],
    ]);

    const triggers = triggersFor(
      w.data(),
      { kind: "pact_publication", refId: w.s.publications[0]?.id ?? 0 },
      [webhook(["contract_requiring_verification_published"])],
      BASE,
    );
    expect(triggers.map((t) => t.parameters["pactbroker.providerVersionNumber"])).toEqual(["a2", "a0"]);
    expect(triggers[0]?.parameters).toMatchObject({
      "pactbroker.consumerName": "web",
      "pactbroker.providerName": "api",
      "pactbroker.consumerVersionNumber": "w1",
      "pactbroker.consumerVersionBranch": "main",
      "pactbroker.providerVersionBranch": "main",
      "pactbroker.eventName": "contract_requiring_verification_published",
    });
    expect(triggers[0]?.parameters["pactbroker.pactUrl"]).toMatch(
      /^http:\/\/broker\/pacts\/provider\/api\/consumer\/web\/pact-version\/sha1\/metadata\/[A-Za-z0-9_-]+$/,
    );
  });

  it("nothing requires a verification when every provider version verified the content", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    const a1 = w.version(api, "a1", "main");
    const pv = w.content(web, api, "sha1");
    w.verify(pv, a1, true);
    expect(requiredVerifications(w.data(), pv)).toEqual([]);
  });

  it("contract_content_changed: a first pact, then only new content (per tag when the version has tags)", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    const one = w.content(web, api, "one");
    const two = w.content(web, api, "two");
    const p1 = w.publish(w.version(web, "w1", "main"), api, one);
    const p2 = w.publish(w.version(web, "w2", "main"), api, one);
    const p3 = w.publish(w.version(web, "w3", "main"), api, two);
    const d = w.data();
    expect([p1, p2, p3].map((p) => contentChanged(d, p))).toEqual([true, false, true]);
    // Same content as before, but a tag seen for the first time counts as a change.
    const p4 = w.publish(w.version(web, "w4", "main", ["prod"]), api, two);
    expect(contentChanged(w.data(), p4)).toBe(true);
    const p5 = w.publish(w.version(web, "w5", "main", ["prod"]), api, two);
    expect(contentChanged(w.data(), p5)).toBe(false);
  });

  it("provider_verification_published and _succeeded/_failed carry the verification's parameters", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    const pv = w.content(web, api, "sha1");
    w.publish(w.version(web, "w1", "feat"), api, pv);
    const ver = w.verify(pv, w.version(api, "a1", "main", ["prod"]), false);
    const hooks = [
      webhook([
        "provider_verification_published",
        "provider_verification_failed",
        "provider_verification_succeeded",
      ]),
    ];
    const triggers = triggersFor(w.data(), { kind: "verification", refId: ver.id }, hooks, BASE, {
      verificationBuildUrl: "http://ci/1",
    });
    expect(triggers.map((t) => t.eventName)).toEqual([
      "provider_verification_published",
      "provider_verification_failed",
    ]);
    expect(triggers[0]?.parameters).toMatchObject({
      "pactbroker.providerVersionNumber": "a1",
      "pactbroker.providerVersionBranch": "main",
      "pactbroker.providerVersionTags": "prod",
      "pactbroker.consumerVersionNumber": "w1",
      "pactbroker.consumerVersionBranch": "feat",
      "pactbroker.githubVerificationStatus": "failure",
      "pactbroker.bitbucketVerificationStatus": "FAILED",
      "pactbroker.buildUrl": "http://ci/1",
      "pactbroker.verificationResultUrl": `${BASE}/pacts/provider/api/consumer/web/pact-version/sha1/verification-results/${ver.id}`,
    });
  });

  it("a webhook scoped to a consumer or provider fires for that one only; a disabled one never", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    const other = w.pacticipant("other");
    const pub = w.publish(w.version(web, "w1"), api, w.content(web, api, "s"));
    const hooks = [
      webhook(["contract_published"], { providerId: api.id }),
      { ...webhook(["contract_published"], { providerId: other.id }), uuid: "other" },
      { ...webhook(["contract_published"]), uuid: "off", enabled: false },
    ];
    const fired = triggersFor(w.data(), { kind: "pact_publication", refId: pub.id }, hooks, BASE);
    expect(fired.map((t) => t.webhookUuid)).toEqual(["w-contract_published"]);
  });

  it("a test execution uses the latest pact of the webhook's pacticipants, or placeholders", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    expect(testParameters(w.data(), webhook(["contract_published"]), BASE)["pactbroker.consumerName"]).toBe(
      "placeholder-consumer",
    );
    w.publish(w.version(web, "w1"), api, w.content(web, api, "s"));
    const p = testParameters(w.data(), webhook(["contract_published"], { providerId: api.id }), BASE);
    expect(p).toMatchObject({ "pactbroker.consumerVersionNumber": "w1", "pactbroker.eventName": "test" });
  });
});

describe("delivery", () => {
  it("retries on the schedule, then fails", () => {
    const schedule = [10, 60];
    expect(nextState(true, 1, schedule, 0)).toEqual({ status: "success", nextAttemptAt: null });
    expect(nextState(false, 1, schedule, 0)).toEqual({ status: "retrying", nextAttemptAt: new Date(10_000) });
    expect(nextState(false, 2, schedule, 0)).toEqual({ status: "retrying", nextAttemptAt: new Date(60_000) });
    expect(nextState(false, 3, schedule, 0)).toEqual({ status: "failure", nextAttemptAt: null });
  });

  it("logs no credentials", () => {
    expect(redactHeaders({ Authorization: "Bearer x", "X-Api-Token": "t", Accept: "*/*" })).toEqual({
      Authorization: "**********",
      "X-Api-Token": "**********",
      Accept: "*/*",
    });
    expect(redactUrl("http://u:p@127.0.0.1/x?token=abc&pact=1")).toBe(
      "http://**********:**********@127.0.0.1/x?token=**********&pact=1",
    );
  });
});
