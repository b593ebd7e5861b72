import type { Readable } from "node:stream";

// A tiny HTTP toolkit: JSON bodies, HAL responses and the broker's error
// shapes. Routing is router.ts; this is what the route modules share.

export const HAL = "application/hal+json;charset=utf-8";
const MAX_BODY = 10 * 1024 * 1024;

export class HttpError extends Error {
  readonly status: number;
  readonly body: unknown;
  /** Extra response headers (WWW-Authenticate on a 401). */
  readonly headers: Record<string, string> | undefined;
  constructor(status: number, body: unknown, headers?: Record<string, string>) {
    super(typeof body === "string" ? body : JSON.stringify(body));
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/** 400 in the shape the official clients print: { errors: { field: [messages] } }. */
export function badRequest(field: string, message: string): HttpError {
  return new HttpError(400, { errors: { [field]: [message] } });
}

export function notFound(what: string): HttpError {
  return new HttpError(404, { error: `${what} not found` });
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string> | undefined;
}

/** The JSON body of a request, read on first use ({} when empty). */
export function readBody(req: Readable): () => Promise<unknown> {
  let cached: Promise<unknown> | undefined;
  return () => {
    cached ??= new Promise<unknown>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) {
          reject(new HttpError(413, { error: "request body too large" }));
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8").trim();
        if (text === "") return resolve({});
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new HttpError(400, { errors: { body: ["is not valid JSON"] } }));
        }
      });
      req.on("error", reject);
    });
    return cached;
  };
}

/** What send() needs of a response; node's http and http2 responses both have it. */
export interface ResponseSink {
  writeHead(status: number, headers?: Record<string, string | number>): unknown;
  end(): unknown;
  end(chunk: string): unknown;
}

export function send(res: ResponseSink, reply: Reply, head = false): void {
  if (reply.body === undefined) {
    res.writeHead(reply.status, { ...reply.headers });
    res.end();
    return;
  }
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...reply.headers,
    "content-type": HAL,
    "content-length": Buffer.byteLength(text),
  });
  if (head) res.end();
  else res.end(text);
}

/** Path segment encoding for links. */
export const enc = encodeURIComponent;

export function link(href: string, extra: { title?: string; name?: string; templated?: boolean } = {}) {
  return { href, ...extra };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function optString(body: Record<string, unknown>, field: string): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badRequest(field, "must be a string");
  return v;
}

export function reqString(body: Record<string, unknown>, field: string): string {
  const v = optString(body, field);
  if (v === undefined || v.trim() === "") throw badRequest(field, "is required");
  return v;
}

export function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

export const ok = (body: unknown): Reply => ({ status: 200, body });
export const created = (body: unknown): Reply => ({ status: 201, body });
export const noContent = (): Reply => ({ status: 204 });
