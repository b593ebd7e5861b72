// lib/connect-server.ts as of commit a5ad870 minus ADR 0009's change (Connect
// via connectNodeAdapter only, Nagle left on), kept for the before/after run.
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CORRELATION_HEADER, correlationIdFrom, runWithContext } from "#lib/observability/request-context.ts";

export interface HealthChecks {
  /** Liveness: the process runs. */
  healthz?: () => Promise<void> | void;
  /** Readiness: every dependency the service needs answers. */
  readyz: () => Promise<void>;
}

export interface RpcServerOptions {
  routes: (router: ConnectRouter) => void;
  health: HealthChecks;
  host: string;
  port: number;
  /** Largest accepted request body, in bytes. */
  readMaxBytes?: number;
}

export interface RpcServer {
  port: number;
  close(): Promise<void>;
}

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Serves Connect, gRPC and gRPC-Web on one cleartext port: HTTP/1.1 for
 * Connect JSON from curl and browsers, HTTP/2 (prior knowledge, h2c) for gRPC.
 * Node has no h2c upgrade, so each connection is routed by its first bytes:
 * the HTTP/2 client preface goes to the http2 server, anything else to http.
 */
export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const connect = connectNodeAdapter({
    routes: options.routes,
    readMaxBytes: options.readMaxBytes ?? 1024 * 1024,
    interceptors: [correlationInterceptor],
  });

  // Requests being served; shutdown waits for these, not for idle keep-alive connections.
  let inFlight = 0;
  const handler = (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => {
    inFlight += 1;
    res.once("close", () => {
      inFlight -= 1;
    });
    const url = req.url ?? "";
    if (req.method === "GET" && (url === "/healthz" || url === "/readyz")) {
      const check = url === "/healthz" ? (options.health.healthz ?? (() => {})) : options.health.readyz;
      Promise.resolve()
        .then(check)
        .then(
          () => sendJson(res, 200, { status: "ok" }),
          (error: unknown) =>
            sendJson(res, 503, { status: "unavailable", reason: String((error as Error)?.message ?? error) }),
        );
      return;
    }
    connect(req as http.IncomingMessage, res as http.ServerResponse);
  };

  const h1 = http.createServer(handler);
  h1.keepAliveTimeout = 65_000;
  const h2 = http2.createServer({}, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("error", () => socket.destroy());
    socket.once("data", (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      const isHttp2 = first
        .subarray(0, Math.min(first.length, HTTP2_PREFACE.length))
        .equals(HTTP2_PREFACE.subarray(0, Math.min(first.length, HTTP2_PREFACE.length)));
      if (isHttp2) {
        // The http2 session reads the bytes still buffered in the socket on
        // its next tick; resuming here would hand them to nobody.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });
  front.on("error", () => {});

  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(options.port, options.host, () => resolve());
  });
  const address = front.address() as net.AddressInfo;

  return {
    port: address.port,
    async close() {
      // Stop accepting, let in-flight requests finish (5 s at most), then drop
      // every connection. front.close's callback would wait for idle
      // keep-alive connections too, so it is not awaited.
      front.close();
      for (const session of sessions) session.close();
      const deadline = Date.now() + 5_000;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const socket of sockets) socket.destroy();
      h1.close();
      h2.close();
    },
  };
}

const correlationInterceptor: Interceptor = (next) => async (req) => {
  const correlationId = correlationIdFrom(req.header.get(CORRELATION_HEADER), req.header.get("traceparent"));
  const res = await runWithContext({ correlationId }, () => next(req));
  res.header.set(CORRELATION_HEADER, correlationId);
  return res;
};

function sendJson(res: http.ServerResponse | http2.Http2ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  (res as http.ServerResponse).writeHead(status, { "content-type": "application/json" });
  (res as http.ServerResponse).end(text);
}
