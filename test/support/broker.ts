import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { devClientTokens } from "#lib/auth/dev-identities.ts";
import { tempDatabase } from "#test/support/postgres.ts";
import { freePort, ROOT, type ServiceProcess, startServiceProcess } from "#test/support/service-process.ts";

/**
 * Accord's Pact Broker (tools/pact-broker) as a real process on a temporary
 * database of its own, and the OFFICIAL `pact-broker` CLI
 * (@pact-foundation/pact-cli) run against it, the way the release scripts run
 * it. Shared by the broker's contract tests; the API only grows.
 *
 * Writes need a bearer token whose caller holds the realm role "release":
 * the CLI and brokerRequest() carry the CI client's real token (accord-ci,
 * audience pact-broker) unless a test says otherwise (`token: null` for
 * none, or another Authorization value).
 */

/** The CI client's real broker token from the realm (cached until shortly before it expires). */
export function releaseToken(): Promise<string> {
  return devClientTokens("accord-ci").token("pact-broker");
}

/** The official CLI binary the release scripts use. */
export const PACT_BROKER_CLI = path.join(ROOT, "node_modules/.bin/pact-broker");

export interface BrokerProcess {
  /** Base URL, e.g. http://127.0.0.1:41234 (loopback only). */
  readonly url: string;
  readonly port: number;
  /** The temporary database it runs on (dropped by stop()). */
  readonly database: string;
  readonly process: ServiceProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** The official CLI against this broker. */
  cli(args: readonly string[], options?: CliOptions): Promise<CliResult>;
  /** A JSON request to this broker (path relative to its base URL), with the CI client's token by default. */
  request(path: string, init?: BrokerRequestInit): Promise<JsonResponse>;
  /** Stops the process and drops its database. */
  stop(): Promise<void>;
}

export interface StartBrokerOptions {
  /** Extra environment for the broker process (PACT_BROKER_* settings, LOG_LEVEL). */
  env?: Record<string, string>;
  /** Fixed port; a free one by default. */
  port?: number;
  /**
   * Run on this existing database (another broker's, to restart on the same
   * data) instead of a new one; stop() then leaves it in place.
   */
  database?: string;
}

export async function startBroker(options: StartBrokerOptions = {}): Promise<BrokerProcess> {
  const db = tempDatabase("pact-broker");
  const database = options.database ?? db.name;
  const port = options.port ?? (await freePort());
  const proc = await startServiceProcess(
    "tools/pact-broker/src/main.ts",
    { PACT_BROKER_PORT: String(port), PACT_BROKER_DATABASE: database, ...options.env },
    port,
  );
  let stopped: Promise<void> | undefined;
  return {
    url: proc.url,
    port,
    database,
    process: proc,
    output: proc.output,
    cli: (args, cliOptions) => pactBrokerCli(proc.url, args, cliOptions),
    request: (p, init) => brokerRequest(proc.url, p, init),
    stop() {
      stopped ??= (async () => {
        await proc.stop();
        if (options.database === undefined) await db.drop();
      })();
      return stopped;
    },
  };
}

export interface CliOptions {
  cwd?: string;
  /** Extra environment (PACT_BROKER_BASE_URL is set to the broker's URL). */
  env?: Record<string, string>;
  timeoutMs?: number;
  /** PACT_BROKER_TOKEN: the CI client's real token by default; null runs the CLI without one. */
  token?: string | null;
}

export interface CliResult {
  /** The exit code (1 when it could not be told). */
  code: number;
  stdout: string;
  stderr: string;
  /** stdout then stderr, for assertion messages. */
  output: string;
}

