import type http from "node:http";
import type { Logger } from "#lib/observability/logger.ts";
import { type Answer, type Processor, parseBehaviourChange } from "./processor.ts";

const MAX_BODY = 64 * 1024;

class BodyError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Plain node:http JSON API of the simulated processor:
 *   POST /v1/charges                (Idempotency-Key)  -> 201 {charge_id, status, decline_reason?}
 *   POST /v1/charges/{id}/refunds   (Idempotency-Key)  -> 201 {refund_id, charge_id, status: "refunded"}
 *   GET  /v1/charges?reference=...                     -> {charges, captured, refunded}
 *   GET  /v1/charges/{id}
 *   GET|POST /admin/behaviour {latencyMs?, declineRate?, outage?}
 * Outage and latency apply to the /v1 POSTs only, so tests can still inspect
 * charges while the "processor" is down or slow. During an outage nothing is
 * recorded (503 before processing). Latency is added AFTER the charge is
 * processed: a client that times out may have been charged, which is exactly
 * the case the payments service must survive with its idempotency key.
 */
export function createProviderHandler(processor: Processor, logger: Logger) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(processor, req)
      .then((answer) => send(res, answer))
      .catch((error: unknown) => {
        if (error instanceof BodyError) {
          send(res, { status: error.status, body: { error: "invalid_request", message: error.message } });
          return;
        }
        logger.error({ err: error }, "payment provider failed a request");
        send(res, { status: 500, body: { error: "internal" } });
      });
  };
}

async function handle(processor: Processor, req: http.IncomingMessage): Promise<Answer> {
  const url = new URL(req.url ?? "/", "http://provider.invalid");
  const path = url.pathname;
  const method = req.method ?? "GET";
  const key = header(req, "idempotency-key");

  if (path === "/admin/behaviour") {
    if (method === "GET") return { status: 200, body: { ...processor.behaviour(), ...processor.stats() } };
    if (method === "POST") {
      const change = parseBehaviourChange(await readJson(req));
      if ("error" in change)
        return { status: 400, body: { error: "invalid_request", message: change.error } };
      return { status: 200, body: { ...processor.setBehaviour(change) } };
    }
    return methodNotAllowed();
  }

  if (path === "/v1/charges") {
    if (method === "GET") return processor.list(url.searchParams.get("reference") ?? undefined);
    if (method !== "POST") return methodNotAllowed();
    const body = await readJson(req);
    if (processor.behaviour().outage) return outage();
    const answer = processor.charge(key, body);
    await delay(processor.behaviour().latencyMs);
    return answer;
  }

  const refund = /^\/v1\/charges\/([A-Za-z0-9_]{1,64})\/refunds$/.exec(path);
  if (refund?.[1]) {
    if (method !== "POST") return methodNotAllowed();
    await readJson(req, true);
    if (processor.behaviour().outage) return outage();
    const answer = processor.refund(refund[1], key);
    await delay(processor.behaviour().latencyMs);
    return answer;
  }

  const one = /^\/v1\/charges\/([A-Za-z0-9_]{1,64})$/.exec(path);
  if (one?.[1]) {
    if (method !== "GET") return methodNotAllowed();
    return processor.get(one[1]);
  }

  return { status: 404, body: { error: "not_found", message: `no route ${method} ${path}` } };
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readJson(req: http.IncomingMessage, optional = false): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new BodyError(413, `body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") {
    if (optional) return {};
    throw new BodyError(400, "a JSON body is required");
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BodyError(400, "body is not valid JSON");
  }
}

function outage(): Answer {
  return { status: 503, body: { error: "unavailable", message: "simulated processor outage" } };
}

function methodNotAllowed(): Answer {
  return { status: 405, body: { error: "method_not_allowed" } };
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

function send(res: http.ServerResponse, answer: Answer) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(answer.status, { "content-type": "application/json" });
  res.end(JSON.stringify(answer.body));
}
