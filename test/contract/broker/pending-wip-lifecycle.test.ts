import http from "node:http";
import { Verifier } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrokerProcess,
  pactDocument,
  publishVerificationResult,
  publishWithCli,
  releaseToken,
  startBroker,
} from "#test/support/broker.ts";

// The pending and work-in-progress lifecycles of the real Pact Broker
// (spec/features/pending_pacts_with_branches_spec.rb, wip_pacts_spec.rb,
// spec/lib/pact_broker/pacts/repository_find_wip_pact_versions_for_provider_branch_spec.rb;
// pact_version.rb pending_for_provider_branch?, pact_publication_wip_dataset_module.rb,
// pacts_for_verification_repository.rb find_wip), driven by the pact-js Verifier
// where a provider build is the actor, else by the broker's HTTP API.

process.env.PACT_DO_NOT_TRACK ??= "true";

let broker: BrokerProcess;
let provider: { url: string; close: () => Promise<void> };
/** Paths the provider answers wrongly (its verification of those interactions fails). */
const broken = new Set<string>();

const day = 24 * 60 * 60 * 1000;
const yesterday = new Date(Date.now() - day).toISOString().slice(0, 10);
const tomorrow = new Date(Date.now() + day).toISOString().slice(0, 10);
const enc = encodeURIComponent;

interface Verifiable {
  href: string;
  shortDescription: string;
  pending: boolean | undefined;
  wip: boolean;
}

async function forVerification(providerName: string, body: Record<string, unknown>): Promise<Verifiable[]> {
  const r = await broker.request(`/pacts/provider/${enc(providerName)}/for-verification`, { body });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const pacts = (
    r.body as {
      _embedded: {
        pacts: {
          shortDescription: string;
          verificationProperties: { pending?: boolean; wip?: boolean };
          _links: { self: { href: string } };
        }[];
      };
    }
  )._embedded.pacts;
  return pacts.map((p) => ({
    href: p._links.self.href,
    shortDescription: p.shortDescription,
    pending: p.verificationProperties.pending,
    wip: p.verificationProperties.wip === true,
  }));
}

const wipOf = (list: Verifiable[]) => list.filter((p) => p.wip);

async function pendingFor(
  providerName: string,
  request: Record<string, unknown>,
): Promise<boolean | undefined> {
  const list = await forVerification(providerName, { includePendingStatus: true, ...request });
  expect(list).toHaveLength(1);
  return list[0]?.pending;
}

/** A pact of `consumer` whose one interaction is GET `path`. */
const doc = (consumer: string, providerName: string, path: string) =>
  pactDocument(consumer, providerName, [{ description: `a request for ${path}`, path, body: { id: path } }]);

async function publish(
  consumer: string,
  providerName: string,
  version: string,
  path: string,
  branch?: string,
) {
  const r = await publishWithCli(
    broker,
    [doc(consumer, providerName, path)],
    version,
    branch ? { branch } : {},
  );
  expect(r.code, r.output).toBe(0);
}

/** The legacy publication and a consumer version tag, as wip_pacts_spec.rb publishes. */
async function putTagged(consumer: string, providerName: string, version: string, path: string, tag: string) {
  const put = await broker.request(
    `/pacts/provider/${enc(providerName)}/consumer/${enc(consumer)}/version/${enc(version)}`,
    { method: "PUT", body: doc(consumer, providerName, path) },
  );
  expect(put.status).toBeLessThan(300);
  await tagVersion(consumer, version, tag);
}

async function tagVersion(pacticipant: string, version: string, tag: string) {
  const r = await broker.request(
    `/pacticipants/${enc(pacticipant)}/versions/${enc(version)}/tags/${enc(tag)}`,
    {
      method: "PUT",
      body: {},
    },
  );
  expect(r.status).toBeLessThan(300);
}

/** Publishes a result to the given pact URL (which may carry the WIP metadata), then tags the provider version. */
async function resultByTag(
  pactUrl: string,
  providerName: string,
  version: string,
  tag: string,
  success: boolean,
) {
  const r = await publishVerificationResult(broker, {
    provider: providerName,
    consumer: "",
    pactUrl,
    providerVersion: version,
    success,
  });
  expect(r.status).toBe(201);
  await tagVersion(providerName, version, tag);
}

