import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "#gen/grpc/health/v1/health_pb.js";
import type { AuthorizationTable } from "../auth/authorization.ts";
import type { Readiness } from "../host/health.ts";

export interface GrpcHealthOptions {
  /** How often Watch asks the readiness again, in ms (default 1000). */
  intervalMs?: number;
  /**
   * Ends every Watch stream when aborted, e.g. when the process shuts down;
   * a watcher last told SERVING is told NOT_SERVING first.
   */
  signal?: AbortSignal;
}

/**
 * Serves the standard grpc.health.v1.Health service from the process's
 * readiness (the same checks as GET /readyz): the server as a whole (service
 * "") and every service registered on the router are SERVING while readiness
 * passes and NOT_SERVING while it fails. Check answers NotFound for any other
 * name; Watch answers SERVICE_UNKNOWN for it and keeps watching, as the
 * protocol says.
 */
export function registerGrpcHealth(
  router: ConnectRouter,
  readiness: Readiness,
  options: GrpcHealthOptions = {},
): void {
  const intervalMs = options.intervalMs ?? 1_000;
  // Asked at call time: services registered after this call count as well.
  const known = (service: string) =>
    service === "" || router.handlers.some((handler) => handler.service.typeName === service);
  // Callers that ask while a check runs share it: many watchers, one round trip.
  let running: Promise<Status> | undefined;
  const readyStatus = () => {
    running ??= readiness
      .check()
      .then(
        () => Status.SERVING,
        () => Status.NOT_SERVING,
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  router.service(Health, {
    async check(request) {
      if (!known(request.service)) {
        throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
      }
      return { status: await readyStatus() };
    },
    async *watch(request, context) {
      const signal = options.signal ? AbortSignal.any([context.signal, options.signal]) : context.signal;
      let last: Status | undefined;
      while (!signal.aborted) {
        const status = known(request.service) ? await readyStatus() : Status.SERVICE_UNKNOWN;
        if (signal.aborted) break;
        if (status !== last) {
          last = status;
          yield { status };
        }
        await pause(intervalMs, signal);
      }
      // The server is going away, not the client: say so before the stream ends.
      if (!context.signal.aborted && last === Status.SERVING) yield { status: Status.NOT_SERVING };
    },
  });
}

/** Resolves after `ms`, or at once when the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Probes (kubelet, load balancers, grpc_health_probe) carry no token, and
 * the answer is only SERVING / NOT_SERVING, as on /readyz: open to anyone.
 */
export const healthAuthorization: AuthorizationTable<typeof Health> = {
  check: { allow: ["anyone"] },
  watch: { allow: ["anyone"] },
};
