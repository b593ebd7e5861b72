import { describe, expect, it } from "vitest";
import { isPending } from "./for-verification.ts";
import { queryMatrix } from "./matrix.ts";
import { BrokerData, emptySnapshot, type Snapshot } from "./model.ts";

// The matrix rules on hand-built snapshots: consumer requires provider,
// provider does not require consumer, verifications shared by content, pending per branch.

function world() {
  const s: Snapshot = emptySnapshot();
  let id = 0;
  const t = (n: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, n));
  const pacticipant = (name: string) => {
    const p = { id: ++id, name, mainBranch: "main", createdAt: t(0) };
    s.pacticipants.push(p);
    return p;
  };
  const version = (p: { id: number }, number: string, branch?: string, at = id) => {
    const v = { id: ++id, pacticipantId: p.id, number, createdAt: t(at) };
    s.versions.push(v);
    if (branch) {
      let b = s.branches.find((x) => x.pacticipantId === p.id && x.name === branch);
      if (!b) {
        b = { id: ++id, pacticipantId: p.id, name: branch, createdAt: t(at) };
        s.branches.push(b);
      }
      s.branchVersions.push({ id: ++id, branchId: b.id, versionId: v.id, createdAt: t(at) });
    }
    return v;
  };
  const content = (c: { id: number }, p: { id: number }, sha: string) => {
    const pv = { id: ++id, consumerId: c.id, providerId: p.id, sha, createdAt: t(id) };
    s.pactVersions.push(pv);
    return pv;
  };
  const publish = (cv: { id: number }, p: { id: number }, pv: { id: number }) =>
    s.publications.push({
      id: ++id,
      consumerVersionId: cv.id,
      providerId: p.id,
      pactVersionId: pv.id,
      revision: 1,
      createdAt: t(id),
    });
  const verify = (pv: { id: number }, provV: { id: number }, success: boolean, at = id) =>
    s.verifications.push({
      id: ++id,
      pactVersionId: pv.id,
      providerVersionId: provV.id,
      success,
      createdAt: t(at),
    });
  const env = { uuid: "e1", name: "production", displayName: null, production: true };
  s.environments.push(env);
  const deploy = (v: { id: number }) =>
    s.deployedVersions.push({
      uuid: `d${++id}`,
      versionId: v.id,
      environmentUuid: env.uuid,
      applicationInstance: null,
      createdAt: t(id),
      undeployedAt: null,
    });
  return { s, pacticipant, version, content, publish, verify, deploy };
}

const canIDeploy = (s: Snapshot, pacticipant: string, version: string) =>
  queryMatrix(new BrokerData(s), {
    selectors: [{ pacticipant, version }],
    ignore: [],
    environment: "production",
    latestby: "cvpv",
  });

describe("matrix", () => {
  it("a consumer requires its provider in the environment; a provider does not require its consumers", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    const c1 = w.version(web, "c1", "main");
    const p1 = w.version(api, "p1", "main");
    const pv = w.content(web, api, "sha1");
    w.publish(c1, api, pv);
    w.verify(pv, p1, true);

    const consumer = canIDeploy(w.s, "web", "c1");
    expect(consumer.deployable).toBeNull();
    expect(consumer.reasons[0]?.text).toContain("no version is currently recorded as deployed/released");
    const provider = canIDeploy(w.s, "api", "p1");
    expect(provider.deployable).toBe(true);
    expect(provider.reasons[0]?.text).toBe("There are no missing dependencies");

    w.deploy(p1);
    expect(canIDeploy(w.s, "web", "c1").deployable).toBe(true);
  });

  it("a verification counts for every consumer version with identical content; a failure says no", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    const c1 = w.version(web, "c1", "main");
    const c2 = w.version(web, "c2", "main");
    const p1 = w.version(api, "p1", "main");
    const p2 = w.version(api, "p2", "main");
    const pv = w.content(web, api, "same");
    w.publish(c1, api, pv);
    w.publish(c2, api, pv);
    w.verify(pv, p1, true);
    w.verify(pv, p2, false);
    w.deploy(p1);
    w.deploy(c1);
    expect(canIDeploy(w.s, "web", "c2").deployable).toBe(true);
    const p2Check = canIDeploy(w.s, "api", "p2");
    expect(p2Check.deployable).toBe(false);
    expect(p2Check.reasons[0]?.text).toBe(
      "The verification for the pact between the version of web currently in production (c1) and version p2 of api failed",
    );
    expect(canIDeploy(w.s, "api", "p9").deployable).toBe(false);
  });

  it("pending: until a provider version on the branch (or before the branch existed) verified the content", () => {
    const w = world();
    const web = w.pacticipant("web");
    const api = w.pacticipant("api");
    const c1 = w.version(web, "c1", "main");
    const pv = w.content(web, api, "sha");
    w.publish(c1, api, pv);
    const d = () => new BrokerData(w.s);
    expect(isPending(d(), api, pv.id, "main")).toBe(true);
    const p1 = w.version(api, "p1", "main", 10);
    w.verify(pv, p1, false, 11);
    expect(isPending(d(), api, pv.id, "main")).toBe(true);
    w.verify(pv, p1, true, 12);
    expect(isPending(d(), api, pv.id, "main")).toBe(false);
    // A branch made after that success inherits it; one with no versions yet too.
    w.version(api, "f1", "feat/late", 20);
    expect(isPending(d(), api, pv.id, "feat/late")).toBe(false);
    expect(isPending(d(), api, pv.id, "feat/none")).toBe(false);
  });
});