/** A provider build: the pact-js Verifier against the broker, publishing its results. */
async function providerBuild(opts: {
  provider: string;
  version: string;
  branch?: string;
  selectors: Record<string, unknown>[];
  pending?: boolean;
  wipSince?: string;
}): Promise<"passed" | "failed"> {
  const verifier = new Verifier({
    provider: opts.provider,
    providerBaseUrl: provider.url,
    pactBrokerUrl: broker.url,
    consumerVersionSelectors: opts.selectors,
    enablePending: opts.pending ?? true,
    ...(opts.wipSince ? { includeWipPactsSince: opts.wipSince } : {}),
    ...(opts.branch ? { providerVersionBranch: opts.branch } : {}),
    publishVerificationResult: true,
    pactBrokerToken: await releaseToken(),
    providerVersion: opts.version,
    logLevel: "error",
  });
  try {
    await verifier.verifyProvider();
    return "passed";
  } catch {
    return "failed";
  }
}

beforeAll(async () => {
  broker = await startBroker();
  const server = http.createServer((req, res) => {
    const path = req.url ?? "/";
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: broken.has(path) ? "wrong" : path }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  provider = {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
});

afterAll(async () => {
  await provider?.close();
  await broker?.stop();
});

describe("pending", () => {
  it("is pending until a version of the provider branch verifies it; a branch made later inherits that", async () => {
    await publish("FooP1", "BarP1", "1", "/p1", "main");
    expect(await pendingFor("BarP1", { providerVersionBranch: "main" })).toBe(true);

    broken.add("/p1");
    // A pending pact's failure does not fail the provider build; the result is still published.
    expect(
      await providerBuild({
        provider: "BarP1",
        version: "v1",
        branch: "main",
        selectors: [{ mainBranch: true }],
      }),
    ).toBe("passed");
    expect(await pendingFor("BarP1", { providerVersionBranch: "main" })).toBe(true);

    broken.delete("/p1");
    expect(
      await providerBuild({
        provider: "BarP1",
        version: "v2",
        branch: "main",
        selectors: [{ mainBranch: true }],
      }),
    ).toBe("passed");
    expect(await pendingFor("BarP1", { providerVersionBranch: "main" })).toBe(false);
    expect(await pendingFor("BarP1", { providerVersionBranch: "feat/foo" })).toBe(false);
  });

  it("a success from a provider version on no branch does not end pending for a branch", async () => {
    await publish("FooP2", "BarP2", "1", "/p2", "main");
    expect(await providerBuild({ provider: "BarP2", version: "v1", selectors: [{ mainBranch: true }] })).toBe(
      "passed",
    );
    expect(await pendingFor("BarP2", { providerVersionBranch: "main" })).toBe(true);
    // Without a branch (or tags) pending means never verified successfully.
    expect(await pendingFor("BarP2", {})).toBe(false);
  });

  it("a success on another branch counts only when it came before this branch was created", async () => {
    await publish("FooP3", "BarP3", "1", "/p3", "main");
    broken.add("/p3");
    await providerBuild({
      provider: "BarP3",
      version: "f1",
      branch: "feat/y",
      selectors: [{ mainBranch: true }],
    });
    broken.delete("/p3");
    await providerBuild({
      provider: "BarP3",
      version: "m1",
      branch: "main",
      selectors: [{ mainBranch: true }],
    });
    expect(await pendingFor("BarP3", { providerVersionBranch: "feat/y" })).toBe(true);
    expect(await pendingFor("BarP3", { providerVersionBranch: "main" })).toBe(false);
    expect(await pendingFor("BarP3", { providerVersionBranch: "feat/z" })).toBe(false);
  });

  it("with provider tags instead of a branch, the same rules hold per tag", async () => {
    await putTagged("FooP4", "BarP4", "1", "/p4", "master");
    const pactUrl = "/pacts/provider/BarP4/consumer/FooP4/version/1";
    await resultByTag(pactUrl, "BarP4", "t1", "feat", false);
    await resultByTag(pactUrl, "BarP4", "t2", "master", true);
    const selectors = [{ tag: "master", latest: true }];
    expect(
      await pendingFor("BarP4", { consumerVersionSelectors: selectors, providerVersionTags: ["master"] }),
    ).toBe(false);
    // feat existed before master's success: still pending for feat.
    expect(
      await pendingFor("BarP4", { consumerVersionSelectors: selectors, providerVersionTags: ["feat"] }),
    ).toBe(true);
    expect(
      await pendingFor("BarP4", { consumerVersionSelectors: selectors, providerVersionTags: ["brand-new"] }),
    ).toBe(false);
  });
});

describe("work in progress", () => {
  it("needs no includePendingStatus, and is marked in the pact's URL", async () => {
    await publish("FooW1", "BarW1", "1", "/w1-main", "main");
    await publish("FooW1", "BarW1", "2", "/w1-feat", "feat-x");
    const list = await forVerification("BarW1", {
      consumerVersionSelectors: [{ mainBranch: true }],
      providerVersionBranch: "main",
      includeWipPactsSince: yesterday,
    });
    expect(list).toHaveLength(2);
    const [wip] = wipOf(list);
    expect(wip?.shortDescription).toContain("feat-x");
    expect(wip?.href).toContain("/metadata/");
    expect(wip?.pending).toBeUndefined();
    expect(list.find((p) => !p.wip)?.href).not.toContain("/metadata/");
  });

  it("the latest pact of a consumer tag is WIP too, and a success while WIP keeps it WIP (tags, as wip_pacts_spec)", async () => {
    await tagVersion("BarW2", "1", "master");
    await putTagged("FooW2", "BarW2", "1", "/w2-1", "master");
    await putTagged("FooW2", "BarW2", "2", "/w2-2", "feat-x");
    const request = {
      consumerVersionSelectors: [{ tag: "master", latest: true }],
      providerVersionTags: ["master"],
      includeWipPactsSince: yesterday,
    };
    const first = wipOf(await forVerification("BarW2", request));
    expect(first).toHaveLength(1);
    const wipUrl = first[0]?.href ?? "";

    await resultByTag(wipUrl, "BarW2", "2", "master", false);
    expect(wipOf(await forVerification("BarW2", request))).toHaveLength(1);
    await resultByTag(wipUrl, "BarW2", "2", "master", true);
    expect(wipOf(await forVerification("BarW2", request))).toHaveLength(1);

    // The feature is merged: its content is now master's latest pact, selected explicitly.
    await putTagged("FooW2", "BarW2", "3", "/w2-2", "master");
    expect(wipOf(await forVerification("BarW2", request))).toHaveLength(0);
  });

  it("a provider build that verifies a WIP pact successfully leaves it WIP; verifying it explicitly ends that", async () => {
    await publish("FooW3", "BarW3", "1", "/w3-main", "main");
    await publish("FooW3", "BarW3", "2", "/w3-feat", "feat-x");
    const request = {
      consumerVersionSelectors: [{ mainBranch: true }],
      providerVersionBranch: "main",
      includeWipPactsSince: yesterday,
    };
    expect(
      await providerBuild({
        provider: "BarW3",
        version: "p1",
        branch: "main",
        selectors: [{ mainBranch: true }],
        wipSince: yesterday,
      }),
    ).toBe("passed");
    // The build did verify it and published the result (through the WIP pact's URL)...
    const verified = await broker.request(
      "/matrix?q[][pacticipant]=FooW3&q[][version]=2&q[][pacticipant]=BarW3&q[][version]=p1&latestby=cvpv",
    );
    expect((verified.body as { summary: { deployable: boolean } }).summary.deployable).toBe(true);
    // ...yet it is still WIP: only a success outside WIP ends that.
    expect(wipOf(await forVerification("BarW3", request))).toHaveLength(1);

    expect(
      await providerBuild({
        provider: "BarW3",
        version: "p2",
        branch: "main",
        selectors: [{ mainBranch: true }, { branch: "feat-x" }],
      }),
    ).toBe("passed");
    expect(wipOf(await forVerification("BarW3", request))).toHaveLength(0);
  });

  it("a failing WIP pact does not fail the provider build", async () => {
    await publish("FooW4", "BarW4", "1", "/w4-main", "main");
    await publish("FooW4", "BarW4", "2", "/w4-feat", "feat-x");
    broken.add("/w4-feat");
    expect(
      await providerBuild({
        provider: "BarW4",
        version: "p1",
        branch: "main",
        selectors: [{ mainBranch: true }],
        wipSince: yesterday,
      }),
    ).toBe("passed");
    broken.delete("/w4-feat");
    const list = await forVerification("BarW4", {
      consumerVersionSelectors: [{ mainBranch: true }],
      providerVersionBranch: "main",
      includePendingStatus: true,
      includeWipPactsSince: yesterday,
    });
    expect(wipOf(list).map((p) => p.pending)).toEqual([true]);
  });

  it("stays WIP for the provider's main branch after a success on a matching feature branch", async () => {
    const put = await broker.request("/pacticipants/BarW5/branches/main/versions/m0", {
      method: "PUT",
      body: {},
    });
    expect(put.status).toBeLessThan(300);
    await publish("FooW5", "BarW5", "1", "/w5-main", "main");
    await publish("FooW5", "BarW5", "2", "/w5-feat", "feat-x");
    expect(
      await providerBuild({
        provider: "BarW5",
        version: "f1",
        branch: "feat-x",
        selectors: [{ mainBranch: true }, { matchingBranch: true }],
      }),
    ).toBe("passed");
    const request = {
      consumerVersionSelectors: [{ mainBranch: true }],
      providerVersionBranch: "main",
      includeWipPactsSince: yesterday,
    };
    expect(wipOf(await forVerification("BarW5", request))).toHaveLength(1);
    expect(
      wipOf(await forVerification("BarW5", { ...request, includeWipPactsSince: tomorrow })),
      "published before includeWipPactsSince",
    ).toHaveLength(0);
  });

  it("for a provider branch not created yet, earlier successes on another branch end WIP, failures do not", async () => {
    await publish("FooW6", "BarW6", "1", "/w6", "feat-a");
    await publish("FooW7", "BarW7", "1", "/w7", "feat-a");
    const result = (providerName: string, consumer: string, success: boolean) =>
      publishVerificationResult(broker, {
        provider: providerName,
        consumer,
        consumerVersion: "1",
        providerVersion: "20",
        success,
        branch: "dev",
      });
    expect((await result("BarW6", "FooW6", true)).status).toBe(201);
    expect((await result("BarW7", "FooW7", false)).status).toBe(201);
    const request = {
      consumerVersionSelectors: [{ mainBranch: true }],
      providerVersionBranch: "feat-new-branch",
      includeWipPactsSince: yesterday,
    };
    expect(wipOf(await forVerification("BarW6", request))).toHaveLength(0);
    expect(wipOf(await forVerification("BarW7", request))).toHaveLength(1);
  });

  it("a brand new provider tag gets no earlier WIP pacts, only those published after it first appeared", async () => {
    await tagVersion("BarW8", "1", "master");
    await putTagged("FooW8", "BarW8", "1", "/w8-1", "master");
    await putTagged("FooW8", "BarW8", "2", "/w8-2", "feat-x");
    const request = {
      consumerVersionSelectors: [{ tag: "master", latest: true, fallbackTag: "master" }],
      providerVersionTags: ["feat-y"],
      includeWipPactsSince: yesterday,
    };
    const first = await forVerification("BarW8", request);
    expect(wipOf(first)).toHaveLength(0);
    await resultByTag(first[0]?.href ?? "", "BarW8", "2", "feat-y", true);

    await putTagged("FooW8", "BarW8", "3", "/w8-2", "feat-x");
    await putTagged("FooW8", "BarW8", "4", "/w8-4", "feat-z");
    expect(wipOf(await forVerification("BarW8", request))).toHaveLength(2);
  });
});
