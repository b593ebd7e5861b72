import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Broker,
  cli,
  startBroker,
  startProvider,
  tempDir,
  verifyFromBroker,
  writeConsumerPact,
} from "./pact-gate-harness.ts";

// The release gate end to end: pact-js consumer tests publish through the
// official CLI, the pact-js Verifier verifies tiny providers against Accord's
// broker and publishes results, and the CLI's can-i-deploy / record-deployment
// decide. The steps build on each other like a real pipeline history.

let broker: Broker;
const cleanups: (() => Promise<void>)[] = [];

const run = (args: string[]) => cli(broker.url, args);
const canIDeploy = (pacticipant: string, version: string) =>
  run(["can-i-deploy", "--pacticipant", pacticipant, "--version", version, "--to-environment", "production"]);
const recordDeployment = async (pacticipant: string, version: string) => {
  const r = await run([
    "record-deployment",
    "--pacticipant",
    pacticipant,
    "--version",
    version,
    "--environment",
    "production",
  ]);
  expect(r.code, r.output).toBe(0);
};

async function publishConsumer(
  consumer: string,
  provider: string,
  version: string,
  fields: Record<string, string | number>,
) {
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  await writeConsumerPact({ consumer, provider, dir: tmp.dir, fields });
  const r = await run(["publish", tmp.dir, "--consumer-app-version", version, "--branch", "main"]);
  expect(r.code, r.output).toBe(0);
  expect(r.output).not.toContain("❌");
}

async function verify(
  provider: string,
  version: string,
  sends: Record<string, unknown>,
  enablePending: boolean,
) {
  const server = await startProvider(sends);
  try {
    return await verifyFromBroker({
      brokerUrl: broker.url,
      provider,
      providerVersion: version,
      providerBaseUrl: server.url,
      enablePending,
    });
  } finally {
    await server.close();
  }
}

beforeAll(async () => {
  broker = await startBroker();
  const env = await run(["create-environment", "--name", "production", "--production"]);
  expect(env.code, env.output).toBe(0);
});

afterAll(async () => {
  for (const c of cleanups) await c();
  await broker?.stop();
});

describe("release gate through the official CLI and the pact-js Verifier", () => {
  it("a pact needing a field the provider does not send fails verification, and the consumer may not deploy", async () => {
    await publishConsumer("web", "orders", "web-1", { id: "1", total: 100, currency: "EUR" });

    expect(await verify("orders", "orders-1", { id: "1", total: 100 }, false)).toBe("failed");

    // The provider itself may go first: no consumer is deployed to break.
    const provider = await canIDeploy("orders", "orders-1");
    expect(provider.code, provider.output).toBe(0);
    await recordDeployment("orders", "orders-1");

    const consumer = await canIDeploy("web", "web-1");
    expect(consumer.code, consumer.output).toBe(1);
    expect(consumer.output).toContain("Computer says no");
    expect(consumer.output).toContain(
      "The verification for the pact between version web-1 of web and the version of orders currently in production (orders-1) failed",
    );
  });

  it("once the provider sends the field, verifies and is deployed, the consumer may deploy", async () => {
    expect(
      await verify("orders", "orders-2", { id: "1", total: 100, currency: "EUR", note: "x" }, false),
    ).toBe("passed");
    const provider = await canIDeploy("orders", "orders-2");
    expect(provider.code, provider.output).toBe(0);
    await recordDeployment("orders", "orders-2");

    const consumer = await canIDeploy("web", "web-1");
    expect(consumer.code, consumer.output).toBe(0);
    expect(consumer.output).toContain("Computer says yes");
    await recordDeployment("web", "web-1");
  });

  it("removing a field a deployed consumer uses is blocked; removing one nobody uses is not", async () => {
    // currency is used by web-1 (in production): not pending any more, so this fails the build.
    expect(await verify("orders", "orders-3", { id: "1", total: 100, note: "x" }, true)).toBe("failed");
    const breaking = await canIDeploy("orders", "orders-3");
    expect(breaking.code, breaking.output).toBe(1);
    expect(breaking.output).toContain(
      "The verification for the pact between the version of web currently in production (web-1) and version orders-3 of orders failed",
    );

    // note is used by nobody.
    expect(await verify("orders", "orders-4", { id: "1", total: 100, currency: "EUR" }, true)).toBe("passed");
    const harmless = await canIDeploy("orders", "orders-4");
    expect(harmless.code, harmless.output).toBe(0);
    expect(harmless.output).toContain("Computer says yes");
  });

  it("a new consumer's pact is pending: its failure does not fail the provider build", async () => {
    await publishConsumer("mobile", "orders", "mobile-1", { id: "1", giftWrap: "yes" });

    // Without pending pacts the new expectation would break the provider's build...
    expect(await verify("orders", "orders-5", { id: "1", total: 100, currency: "EUR" }, false)).toBe(
      "failed",
    );
    // ...with them the build passes, and the failed result is still published.
    expect(await verify("orders", "orders-6", { id: "1", total: 100, currency: "EUR" }, true)).toBe("passed");

    await recordDeployment("orders", "orders-6");
    const mobile = await canIDeploy("mobile", "mobile-1");
    expect(mobile.code, mobile.output).toBe(1);
    expect(mobile.output).toContain("failed");
  });

  it("first deploy: nothing deployed on the other side means yes, once the version is recorded", async () => {
    // A provider version the broker has never heard of cannot be judged: an
    // unknown pacticipant is a 400 on the real broker (matrix validate_selectors)...
    const unknown = await canIDeploy("catalog", "catalog-1");
    expect(unknown.code, unknown.output).toBe(1);
    expect(unknown.output).toContain("Pacticipant catalog not found");

    // ...so the release script records the version (with its branch) first.
    const created = await run([
      "create-or-update-version",
      "--pacticipant",
      "catalog",
      "--version",
      "catalog-1",
    ]);
    expect(created.code, created.output).toBe(0);
    const first = await canIDeploy("catalog", "catalog-1");
    expect(first.code, first.output).toBe(0);
    expect(first.output).toContain("There are no missing dependencies");

    // A provider whose consumers are not deployed yet may deploy: it cannot break them.
    await publishConsumer("shop", "stock", "shop-1", { id: "1" });
    expect(await verify("stock", "stock-1", { id: "1" }, true)).toBe("passed");
    const stock = await canIDeploy("stock", "stock-1");
    expect(stock.code, stock.output).toBe(0);

    // The other way round the real broker says no: a consumer needs its provider
    // in the environment first, so the provider deploys first.
    const shopFirst = await canIDeploy("shop", "shop-1");
    expect(shopFirst.code, shopFirst.output).toBe(1);
    expect(shopFirst.output).toContain(
      "no version is currently recorded as deployed/released in this environment",
    );
    await recordDeployment("stock", "stock-1");
    const shop = await canIDeploy("shop", "shop-1");
    expect(shop.code, shop.output).toBe(0);
  });
});