/** Runs the official CLI with PACT_BROKER_BASE_URL set to brokerUrl (and PACT_BROKER_TOKEN, see CliOptions). */
export async function pactBrokerCli(
  brokerUrl: string,
  args: readonly string[],
  options: CliOptions = {},
): Promise<CliResult> {
  const token = options.token === undefined ? await releaseToken() : options.token;
  const { PACT_BROKER_TOKEN: _inherited, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(
      PACT_BROKER_CLI,
      [...args],
      {
        cwd: options.cwd ?? ROOT,
        env: {
          ...inherited,
          ...(token === null ? {} : { PACT_BROKER_TOKEN: token }),
          PACT_BROKER_BASE_URL: brokerUrl,
          PACT_DO_NOT_TRACK: "true",
          NO_COLOR: "1",
          ...options.env,
        },
        timeout: options.timeoutMs ?? 60_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, output: `${stdout}${stderr}` });
      },
    );
  });
}

export interface JsonResponse {
  status: number;
  /** The parsed JSON body; undefined when there was none. */
  body: unknown;
  /** Response headers, lower-case names. */
  headers?: Record<string, string>;
}

export interface BrokerRequestInit {
  method?: string;
  body?: unknown;
  /** The Authorization header: "Bearer <the CI client's token>" by default; null sends none. */
  authorization?: string | null;
}

