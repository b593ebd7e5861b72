import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";

/** Placeholder until gRPC server reflection lands (being written now). */
export function registerReflection(_router: ConnectRouter, _services: DescService[]): void {}
