import http from "node:http";
import type { AddressInfo } from "node:net";

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/**
 * /healthz (the process runs) and /readyz (its dependencies answer) on a
 * plain HTTP server: the orchestrator serves no RPC, so no Connect router.
 * Same answers as lib/connect-server's health endpoints.
 */
export function startHealthServer(options: {
  host: string;
  port: number;
  readyz: () => Promise<void>;
}): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method !== "GET" || (path !== "/healthz" && path !== "/readyz")) {
      send(res, 404, { status: "not found" });
      return;
    }
    if (path === "/healthz") {
      send(res, 200, { status: "ok" });
      return;
    }
    options.readyz().then(
      () => send(res, 200, { status: "ok" }),
      (error: unknown) =>
        send(res, 503, { status: "unavailable", reason: String((error as Error)?.message ?? error) }),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
          }),
      });
    });
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
