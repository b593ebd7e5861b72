import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BrokerProcess, putVersion, startBroker } from "#test/support/broker.ts";

// create-or-update-version, describe-version (by number, latest, latest with
// a tag, by environment) and delete-branch through the official CLI.

let broker: BrokerProcess;

interface VersionJson {
  number: string;
  _embedded: { tags: { name: string }[]; branchVersions: { name: string }[] };
}

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await broker?.stop();
});

describe("pact-broker version commands", () => {
  it("create-or-update-version creates a version with its branch and tag, and updates it", async () => {
    const created = await broker.cli([
      "create-or-update-version",
      "--pacticipant",
      "cart",
      "--version",
      "c1",
      "--branch",
      "main",
      "--tag",
      "prod",
    ]);
    expect(created.code, created.output).toBe(0);
    expect(created.output).toContain("Branch 'main' created for version 'c1'");
    expect(created.output).toContain("Tag 'prod' created for version 'c1'");

    const updated = await broker.cli([
      "create-or-update-version",
      "--pacticipant",
      "cart",
      "--version",
      "c1",
      "--branch",
      "release-1",
    ]);
    expect(updated.code, updated.output).toBe(0);
    const v = (await broker.request("/pacticipants/cart/versions/c1")).body as VersionJson;
    expect(v._embedded.branchVersions.map((b) => b.name).sort()).toEqual(["main", "release-1"]);
    expect(v._embedded.tags.map((t) => t.name)).toEqual(["prod"]);
    // The first of develop/main/master a pacticipant gets becomes its main branch.
    expect(((await broker.request("/pacticipants/cart")).body as { mainBranch: string }).mainBranch).toBe(
      "main",
    );
  });

  it("describe-version shows a version, the latest one, and the latest one with a tag", async () => {
    await putVersion(broker.url, "cart", "c2", "main");
    const describe = async (...args: string[]) => {
      const r = await broker.cli(["describe-version", "--pacticipant", "cart", "--output", "json", ...args]);
      expect(r.code, r.output).toBe(0);
      return JSON.parse(r.stdout) as VersionJson;
    };
    expect((await describe("--version", "c1")).number).toBe("c1");
    expect((await describe("--latest")).number).toBe("c2");
    // c2 has no tag: the latest version tagged prod is still c1.
    expect((await describe("--latest", "prod")).number).toBe("c1");

    const table = await broker.cli(["describe-version", "--pacticipant", "cart", "--version", "c1"]);
    expect(table.code, table.output).toBe(0);
    expect(table.stdout).toMatch(/c1\s+┆\s+prod/);

    const missing = await broker.cli([
      "describe-version",
      "--pacticipant",
      "cart",
      "--latest",
      "nope",
      "--retries",
      "0",
    ]);
    expect(missing.code).not.toBe(0);
  });

  it("describe-version --environment lists what is deployed and released there", async () => {
    expect((await broker.cli(["create-environment", "--name", "test"])).code).toBe(0);
    const record = (command: string, version: string) =>
      broker.cli([command, "--pacticipant", "cart", "--version", version, "--environment", "test"]);
    expect((await record("record-deployment", "c2")).code).toBe(0);
    expect((await record("record-release", "c1")).code).toBe(0);
    const r = await broker.cli(["describe-version", "--pacticipant", "cart", "--environment", "test"]);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(/c2\s+┆\s+Deployed\s+┆\s+test/);
    expect(r.stdout).toContain("c1");
    const deployedOnly = await broker.cli([
      "describe-version",
      "--pacticipant",
      "cart",
      "--environment",
      "test",
      "--deployed",
      "--output",
      "json",
    ]);
    expect(deployedOnly.code, deployedOnly.output).toBe(0);
    const list = JSON.parse(deployedOnly.stdout) as { _embedded: { version: { number: string } } }[];
    expect(list.map((x) => x._embedded.version.number)).toEqual(["c2"]);
  });

  it("create-version-tag adds a tag, delete-version-tag removes it and keeps the version", async () => {
    const added = await broker.cli([
      "create-version-tag",
      "--pacticipant",
      "cart",
      "--version",
      "c2",
      "--tag",
      "beta",
    ]);
    expect(added.code, added.output).toBe(0);
    expect((await broker.request("/pacticipants/cart/versions/c2/tags/beta")).status).toBe(200);
    const removed = await broker.cli([
      "delete-version-tag",
      "--pacticipant",
      "cart",
      "--version",
      "c2",
      "--tag",
      "beta",
    ]);
    expect(removed.code, removed.output).toBe(0);
    expect((await broker.request("/pacticipants/cart/versions/c2/tags/beta")).status).toBe(404);
    expect((await broker.request("/pacticipants/cart/versions/c2")).status).toBe(200);
  });

  it("delete-branch deletes the branch and keeps its versions", async () => {
    await putVersion(broker.url, "cart", "c3", "feature-x");
    expect((await broker.request("/pacticipants/cart/branches/feature-x")).status).toBe(200);
    const deleted = await broker.cli(["delete-branch", "--pacticipant", "cart", "--branch", "feature-x"]);
    expect(deleted.code, deleted.output).toBe(0);
    expect((await broker.request("/pacticipants/cart/branches/feature-x")).status).toBe(404);
    expect((await broker.request("/pacticipants/cart/versions/c3")).status).toBe(200);

    // Not found is fine unless asked otherwise, as with the real broker.
    const quiet = await broker.cli(["delete-branch", "--pacticipant", "cart", "--branch", "feature-x"]);
    expect(quiet.code, quiet.output).toBe(0);
    const strict = await broker.cli([
      "delete-branch",
      "--pacticipant",
      "cart",
      "--branch",
      "feature-x",
      "--error-when-not-found",
      "true",
    ]);
    expect(strict.code).not.toBe(0);
    expect(strict.output).toContain("as it was not found");
  });

  it("delete-branch encodes a branch name with a slash as one segment", async () => {
    await putVersion(broker.url, "cart", "c4", "feat/y");
    const deleted = await broker.cli([
      "delete-branch",
      "--pacticipant",
      "cart",
      "--branch",
      "feat/y",
      "--error-when-not-found",
      "true",
    ]);
    expect(deleted.code, deleted.output).toBe(0);
    expect((await broker.request("/pacticipants/cart/branches/feat%2Fy")).status).toBe(404);
  });
});
