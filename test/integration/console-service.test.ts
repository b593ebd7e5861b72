import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsoleService } from "#gen/accord/console/v1/console_pb.js";
import { rpcClient } from "#lib/rpc/clients.ts";
import { type BrokerProcess, startBroker } from "#test/support/broker.ts";
import { callerAs } from "#test/support/identity.ts";
import { shortId } from "#test/support/postgres.ts";
import { freePort } from "#test/support/service-process.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// ConsoleService on the real console process with real tokens: readiness of
// a real orders process (and of addresses where nothing listens), the
// gauges from the running Prometheus, and contracts from a real Pact Broker
// (tools/pact-broker, filled with the official CLI as the release scripts do).
const run = shortId();
const consumer = `console-web-${run}`;
const provider = `console-api-${run}`;
const environment = `console-env-${run}`;

let broker: BrokerProcess;
let orders: ServiceUnderTest<"orders">;
let consoleProcess: ServiceUnderTest<"console">;
let pactDir: string;

async function cli(args: string[]): Promise<void> {
  const result = await broker.cli(args);
  if (result.code !== 0) throw new Error(`pact-broker ${args.join(" ")}: ${result.output}`);
}

beforeAll(async () => {
  broker = await startBroker();
  orders = await startServiceUnderTest("orders", { tag: "console" });
  // A free port nothing listens on: those processes are reported down, with the reason.
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  consoleProcess = await startServiceUnderTest("console", {
    tag: "console",
    env: {
      ORDERS_URL: orders.url,
      INVENTORY_URL: nowhere,
      PAYMENTS_URL: nowhere,
      SHIPPING_URL: nowhere,
      NOTIFICATIONS_URL: nowhere,
      ORCHESTRATOR_URL: nowhere,
      CATALOG_URL: nowhere,
      PAYMENT_PROVIDER_URL: nowhere,
      CARRIER_URL: nowhere,
      SMTP_SINK_URL: nowhere,
      PACT_BROKER_BASE_URL: broker.url,
    },
  });

  // The provider is deployed; the consumer's new version has a pact nobody verified.
  pactDir = await mkdtemp(path.join(os.tmpdir(), "console-pact-"));
  const pactFile = path.join(pactDir, "pact.json");
  await writeFile(
    pactFile,
    JSON.stringify({
      consumer: { name: consumer },
      provider: { name: provider },
      interactions: [
        {
          description: "a list of orders",
          request: { method: "POST", path: "/accord.orders.v1.OrderService/ListOrders", body: {} },
          response: { status: 200, body: { orders: [] } },
        },
      ],
      metadata: { pactSpecification: { version: "2.0.0" } },
    }),
  );
  await cli(["create-environment", "--name", environment]);
  await cli(["create-or-update-version", "--pacticipant", provider, "--version", "p1", "--branch", "main"]);
  await cli([
    "record-deployment",
    "--pacticipant",
    provider,
    "--version",
    "p1",
    "--environment",
    environment,
  ]);
  await cli(["publish", pactFile, "--consumer-app-version", "c2", "--branch", "main"]);
}, 120_000);

afterAll(async () => {
  await consoleProcess?.stop();
  await orders?.stop();
  await broker?.stop();
  if (pactDir) await rm(pactDir, { recursive: true, force: true });
});

describe("ConsoleService", () => {
  it("reports every process's readiness, and Prometheus' gauges without errors", async () => {
    const health = await consoleProcess.client.getPlatformHealth({});
    const byName = new Map(health.processes.map((p) => [p.name, p]));
    expect(byName.get("orders")).toMatchObject({ url: orders.url, ready: true, reason: "" });
    expect(byName.get("payments")).toMatchObject({ ready: false, reason: "connection refused" });
    expect(byName.get("pact-broker")).toMatchObject({ url: broker.url, ready: true });
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining([
        "inventory",
        "shipping",
        "notifications",
        "orchestrator",
        "catalog",
        "carrier",
      ]),
    );
    // Prometheus runs with the infrastructure: every query answered.
    expect(health.errors).toEqual([]);
    expect(health.readAt).toBeDefined();
    for (const breaker of health.breakers) expect(["closed", "half-open", "open"]).toContain(breaker.state);
    for (const depth of health.deadLetters) expect(["rabbitmq", "kafka"]).toContain(depth.broker);
  });

  it("lists pacticipants with the versions deployed per environment", async () => {
    const contracts = await consoleProcess.client.listContracts({});
    expect(contracts.environments).toContain(environment);
    const api = contracts.pacticipants.find((p) => p.name === provider);
    expect(api?.latestVersion).toBe("p1");
    expect(api?.deployments).toEqual([expect.objectContaining({ environment, version: "p1" })]);
    expect(api?.deployments[0]?.deployedAt).toBeDefined();
    const web = contracts.pacticipants.find((p) => p.name === consumer);
    expect(web).toMatchObject({ latestVersion: "c2", deployments: [] });
  });

  it("answers can-i-deploy as the broker does: no for an unverified pact, naming the pair", async () => {
    const answer = await consoleProcess.client.canIDeploy({
      pacticipant: consumer,
      version: "c2",
      environment,
    });
    expect(answer.deployable).toBe(false);
    expect(answer.reason).not.toBe("");
    expect(answer.rows).toEqual([
      expect.objectContaining({ consumer, consumerVersion: "c2", provider, providerVersion: "" }),
    ]);
    expect(answer.rows[0]?.verified).toBeUndefined();

    const provided = await consoleProcess.client.canIDeploy({
      pacticipant: provider,
      version: "p1",
      environment,
    });
    expect(provided.deployable).toBe(true);
  });

  it("names bad fields, finds no unknown version or environment, and is for operators only", async () => {
    const error = await consoleProcess.client
      .canIDeploy({ pacticipant: "", version: "v 1", environment })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toContain("pacticipant: is required");
    expect((error as ConnectError).rawMessage).toContain("version:");
    await expect(
      consoleProcess.client.canIDeploy({ pacticipant: provider, version: "nope", environment }),
    ).rejects.toMatchObject({ code: Code.NotFound });
    await expect(
      consoleProcess.client.canIDeploy({ pacticipant: provider, version: "p1", environment: "nowhere" }),
    ).rejects.toMatchObject({ code: Code.NotFound });

    for (const who of ["alice", "acme"] as const) {
      await expect(consoleProcess.clientAs(who).getPlatformHealth({})).rejects.toMatchObject({
        code: Code.PermissionDenied,
      });
    }
    await expect(consoleProcess.clientAs(undefined).listContracts({})).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    // A service's token for another audience is not the console's.
    const ordersToken = rpcClient(
      ConsoleService,
      consoleProcess.url,
      "connect-json",
      callerAs("orchestrator", "orders"),
    );
    await expect(ordersToken.listContracts({})).rejects.toMatchObject({ code: Code.Unauthenticated });
  });
});
