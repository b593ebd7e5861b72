import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BrokerProcess, startBroker } from "#test/support/broker.ts";

// The official CLI's environment commands against Accord's broker:
// create-environment, update-environment, list-environments,
// describe-environment and delete-environment, each through the binary.

let broker: BrokerProcess;

interface EnvironmentJson {
  uuid: string;
  name: string;
  displayName: string;
  production: boolean;
  _links: Record<string, { href: string }>;
}

async function environments(): Promise<EnvironmentJson[]> {
  const r = await broker.cli(["list-environments", "--output", "json"]);
  expect(r.code, r.output).toBe(0);
  return (JSON.parse(r.stdout) as { _embedded: { environments: EnvironmentJson[] } })._embedded.environments;
}

async function uuidOf(name: string): Promise<string> {
  const env = (await environments()).find((e) => e.name === name);
  if (!env) throw new Error(`no environment ${name}`);
  return env.uuid;
}

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await broker?.stop();
});

describe("pact-broker environment commands", () => {
  it("create-environment creates one, and refuses a second with the same name", async () => {
    const created = await broker.cli([
      "create-environment",
      "--name",
      "staging",
      "--display-name",
      "Staging",
      "--contact-name",
      "Platform",
      "--contact-email-address",
      "platform@example.org",
    ]);
    expect(created.code, created.output).toBe(0);
    expect(created.output).toContain("Created staging environment");

    const again = await broker.cli(["create-environment", "--name", "staging"]);
    expect(again.code).not.toBe(0);
    expect(again.output).toContain("already exists");
  });

  it("list-environments lists them, with the links the other commands follow", async () => {
    expect((await broker.cli(["create-environment", "--name", "production", "--production"])).code).toBe(0);
    const table = await broker.cli(["list-environments"]);
    expect(table.code, table.output).toBe(0);
    expect(table.stdout).toMatch(/staging.*Staging.*false/);
    expect(table.stdout).toMatch(/production.*true/);

    const prod = (await environments()).find((e) => e.name === "production");
    expect(prod?._links["pb:currently-deployed-deployed-versions"]?.href).toBe(
      `${broker.url}/environments/${prod?.uuid}/deployed-versions/currently-deployed`,
    );
    expect(prod?._links["pb:currently-supported-released-versions"]?.href).toBe(
      `${broker.url}/environments/${prod?.uuid}/released-versions/currently-supported`,
    );
  });

  it("describe-environment shows one by uuid", async () => {
    const uuid = await uuidOf("staging");
    const r = await broker.cli(["describe-environment", "--uuid", uuid]);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(`UUID ${uuid}`);
    expect(r.stdout).toContain("Name: staging");
    expect(r.stdout).toContain("Display Name: Staging");
    expect(r.stdout).toContain("Production: false");
    expect(r.stdout).toMatch(/Created At: "?\d{4}-\d{2}-\d{2}T/);
  });

  it("update-environment replaces its name, display name and production flag", async () => {
    const uuid = await uuidOf("staging");
    const r = await broker.cli([
      "update-environment",
      "--uuid",
      uuid,
      "--name",
      "preprod",
      "--display-name",
      "Pre-production",
      "--production",
    ]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("Updated preprod environment");
    const env = (await environments()).find((e) => e.uuid === uuid);
    expect(env).toMatchObject({ name: "preprod", displayName: "Pre-production", production: true });
  });

  it("delete-environment deletes it; describing it afterwards fails", async () => {
    expect((await broker.cli(["create-environment", "--name", "scratch"])).code).toBe(0);
    const uuid = await uuidOf("scratch");
    const deleted = await broker.cli(["delete-environment", "--uuid", uuid]);
    expect(deleted.code, deleted.output).toBe(0);
    expect(deleted.output).toContain("deleted");
    expect((await environments()).map((e) => e.name)).not.toContain("scratch");
    const described = await broker.cli(["describe-environment", "--uuid", uuid, "--retries", "0"]);
    expect(described.code).not.toBe(0);
    expect(described.output).toContain("404");
  });
});
