import type { Logger } from "#lib/observability/logger.ts";
import type { FrontDoorHandler } from "#lib/rpc/front-door.ts";
import type { BrokerAccess } from "./access.ts";
import { HttpError, type Reply, readBody, send } from "./http-util.ts";
import { queryOf, type Router } from "./router.ts";

// The adapter between the service host's front door and the broker's router:
// one request in, one HAL reply (or error shape) out, logged at debug.

export interface BrokerHttpOptions {
  router: Router;
  logger: Logger;
  /** Base URL for links when set (behind a proxy); otherwise the request's Host. */
  publicUrl?: string | undefined;
  /** Host for links when the request names none. */
  listenAddress: string;
  /** Who may read and write (access.ts); every request passes it before routing. */
  access: BrokerAccess;
}

export function brokerHttpHandler(options: BrokerHttpOptions): FrontDoorHandler {
  const { router, logger } = options;
  return (req, res) => {
    const started = Date.now();
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    let status = 500;
    const finish = (reply: Reply, head = false) => {
      status = reply.status;
      send(res, reply, head);
      // Every request is logged at debug: the way to see which relations a client follows.
      logger.debug(
        { method, path: url.pathname, query: url.search, status, ms: Date.now() - started },
        "request",
      );
    };
    const handle = async () => {
      const authorization = req.headers.authorization;
      await options.access.check(
        method,
        url.pathname,
        typeof authorization === "string" ? authorization : undefined,
      );
      const found = router.match(method, url.pathname);
      if (found === undefined) throw new HttpError(404, { error: `no resource at ${url.pathname}` });
      if (found === "method") throw new HttpError(405, { error: `${method} not allowed on ${url.pathname}` });
      const authority = req.headers.host ?? req.headers[":authority"];
      const host = typeof authority === "string" ? authority : options.listenAddress;
      const base = options.publicUrl ?? `http://${host}`;
      return found({ url, query: queryOf(url.searchParams), base, body: readBody(req) });
    };
    handle().then(
      (reply) => finish(reply, method === "HEAD"),
      (error: unknown) => {
        if (error instanceof HttpError)
          return finish({ status: error.status, body: error.body, headers: error.headers });
        logger.error({ err: error, method, path: url.pathname }, "request failed");
        finish({ status: 500, body: { error: "internal error" } });
      },
    );
  };
}
