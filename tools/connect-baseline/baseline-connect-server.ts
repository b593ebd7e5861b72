// The RPC server as it was before ADR 0009's change: every request, unary
// or not, through connectNodeAdapter, and Nagle left on (the sockets are
// handed over from the front door's net server, which does not disable it).
// Kept for the before/after runs of bench/connect-overhead and conformance/;
// it shares the front door (one port for HTTP/1.1 and h2c) with the services.
import type http from "node:http";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createReadiness, healthRoute } from "#lib/host/health.ts";
import { startFrontDoor } from "#lib/rpc/front-door.ts";
import { correlationInterceptor } from "#lib/rpc/interceptors.ts";

export interface RpcServerOptions {
  routes: (router: ConnectRouter) => void;
  health: { readyz: () => Promise<void> };
  host: string;
  port: number;
  /** Largest accepted request body, in bytes. */
  readMaxBytes?: number;
}

export interface RpcServer {
  port: number;
  close(): Promise<void>;
}

export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const connect = connectNodeAdapter({
    routes: options.routes,
    readMaxBytes: options.readMaxBytes ?? 1024 * 1024,
    interceptors: [correlationInterceptor],
  });
  const readiness = createReadiness({ timeoutMs: 2_000 });
  readiness.add("readyz", options.health.readyz);
  const health = healthRoute(readiness);
  const door = await startFrontDoor({
    host: options.host,
    port: options.port,
    noDelay: false,
    handler: (req, res) => {
      if (health(req, res)) return;
      connect(req as http.IncomingMessage, res as http.ServerResponse);
    },
  });
  return { port: door.port, close: () => door.close() };
}
