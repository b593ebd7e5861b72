import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

// A local stand-in for the CI job a Pact Broker webhook triggers: it verifies
// the pact the webhook names, for the provider version it names.
//
//   node scripts/release/verification-runner.ts
//
// Listens on 127.0.0.1 only (VERIFICATION_RUNNER_PORT, default 9494). A
// webhook POSTs to /verify with a JSON body made of the broker's template
// parameters (tools/pact-broker/README.md shows the create-webhook command):
//
//   { "provider": "${pactbroker.providerName}", "pactUrl": "${pactbroker.pactUrl}",
//     "providerVersion": "${pactbroker.providerVersionNumber}",
//     "providerBranch": "${pactbroker.providerVersionBranch}" }
//
// It answers 202 at once (the broker records the webhook as successful, as a
// CI server that queued a build would) and runs the jobs one after the other:
//
//   bash scripts/release/verify-provider.sh <provider> "" <pactUrl>
//
// with PACT_VERSION and PACT_BRANCH set to the provider version and branch
// from the webhook, so the result is published for that version. A real CI
// job would check that version out first; this runner verifies the working
// tree, so run it from a checkout of the version the broker asks for.
// VERIFICATION_RUNNER_COMMAND replaces the command: a JSON array of words,
// or words separated by spaces; the provider and the pact URL are appended.
// GET /jobs lists the jobs with their state and exit code.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const port = Number(process.env.VERIFICATION_RUNNER_PORT ?? "9494");
const command = commandWords(process.env.VERIFICATION_RUNNER_COMMAND);

interface Job {
  id: number;
  provider: string;
  pactUrl: string;
  providerVersion: string;
  providerBranch: string;
  state: "queued" | "running" | "done";
  exitCode: number | null;
  receivedAt: string;
}

const jobs: Job[] = [];
let current: ChildProcess | undefined;

function commandWords(raw: string | undefined): string[] {
  if (!raw) return ["bash", path.join(ROOT, "scripts/release/verify-provider.sh")];
  const trimmed = raw.trim();
  if (trimmed.startsWith("[")) {
    const parsed: unknown = JSON.parse(trimmed);
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((w) => typeof w === "string"))
      throw new Error("VERIFICATION_RUNNER_COMMAND must be a JSON array of strings");
    return parsed;
  }
  return trimmed.split(/\s+/);
}

const log = (text: string) => process.stdout.write(`[verification-runner] ${text}\n`);

/** The job a webhook asks for, or why it cannot be run. */
function jobOf(
  body: unknown,
  query: URLSearchParams,
): Omit<Job, "id" | "state" | "exitCode" | "receivedAt"> | string {
  const fields = body !== null && typeof body === "object" ? (body as Record<string, unknown>) : {};
  const field = (name: string) => {
    const v = fields[name] ?? query.get(name) ?? "";
    return typeof v === "string" ? v.trim() : "";
  };
  const provider = field("provider");
  const pactUrl = field("pactUrl");
  if (!/^[A-Za-z0-9._-]+$/.test(provider))
    return "provider must be a pacticipant name (letters, digits, . _ -)";
  if (!/^https?:\/\//.test(pactUrl) || !URL.canParse(pactUrl)) return "pactUrl must be an http(s) URL";
  return {
    provider,
    pactUrl,
    providerVersion: field("providerVersion"),
    providerBranch: field("providerBranch"),
  };
}

function runNext(): void {
  if (current) return;
  const job = jobs.find((j) => j.state === "queued");
  if (!job) return;
  job.state = "running";
  const [program, ...args] = command;
  if (!program) return;
  log(`job ${job.id}: verifying ${job.pactUrl} as ${job.provider} ${job.providerVersion || "(git version)"}`);
  const env: NodeJS.ProcessEnv = { ...process.env, PACT_URL: job.pactUrl, PACT_PROVIDER: job.provider };
  if (job.providerVersion) env.PACT_VERSION = job.providerVersion;
  if (job.providerBranch) env.PACT_BRANCH = job.providerBranch;
  const child = spawn(program, [...args, job.provider, "", job.pactUrl], {
    cwd: ROOT,
    env,
    stdio: "inherit",
  });
  current = child;
  const finish = (code: number | null) => {
    job.state = "done";
    job.exitCode = code;
    current = undefined;
    log(`job ${job.id}: exit ${code}`);
    runNext();
  };
  child.once("error", (error) => {
    log(`job ${job.id}: ${error.message}`);
    finish(127);
  });
  child.once("exit", (code) => finish(code));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://runner");
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.method === "GET" && url.pathname === "/jobs") return reply(200, { jobs });
  if (req.method !== "POST" || url.pathname !== "/verify")
    return reply(404, { error: "POST /verify or GET /jobs" });
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    let body: unknown = {};
    const text = Buffer.concat(chunks).toString("utf8").trim();
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        return reply(400, { error: "body is not JSON" });
      }
    }
    const wanted = jobOf(body, url.searchParams);
    if (typeof wanted === "string") return reply(400, { error: wanted });
    const job: Job = {
      id: jobs.length + 1,
      ...wanted,
      state: "queued",
      exitCode: null,
      receivedAt: new Date().toISOString(),
    };
    jobs.push(job);
    reply(202, { accepted: job.id });
    runNext();
  });
});

server.listen(port, "127.0.0.1", () => log(`listening on http://127.0.0.1:${port}/verify`));

for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => {
    server.close();
    current?.kill(signal);
    process.exit(0);
  });
