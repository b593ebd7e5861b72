import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";

export type RpcProtocol = "connect-json" | "connect-binary" | "grpc";

/**
 * A generated Connect client for a service at baseUrl. connect-json is
 * HTTP/1.1 with JSON bodies (what curl and Pact see), grpc is HTTP/2 cleartext.
 */
export function rpcClient<S extends DescService>(
  service: S,
  baseUrl: string,
  protocol: RpcProtocol = "connect-json",
): Client<S> {
  const transport =
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl })
      : createConnectTransport({
          baseUrl,
          httpVersion: "1.1",
          useBinaryFormat: protocol === "connect-binary",
        });
  return createClient(service, transport);
}
