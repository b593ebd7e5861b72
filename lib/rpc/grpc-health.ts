import type { ConnectRouter } from "@connectrpc/connect";
import type { Readiness } from "../host/health.ts";

/** Placeholder until grpc.health.v1 lands (being written now). */
export function registerGrpcHealth(_router: ConnectRouter, _readiness: Readiness): void {}
