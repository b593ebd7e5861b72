import { describe, expect, it } from "vitest";
import { MatrixQueryError, queryMatrix, validateMatrixQuery, versionsForSelector } from "./matrix.ts";
import { BrokerData, emptySnapshot, type Snapshot } from "./model.ts";

// How a matrix selector picks versions (the real broker's Version.for_selector:
// every criterion narrows the same set) and which queries it refuses.

function world() {
  const s: Snapshot = emptySnapshot();
  let id = 0;
  const at = new Date(Date.UTC(2026, 0, 1));
  const foo = { id: ++id, name: "Foo", mainBranch: "main", createdAt: at };
  s.pacticipants.push(foo);
  const env = { uuid: "e1", name: "prod", displayName: null, production: true };
  s.environments.push(env);
  const branches = new Map<string, number>();
  const version = (number: string, opts: { branch?: string; tag?: string; prod?: boolean } = {}) => {
    const v = { id: ++id, pacticipantId: foo.id, number, createdAt: at };
    s.versions.push(v);
    if (opts.branch) {
      let b = branches.get(opts.branch);
      if (b === undefined) {
        b = ++id;
        branches.set(opts.branch, b);
        s.branches.push({ id: b, pacticipantId: foo.id, name: opts.branch, createdAt: at });
      }
      s.branchVersions.push({ id: ++id, branchId: b, versionId: v.id, createdAt: at });
    }
    if (opts.tag) s.tags.push({ versionId: v.id, name: opts.tag });
    if (opts.prod)
      s.deployedVersions.push({
        uuid: `d${v.id}`,
        versionId: v.id,
        environmentUuid: env.uuid,
        applicationInstance: null,
        createdAt: at,
        undeployedAt: null,
      });
    return v;
  };
  version("1", { branch: "main", tag: "prod", prod: true });
  version("2", { branch: "main" });
  version("3", { branch: "feat", tag: "prod" });
  return { d: new BrokerData(s), foo };
}

const numbers = (vs: { number: string }[] | null) => vs?.map((v) => v.number) ?? null;

describe("versionsForSelector", () => {
  it("without latest, a main branch, branch, tag or environment means every such version", () => {
    const { d, foo } = world();
    expect(numbers(versionsForSelector(d, foo, { pacticipant: "Foo", mainBranch: true }))).toEqual([
      "1",
      "2",
    ]);
    expect(
      numbers(versionsForSelector(d, foo, { pacticipant: "Foo", mainBranch: true, latest: true })),
    ).toEqual(["2"]);
    expect(numbers(versionsForSelector(d, foo, { pacticipant: "Foo", tag: "prod" }))).toEqual(["1", "3"]);
    expect(numbers(versionsForSelector(d, foo, { pacticipant: "Foo", environment: "prod" }))).toEqual(["1"]);
    expect(versionsForSelector(d, foo, { pacticipant: "Foo" })).toBeNull();
  });

  it("criteria combine: the latest with a tag, a tag on a branch, a version in an environment", () => {
    const { d, foo } = world();
    expect(numbers(versionsForSelector(d, foo, { pacticipant: "Foo", tag: "prod", latest: true }))).toEqual([
      "3",
    ]);
    expect(numbers(versionsForSelector(d, foo, { pacticipant: "Foo", tag: "prod", branch: "main" }))).toEqual(
      ["1"],
    );
    expect(
      numbers(versionsForSelector(d, foo, { pacticipant: "Foo", version: "2", environment: "prod" })),
    ).toEqual([]);
  });
});

describe("validateMatrixQuery", () => {
  it("refuses what the real broker refuses, and queryMatrix throws it", () => {
    const { d } = world();
    const q = (extra: object) => ({
      selectors: [{ pacticipant: "Foo", version: "1" }],
      ignore: [],
      ...extra,
    });
    expect(validateMatrixQuery(d, q({}))).toEqual([]);
    expect(validateMatrixQuery(d, q({ selectors: [{ pacticipant: "Bar" }] }))).toEqual([
      "Pacticipant Bar not found",
    ]);
    expect(validateMatrixQuery(d, q({ latest: true, environment: "prod" }))).toEqual([
      "Cannot specify both latest=true and an environment.",
    ]);
    expect(validateMatrixQuery(d, q({ tag: "x", mainBranch: true }))[0]).toContain(
      "Cannot specify more than one",
    );
    expect(() => queryMatrix(d, q({ environment: "nowhere" }))).toThrow(MatrixQueryError);
  });
});
