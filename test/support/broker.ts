import { execFile } from "node:child_process";
import path from "node:path";
import { tempDatabase } from "#test/support/postgres.ts";
import { freePort, ROOT, type ServiceProcess, startServiceProcess } from "#test/support/service-process.ts";

/**
 * Accord's Pact Broker (tools/pact-broker) as a real process on a temporary
 * database of its own, and the OFFICIAL `pact-broker` CLI
 * (@pact-foundation/pact-cli) run against it, the way the release scripts run
 * it. Shared by the broker's contract tests; the API only grows.
 */

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
  /** A JSON request to this broker (path relative to its base URL). */
  request(path: string, init?: { method?: string; body?: unknown }): Promise<JsonResponse>;
  /** Stops the process and drops its database. */
  stop(): Promise<void>;
}

export interface StartBrokerOptions {
  /** Extra environment for the broker process (PACT_BROKER_* settings, LOG_LEVEL). */
  env?: Record<string, string>;
  /** Fixed port; a free one by default. */
  port?: number;
}

export async function startBroker(options: StartBrokerOptions = {}): Promise<BrokerProcess> {
  const db = tempDatabase("pact-broker");
  const port = options.port ?? (await freePort());
  const proc = await startServiceProcess(
    "tools/pact-broker/src/main.ts",
    { PACT_BROKER_PORT: String(port), PACT_BROKER_DATABASE: db.name, ...options.env },
    port,
  );
  let stopped: Promise<void> | undefined;
  return {
    url: proc.url,
    port,
    database: db.name,
    process: proc,
    output: proc.output,
    cli: (args, cliOptions) => pactBrokerCli(proc.url, args, cliOptions),
    request: (p, init) => brokerRequest(proc.url, p, init),
    stop() {
      stopped ??= (async () => {
        await proc.stop();
        await db.drop();
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
}

export interface CliResult {
  /** The exit code (1 when it could not be told). */
  code: number;
  stdout: string;
  stderr: string;
  /** stdout then stderr, for assertion messages. */
  output: string;
}

/** Runs the official CLI with PACT_BROKER_BASE_URL set to brokerUrl. */
export function pactBrokerCli(
  brokerUrl: string,
  args: readonly string[],
  options: CliOptions = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      PACT_BROKER_CLI,
      [...args],
      {
        cwd: options.cwd ?? ROOT,
        env: {
          ...process.env,
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
}

/** One HAL/JSON request to a broker; the body, when given, is sent as JSON. */
export async function brokerRequest(
  brokerUrl: string,
  p: string,
  init: { method?: string; body?: unknown } = {},
): Promise<JsonResponse> {
  const res = await fetch(new URL(p, `${brokerUrl}/`), {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: {
      accept: "application/hal+json",
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
}
