import type http from "node:http";
import type http2 from "node:http2";
import type { Route } from "../rpc/front-door.ts";
import { settleWithin } from "./timeout.ts";

/**
 * Readiness of a process: named checks, each a real round trip to one
 * dependency, each bounded by a timeout so a hung dependency answers "not
 * ready" instead of hanging the probe. Liveness is the process answering.
 */
export interface Readiness {
  add(name: string, check: () => unknown): void;
  /** Resolves when every check passed; rejects naming the first that did not. */
  check(): Promise<void>;
}

export class NotReadyError extends Error {
  override name = "NotReadyError";
}

export function createReadiness(options: { timeoutMs: number; gate?: () => string | undefined }): Readiness {
  const checks: { name: string; check: () => unknown }[] = [];
  return {
    add(name, check) {
      checks.push({ name, check });
    },
    async check() {
      // The gate says "starting" or "shutting down" before any check runs.
      const closed = options.gate?.();
      if (closed !== undefined) throw new NotReadyError(closed);
      for (const { name, check } of checks) {
        try {
          await settleWithin(check, options.timeoutMs, `did not answer within ${options.timeoutMs} ms`);
        } catch (error) {
          throw new NotReadyError(`${name}: ${(error as Error)?.message ?? String(error)}`);
        }
      }
    },
  };
}

type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/**
 * Answers GET /healthz and GET /readyz (JSON, 200 or 503); returns false for
 * every other request. The same answers on every process, RPC or not.
 */
export function healthRoute(readiness: Readiness): Route {
  return (req, res) => {
    if (req.method !== "GET") return false;
    const path = (req.url ?? "").split("?")[0];
    if (path === "/healthz") {
      sendJson(res, 200, { status: "ok" });
      return true;
    }
    if (path !== "/readyz") return false;
    readiness.check().then(
      () => sendJson(res, 200, { status: "ok" }),
      (error: unknown) => sendJson(res, 503, { status: "unavailable", reason: (error as Error).message }),
    );
    return true;
  };
}

export function sendJson(res: AnyResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  if (res.headersSent) return;
  (res as http.ServerResponse).writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  (res as http.ServerResponse).end(text);
}
