import http from "node:http";
import type http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import type { Logger } from "#lib/observability/logger.ts";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** One service the console forwards to: its generated descriptor and where the process listens. */
export interface ProxiedService {
  service: DescService;
  /** The process's name, for errors and logs. */
  upstream: string;
  /** Its base URL (loopback; checked by the config). */
  url: string;
}

/** What the forwarding passes on, and nothing else: no cookies, no forwarded-for, no hop-by-hop headers. */
const REQUEST_HEADERS = [
  "content-type",
  "content-length",
  "content-encoding",
  "accept-encoding",
  "authorization",
  "connect-protocol-version",
  "connect-timeout-ms",
  "connect-content-encoding",
  "connect-accept-encoding",
  "traceparent",
  "tracestate",
  "x-correlation-id",
] as const;

const RESPONSE_HEADERS = [
  "content-type",
  "content-length",
  "content-encoding",
  "connect-content-encoding",
  "connect-accept-encoding",
  "x-correlation-id",
] as const;

/** Connect unary puts its trailers in headers named trailer-<name>. */
const TRAILER_PREFIX = "trailer-";

const RPC_PATH = /^\/([A-Za-z_][A-Za-z0-9_.]*)\/([A-Za-z_][A-Za-z0-9_]*)$/;

export interface ProxyOptions {
  services: readonly ProxiedService[];
  maxBodyBytes: number;
  timeoutMs: number;
  logger: Logger;
}

/** The forwarding of the allowed services' methods. */
export interface ProxyRouter {
  /** Forwards the request and returns true when the path is an allowed RPC; false leaves it alone. */
  handle(req: Request, res: Response): boolean;
  close(): void;
}

/**
 * Same-origin forwarding of Connect calls from the browser to the services,
 * so no service needs CORS. The console decides nothing: the caller's
 * Authorization header goes on untouched and each service checks it; only
 * methods of the allowed services are forwarded, with a bounded body and a
 * deadline, and only the Connect headers travel either way.
 */
export function createProxy(options: ProxyOptions): ProxyRouter {
  const byService = new Map<string, { target: ProxiedService; methods: Set<string> }>();
  for (const target of options.services) {
    byService.set(target.service.typeName, {
      target,
      methods: new Set(target.service.methods.map((m) => m.name)),
    });
  }
  // Kept-alive connections to the upstreams, bounded so a flood of browser
  // calls cannot open unbounded sockets on their side.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 8 });

  return {
    close: () => agent.destroy(),
    handle(req, res) {
      const pathname = (req.url ?? "").split("?")[0] ?? "";
      const match = RPC_PATH.exec(pathname);
      if (!match) return false;
      const entry = byService.get(match[1] as string);
      if (!entry?.methods.has(match[2] as string)) return false;
      if (req.method !== "POST") {
        sendError(res, 405, "unimplemented", "only POST is forwarded", { allow: "POST" });
        return true;
      }
      forward(req, res, entry.target, pathname, agent, options);
      return true;
    },
  };
}

function forward(
  req: Request,
  res: Response,
  target: ProxiedService,
  pathname: string,
  agent: http.Agent,
  options: ProxyOptions,
): void {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (Number.isFinite(declared) && declared > options.maxBodyBytes) {
    sendError(res, 413, "resource_exhausted", `request body larger than ${options.maxBodyBytes} bytes`);
    req.resume();
    return;
  }
  const headers: http.OutgoingHttpHeaders = {};
  for (const name of REQUEST_HEADERS) {
    const value = req.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  const url = new URL(target.url);
  let settled = false;
  const upstreamRequest = http.request({
    protocol: "http:",
    hostname: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port || 80,
    path: `${url.pathname.replace(/\/+$/, "")}${pathname}`,
    method: "POST",
    headers,
    agent,
  });
  const fail = (status: number, code: string, message: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    upstreamRequest.destroy();
    if (res.headersSent) res.destroy();
    else sendError(res, status, code, message);
  };
  const timer = setTimeout(
    () => fail(504, "deadline_exceeded", `${target.upstream} did not answer within ${options.timeoutMs} ms`),
    options.timeoutMs,
  );
  upstreamRequest.on("error", (error: NodeJS.ErrnoException) => {
    if (settled) return;
    options.logger.warn(
      { upstream: target.upstream, path: pathname, code: error.code },
      "console: upstream call failed",
    );
    fail(503, "unavailable", `${target.upstream} is unreachable`);
  });
  upstreamRequest.on("response", (upstreamResponse) => {
    if (settled) {
      upstreamResponse.resume();
      return;
    }
    const out: Record<string, string> = { "cache-control": "no-store", "x-content-type-options": "nosniff" };
    for (const name of RESPONSE_HEADERS) {
      const value = upstreamResponse.headers[name];
      if (typeof value === "string") out[name] = value;
    }
    for (const [name, value] of Object.entries(upstreamResponse.headers)) {
      if (name.startsWith(TRAILER_PREFIX) && typeof value === "string") out[name] = value;
    }
    (res as http.ServerResponse).writeHead(upstreamResponse.statusCode ?? 502, out);
    upstreamResponse.on("end", () => {
      settled = true;
      clearTimeout(timer);
    });
    upstreamResponse.pipe(res as http.ServerResponse);
    upstreamResponse.on("error", () => fail(502, "unavailable", `${target.upstream} broke off its answer`));
  });
  // The browser went away: nobody waits for the answer any more.
  res.on("close", () => {
    if (!settled) {
      settled = true;
      clearTimeout(timer);
      upstreamRequest.destroy();
    }
  });

  let received = 0;
  req.on("data", (chunk: Buffer) => {
    if (settled) return;
    received += chunk.length;
    if (received > options.maxBodyBytes) {
      fail(413, "resource_exhausted", `request body larger than ${options.maxBodyBytes} bytes`);
      return;
    }
    upstreamRequest.write(chunk);
  });
  req.on("end", () => {
    if (!settled) upstreamRequest.end();
  });
  req.on("error", () => fail(400, "canceled", "request body broke off"));
}

/** A Connect-style error answer (JSON {code, message}), which connect-web reads as the call's error. */
export function sendError(
  res: Response,
  status: number,
  code: string,
  message: string,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ code, message });
  (res as http.ServerResponse).writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...extra,
  });
  res.end(body);
}
