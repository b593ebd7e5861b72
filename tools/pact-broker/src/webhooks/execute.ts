import http from "node:http";
import https from "node:https";
import { refusal, type WebhookPolicy } from "./allowlist.ts";
import type { WebhookRequestTemplate } from "./model.ts";
import { renderBody, renderUrl } from "./template.ts";

// Sends one webhook request and writes its log. The URL is checked against the
// allowlists before any socket is opened; redirects are not followed (a
// redirect could lead anywhere); headers that carry credentials, the URL's
// user info and query parameters that look like secrets are redacted in the log.

export interface ExecutionSettings {
  policy: WebhookPolicy;
  /** Response statuses that count as success (the real broker's webhook_http_code_success). */
  successCodes: readonly number[];
  timeoutMs: number;
}

export interface ExecutionResult {
  success: boolean;
  logs: string;
  request: { method: string; url: string; headers: Record<string, string>; body?: string };
  response?: { status: number; headers: Record<string, string>; body: string };
  error?: string;
}

const REDACTED = "**********";
const SECRET_HEADER = /authorization|token|cookie|secret|api[-_]?key/i;
const SECRET_PARAM = /token|secret|password|passwd|signature|api[-_]?key|^key$|^sig$/i;
const MAX_RESPONSE_BODY = 64 * 1024;
const USER_AGENT = "Pact Broker (Accord's own; pact_broker v2 compatible)";

/** The URL as it may be logged: user info and secret-looking query values replaced. */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return raw;
  }
  if (url.username) url.username = REDACTED;
  if (url.password) url.password = REDACTED;
  for (const key of [...url.searchParams.keys()])
    if (SECRET_PARAM.test(key)) url.searchParams.set(key, REDACTED);
  return url.toString();
}

export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, SECRET_HEADER.test(name) ? REDACTED : value]),
  );
}

/** Fills in the template and sends it; never throws (a failure is a result). */
export async function executeWebhook(
  template: WebhookRequestTemplate,
  params: Record<string, string>,
  settings: ExecutionSettings,
  context: Record<string, unknown> = {},
): Promise<ExecutionResult> {
  const lines: string[] = [];
  const log = (level: "DEBUG" | "INFO" | "ERROR", text: string) =>
    lines.push(`[${new Date().toISOString().replace(/\.\d+Z$/, "Z")}] ${level}: ${text}`);
  const method = template.method.toUpperCase();
  const body = renderBody(template.body, params);
  const headers: Record<string, string> = { ...template.headers };
  const has = (name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name);
  if (!has("user-agent")) headers["User-Agent"] = USER_AGENT;
  if (!has("accept")) headers.Accept = "*/*";
  if (body !== undefined && typeof template.body !== "string" && !has("content-type"))
    headers["Content-Type"] = "application/json";
  if (template.username !== undefined || template.password !== undefined)
    headers.Authorization = `Basic ${Buffer.from(`${template.username ?? ""}:${template.password ?? ""}`).toString("base64")}`;

  const rendered = renderUrl(template.url, params);
  const shown = {
    method,
    url: redactUrl(rendered),
    headers: redactHeaders(headers),
    ...(body === undefined ? {} : { body }),
  };
  const failed = (error: string): ExecutionResult => {
    log("ERROR", error);
    log("INFO", "Webhook execution failed");
    return { success: false, logs: `${lines.join("\n")}\n`, request: shown, error };
  };

  log("DEBUG", `Webhook context ${JSON.stringify(context)}`);
  let url: URL;
  try {
    url = new URL(rendered);
  } catch {
    return failed(`Invalid URL ${shown.url}`);
  }
  const refused = refusal(settings.policy, method, url);
  if (refused) return failed(`Request not sent: ${refused}`);

  log("INFO", `HTTP/1.1 ${method} ${shown.url}`);
  for (const [name, value] of Object.entries(shown.headers)) log("INFO", `${name}: ${value}`);
  if (body !== undefined) log("INFO", body);

  try {
    const response = await send(url, method, headers, body, settings.timeoutMs);
    log("INFO", `HTTP/${response.httpVersion} ${response.status} ${response.statusText}`.trimEnd());
    for (const [name, value] of Object.entries(redactHeaders(response.headers)))
      log("INFO", `${name}: ${value}`);
    if (response.body) log("INFO", response.body);
    const success = settings.successCodes.includes(response.status);
    log("INFO", success ? "Webhook execution succeeded" : "Webhook execution failed");
    return {
      success,
      logs: `${lines.join("\n")}\n`,
      request: shown,
      response: { status: response.status, headers: response.headers, body: response.body },
    };
  } catch (error) {
    return failed(`Error executing webhook: ${(error as Error).message}`);
  }
}

interface SentResponse {
  httpVersion: string;
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: string;
}

function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<SentResponse> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === "https:" ? https : http;
    const outgoing = { ...headers };
    if (body !== undefined) outgoing["Content-Length"] = String(Buffer.byteLength(body));
    const req = client.request(url, { method, headers: outgoing, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_RESPONSE_BODY) chunks.push(chunk);
      });
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({
          httpVersion: res.httpVersion,
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? "",
          headers: Object.fromEntries(
            Object.entries(res.headers).map(([k, v]) => [
              k,
              Array.isArray(v) ? v.join(", ") : String(v ?? ""),
            ]),
          ),
          body: size > MAX_RESPONSE_BODY ? `${text}… (${size} bytes, truncated)` : text,
        });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}
