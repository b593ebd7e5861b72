import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { MatchersV3, PactV4, Verifier } from "@pact-foundation/pact";
import { type CliResult, pactBrokerCli, releaseToken } from "#test/support/broker.ts";

// Harness for the release-gate tests: Accord's broker as a real process with
// its own database, the OFFICIAL pact-broker CLI, pact-js consumer tests that
// write real pact files, the pact-js Verifier, and tiny provider servers.

// The broker process and the official CLI come from test/support/broker.ts,
// shared with the broker's own contract tests.
export { type BrokerProcess as Broker, startBroker } from "#test/support/broker.ts";

/** Runs the official CLI (a Rust binary) the way the release scripts do. */
export function cli(brokerUrl: string, args: string[], cwd?: string): Promise<CliResult> {
  return pactBrokerCli(brokerUrl, args, cwd === undefined ? {} : { cwd });
}

export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "accord-pact-gate-"));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A pact-js V4 consumer test: the consumer reads order 1 and needs the given
 * fields. Writes <consumer>-<provider>.json into dir.
 */
export async function writeConsumerPact(opts: {
  consumer: string;
  provider: string;
  dir: string;
  fields: Record<string, string | number>;
}): Promise<void> {
  const pact = new PactV4({
    consumer: opts.consumer,
    provider: opts.provider,
    dir: opts.dir,
    logLevel: "error",
  });
  const body: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts.fields))
    body[k] = typeof v === "number" ? MatchersV3.integer(v) : MatchersV3.string(v);
  await pact
    .addInteraction()
    .given("order 1 exists")
    .uponReceiving("a request for order 1")
    .withRequest("GET", "/orders/1")
    .willRespondWith(200, (b) => b.jsonBody(body))
    .executeTest(async (mock) => {
      const res = await fetch(`${mock.url}/orders/1`);
      const json = (await res.json()) as Record<string, unknown>;
      for (const k of Object.keys(opts.fields)) if (!(k in json)) throw new Error(`consumer needs ${k}`);
    });
}

/** A provider: answers GET /orders/1 with exactly the given fields. */
export async function startProvider(
  fields: Record<string, unknown>,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/orders/1") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(fields));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Verifies a provider against the broker's pacts for verification and publishes the results. */
export async function verifyFromBroker(opts: {
  brokerUrl: string;
  provider: string;
  providerVersion: string;
  providerBaseUrl: string;
  branch?: string;
  enablePending: boolean;
  includeWipPactsSince?: string;
}): Promise<"passed" | "failed"> {
  const verifier = new Verifier({
    providerBaseUrl: opts.providerBaseUrl,
    provider: opts.provider,
    pactBrokerUrl: opts.brokerUrl,
    consumerVersionSelectors: [{ mainBranch: true }, { deployedOrReleased: true }],
    enablePending: opts.enablePending,
    ...(opts.includeWipPactsSince ? { includeWipPactsSince: opts.includeWipPactsSince } : {}),
    publishVerificationResult: true,
    pactBrokerToken: await releaseToken(),
    providerVersion: opts.providerVersion,
    providerVersionBranch: opts.branch ?? "main",
    stateHandlers: { "order 1 exists": async () => {} },
    logLevel: "error",
  });
  try {
    await verifier.verifyProvider();
    return "passed";
  } catch {
    return "failed";
  }
}
