import { describe, expect, it } from "vitest";
import {
  decodePactMetadata,
  encodePactMetadata,
  isPending,
  isWipMetadata,
  NO_HISTORY,
  pactsForVerification,
  pendingProviderTags,
} from "./for-verification.ts";
import { BrokerData, emptySnapshot, type Snapshot } from "./model.ts";

// Pending and WIP on hand-built snapshots: which earlier successes count
// (pact_version.rb pending_for_provider_branch?, select_pending_provider_version_tags)
// and which heads stay work in progress (pact_publication_wip_dataset_module.rb).

function world() {
  const s: Snapshot = emptySnapshot();
  let id = 0;
  let clock = 0;
  const t = () => new Date(Date.UTC(2026, 0, 1, 0, 0, ++clock));
  const pacticipant = (name: string) => {
    const p = { id: ++id, name, mainBranch: "main", createdAt: t() };
    s.pacticipants.push(p);
    return p;
  };
  const version = (p: { id: number }, number: string, branch?: string, tag?: string) => {
    const v = { id: ++id, pacticipantId: p.id, number, createdAt: t() };
    s.versions.push(v);
    if (branch) {
      let b = s.branches.find((x) => x.pacticipantId === p.id && x.name === branch);
      if (!b) {
        b = { id: ++id, pacticipantId: p.id, name: branch, createdAt: t() };
        s.branches.push(b);
      }
      s.branchVersions.push({ id: ++id, branchId: b.id, versionId: v.id, createdAt: t() });
    }
    if (tag) s.tags.push({ versionId: v.id, name: tag });
    return v;
  };
  const publish = (cv: { id: number }, c: { id: number }, p: { id: number }, sha: string) => {
    let pv = s.pactVersions.find((x) => x.sha === sha);
    if (!pv) {
      pv = { id: ++id, consumerId: c.id, providerId: p.id, sha, createdAt: t() };
      s.pactVersions.push(pv);
    }
    s.publications.push({
      id: ++id,
      consumerVersionId: cv.id,
      providerId: p.id,
      pactVersionId: pv.id,
      revision: 1,
      createdAt: t(),
    });
    return pv;
  };
  const verify = (pv: { id: number }, provV: { id: number }, success: boolean) => {
    const v = { id: ++id, pactVersionId: pv.id, providerVersionId: provV.id, success, createdAt: t() };
    s.verifications.push(v);
    return v;
  };
  return { s, pacticipant, version, publish, verify, d: () => new BrokerData(s) };
}

const url = (_c: unknown, pv: { sha: string }, wip: boolean) => `${pv.sha}${wip ? "/wip" : ""}`;

describe("pending", () => {
  it("a success from a provider version on no branch counts without a branch, not for one", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    const pv = w.publish(w.version(web, "1", "main"), web, api, "a");
    w.verify(pv, w.version(api, "p1"), true);
    expect(isPending(w.d(), api, pv.id)).toBe(false);
    expect(isPending(w.d(), api, pv.id, "main")).toBe(true);
  });

  it("a success on another branch counts when it came before this branch was created", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    const pv = w.publish(w.version(web, "1", "main"), web, api, "a");
    w.verify(pv, w.version(api, "f1", "feat/early"), false);
    w.verify(pv, w.version(api, "m1", "main"), true);
    w.version(api, "f2", "feat/late");
    expect(isPending(w.d(), api, pv.id, "feat/early")).toBe(true);
    expect(isPending(w.d(), api, pv.id, "feat/late")).toBe(false);
    expect(isPending(w.d(), api, pv.id, "feat/none")).toBe(false);
  });

  it("per provider tag: a success with the tag, or with another tag before the tag was first used", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    const pv = w.publish(w.version(web, "1"), web, api, "a");
    w.verify(pv, w.version(api, "t1", undefined, "feat"), false);
    w.verify(pv, w.version(api, "t2", undefined, "master"), true);
    const d = w.d();
    expect(pendingProviderTags(d, api, pv.id, ["master", "feat", "new"], NO_HISTORY)).toEqual(["feat"]);
    expect(isPending(d, api, pv.id, undefined, ["master", "feat"])).toBe(true);
    expect(isPending(d, api, pv.id, undefined, ["master"])).toBe(false);
  });
});

describe("work in progress", () => {
  it("a WIP verification's success keeps a pact WIP; another success ends it", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    w.publish(w.version(web, "1", "main"), web, api, "main-pact");
    const feat = w.publish(w.version(web, "2", "feat-x"), web, api, "feat-pact");
    const request = {
      consumerVersionSelectors: [{ mainBranch: true }],
      providerVersionBranch: "main",
      includeWipPactsSince: "2025-01-01",
    };
    const wip = () =>
      pactsForVerification(w.d(), api, request, url, {
        wipVerificationIds: new Set(
          w.s.verifications
            .filter((v) => v.success)
            .map((v) => v.id)
            .slice(0, 1),
        ),
        tagsCreatedAt: [],
      }).filter((p) => p.wip);
    expect(wip().map((p) => p.pactVersion.sha)).toEqual(["feat-pact"]);
    w.verify(feat, w.version(api, "p1", "main"), true); // the first success: marked WIP below
    expect(wip()).toHaveLength(1);
    w.verify(feat, w.version(api, "p2", "main"), true);
    expect(wip()).toHaveLength(0);
  });

  it("the latest pact of a consumer tag is a candidate; pending is only given when asked for", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    w.version(api, "p0", undefined, "master");
    w.publish(w.version(web, "1", undefined, "master"), web, api, "master-pact");
    w.publish(w.version(web, "2", undefined, "feat-x"), web, api, "feat-pact");
    const request = {
      consumerVersionSelectors: [{ tag: "master", latest: true }],
      providerVersionTags: ["master"],
      includeWipPactsSince: "2025-01-01",
    };
    const list = pactsForVerification(w.d(), api, request, url);
    expect(list.map((p) => [p.pactVersion.sha, p.wip, p.pending])).toEqual([
      ["master-pact", false, undefined],
      ["feat-pact", true, undefined],
    ]);
    expect(list[1]?.shortDescription).toBe("WIP: latest version with tag 'feat-x' (2)");
    const withPending = pactsForVerification(w.d(), api, { ...request, includePendingStatus: true }, url);
    expect(withPending.map((p) => p.pending)).toEqual([true, true]);
    // A tag the provider never used takes on no earlier WIP pact.
    expect(
      pactsForVerification(w.d(), api, { ...request, providerVersionTags: ["brand-new"] }, url).filter(
        (p) => p.wip,
      ),
    ).toHaveLength(0);
  });
});

describe("the metadata segment", () => {
  it("is base64 of a query string, decoded from either alphabet", () => {
    const segment = encodePactMetadata({ w: "true" });
    expect(segment).toBe("dz10cnVl");
    expect(isWipMetadata(segment)).toBe(true);
    expect(decodePactMetadata(Buffer.from("w=true&p=false").toString("base64"))).toEqual({
      w: "true",
      p: "false",
    });
    expect(isWipMetadata(undefined)).toBe(false);
    expect(isWipMetadata("not base64 at all!")).toBe(false);
  });
});