/** One HAL/JSON request to a broker; the body, when given, is sent as JSON. */
export async function brokerRequest(
  brokerUrl: string,
  p: string,
  init: BrokerRequestInit = {},
): Promise<JsonResponse> {
  const authorization =
    init.authorization === undefined ? `Bearer ${await releaseToken()}` : init.authorization;
  const res = await fetch(new URL(p, `${brokerUrl}/`), {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: {
      accept: "application/hal+json",
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...(authorization === null ? {} : { authorization }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text === "" ? undefined : JSON.parse(text),
    headers: Object.fromEntries(res.headers),
  };
}

// ---- Pact documents, publishing and verification results (added for the
// broker's matrix, content and pending/WIP contract tests) ----

/** One HTTP interaction of a hand-written pact: GET `path` answers 200 with `body`. */
export interface SimpleInteraction {
  description: string;
  path: string;
  body?: Record<string, unknown>;
  providerState?: string;
}

/** A pact document (specification 2) between consumer and provider with the given interactions. */
export function pactDocument(
  consumer: string,
  provider: string,
  interactions: readonly SimpleInteraction[],
): Record<string, unknown> {
  return {
    consumer: { name: consumer },
    provider: { name: provider },
    interactions: interactions.map((i) => ({
      description: i.description,
      ...(i.providerState ? { providerState: i.providerState } : {}),
      request: { method: "GET", path: i.path },
      response: {
        status: 200,
        headers: { "Content-Type": "application/json" },
        body: i.body ?? {},
      },
    })),
    metadata: { pactSpecification: { version: "2.0.0" } },
  };
}

/** A fresh temporary directory holding each document as <consumer>-<provider>.json. */
export async function pactDir(
  docs: readonly Record<string, unknown>[],
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const { mkdtemp, rm, writeFile } = await import("node:fs/promises");
  const os = await import("node:os");
  const dir = await mkdtemp(path.join(os.tmpdir(), "accord-broker-pacts-"));
  for (const doc of docs) {
    const name = (side: string) => String((doc[side] as { name?: unknown } | undefined)?.name ?? side);
    await writeFile(path.join(dir, `${name("consumer")}-${name("provider")}.json`), JSON.stringify(doc));
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Publishes the documents with the official CLI (`pact-broker publish`). */
export async function publishWithCli(
  broker: BrokerProcess,
  docs: readonly Record<string, unknown>[],
  version: string,
  options: { branch?: string; tags?: readonly string[]; merge?: boolean } = {},
): Promise<CliResult> {
  const { dir, remove } = await pactDir(docs);
  try {
    const args = ["publish", dir, "--consumer-app-version", version];
    if (options.branch) args.push("--branch", options.branch);
    for (const tag of options.tags ?? []) args.push("--tag", tag);
    if (options.merge) args.push("--merge");
    return await broker.cli(args);
  } finally {
    await remove();
  }
}

/**
 * Publishes a verification result the way a verifier does: the provider
 * version is put on its branch first (when given), then the result is POSTed
 * to the pact's pb:publish-verification-results relation. `pactUrl` defaults
 * to the pact of the given consumer version.
 */
export async function publishVerificationResult(
  broker: BrokerProcess,
  input: {
    provider: string;
    consumer: string;
    consumerVersion?: string;
    pactUrl?: string;
    providerVersion: string;
    success: boolean;
    branch?: string;
  },
): Promise<JsonResponse> {
  const enc = encodeURIComponent;
  const pactUrl =
    input.pactUrl ??
    `/pacts/provider/${enc(input.provider)}/consumer/${enc(input.consumer)}/version/${enc(input.consumerVersion ?? "")}`;
  const pact = await broker.request(pactUrl);
  if (pact.status !== 200) throw new Error(`no pact at ${pactUrl}: ${pact.status}`);
  const href = (pact.body as { _links: Record<string, { href: string }> })._links[
    "pb:publish-verification-results"
  ]?.href;
  if (!href) throw new Error(`pact at ${pactUrl} has no pb:publish-verification-results`);
  if (input.branch) {
    const put = await broker.request(
      `/pacticipants/${enc(input.provider)}/branches/${enc(input.branch)}/versions/${enc(input.providerVersion)}`,
      { method: "PUT", body: {} },
    );
    if (put.status >= 300) throw new Error(`branch version not created: ${put.status}`);
  }
  return broker.request(href, {
    method: "POST",
    body: { success: input.success, providerApplicationVersion: input.providerVersion },
  });
}

/** The uuid of the environment with this name (undefined when there is none). */
export async function environmentUuid(brokerUrl: string, name: string): Promise<string | undefined> {
  const r = await brokerRequest(brokerUrl, `/environments?name=${encodeURIComponent(name)}`);
  const body = r.body as { _embedded?: { environments?: { uuid: string; name: string }[] } } | undefined;
  return body?._embedded?.environments?.find((e) => e.name === name)?.uuid;
}

/** Creates a pacticipant version (optionally on a branch) through the HTTP API, not the CLI. */
export async function putVersion(
  brokerUrl: string,
  pacticipant: string,
  version: string,
  branch?: string,
): Promise<void> {
  const p = encodeURIComponent(pacticipant);
  const v = encodeURIComponent(version);
  const path = branch
    ? `/pacticipants/${p}/branches/${encodeURIComponent(branch)}/versions/${v}`
    : `/pacticipants/${p}/versions/${v}`;
  const r = await brokerRequest(brokerUrl, path, { method: "PUT", body: {} });
  if (r.status !== 200 && r.status !== 201)
    throw new Error(`PUT ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
}

export interface RecordedRequest {
  method: string;
  /** Path and query, as the server received them. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Date.now() when it arrived. */
  at: number;
}

export interface RecordingServer {
  /** Its loopback base URL, e.g. http://127.0.0.1:41235 */
  readonly url: string;
  /** Every request received so far, oldest first. */
  readonly requests: RecordedRequest[];
  /** How many TCP connections were opened to it (a refused webhook opens none). */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A tiny HTTP server on 127.0.0.1 that records every request and answers with
 * what `reply` returns (204 by default): a loopback webhook target for tests.
 */
export async function startRecordingServer(
  reply: (
    request: RecordedRequest,
    index: number,
  ) => { status: number; body?: string } | Promise<{ status: number; body?: string }> = () => ({
    status: 204,
  }),
): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    const at = Date.now();
    req.on("end", () => {
      const recorded: RecordedRequest = {
        at,
        method: req.method ?? "GET",
        url: req.url ?? "/",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      const index = requests.push(recorded) - 1;
      Promise.resolve(reply(recorded, index)).then(
        (answer) => {
          res.writeHead(answer.status, { "content-type": "text/plain" });
          res.end(answer.body ?? "");
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    });
  });
  let connections = 0;
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
