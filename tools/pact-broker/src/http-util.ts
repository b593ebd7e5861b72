import type { IncomingMessage, ServerResponse } from "node:http";

// A tiny HTTP toolkit: path patterns, JSON bodies, HAL responses and the
// broker's error shapes. Enough for a dozen resources without a framework.

export const HAL = "application/hal+json;charset=utf-8";
const MAX_BODY = 10 * 1024 * 1024;

export class HttpError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    super(typeof body === "string" ? body : JSON.stringify(body));
    this.status = status;
    this.body = body;
  }
}

/** 400 in the shape the official clients print: { errors: { field: [messages] } }. */
export function badRequest(field: string, message: string): HttpError {
  return new HttpError(400, { errors: { [field]: [message] } });
}

export function notFound(what: string): HttpError {
  return new HttpError(404, { error: `${what} not found` });
}

export interface Ctx {
  req: IncomingMessage;
  url: URL;
  params: Record<string, string>;
  /** Base URL for links, without a trailing slash. */
  base: string;
  body: () => Promise<unknown>;
}

export interface Reply {
  status: number;
  body?: unknown;
}

export type Handler = (ctx: Ctx) => Promise<Reply>;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

export class Router {
  private routes: Route[] = [];

  on(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, segments: pattern.split("/").filter(Boolean), handler });
    return this;
  }

  /** Segments are split before decoding, so an encoded "/" stays inside a name (branch feat/x). */
  match(
    method: string,
    pathname: string,
  ): { handler: Handler; params: Record<string, string> } | "method" | undefined {
    const parts = pathname.split("/").filter(Boolean);
    let pathMatched = false;
    for (const r of this.routes) {
      if (r.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length; i++) {
        const seg = r.segments[i] as string;
        const part = parts[i] as string;
        if (seg.startsWith(":")) {
          try {
            params[seg.slice(1)] = decodeURIComponent(part);
          } catch {
            ok = false;
            break;
          }
        } else if (seg !== part) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      pathMatched = true;
      if (r.method === method || (method === "HEAD" && r.method === "GET"))
        return { handler: r.handler, params };
    }
    return pathMatched ? "method" : undefined;
  }
}

export function readBody(req: IncomingMessage): () => Promise<unknown> {
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

export function send(res: ServerResponse, reply: Reply, head = false): void {
  if (reply.body === undefined) {
    res.writeHead(reply.status);
    res.end();
    return;
  }
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, { "content-type": HAL, "content-length": Buffer.byteLength(text) });
  res.end(head ? undefined : text);
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
