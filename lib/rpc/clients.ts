import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { bearerToken, type TokenSource } from "../auth/client-credentials.ts";
import { CORRELATION_HEADER, currentContext } from "../observability/request-context.ts";
import { clientTracingInterceptor } from "../observability/rpc-tracing.ts";

export type RpcProtocol = "connect-json" | "connect-binary" | "grpc";

/** How a client proves who it is: tokens for the called service's audience. */
export interface CallerAuth {
  tokens: TokenSource;
  /** The called service's audience (its client id in the realm, e.g. "payments"). */
  audience: string;
}

/**
 * A generated Connect client for a service at baseUrl. connect-json is
 * HTTP/1.1 with JSON bodies (what curl and Pact see), grpc is HTTP/2
 * cleartext. With `auth`, every call carries a bearer token for the callee.
 * Every call is a client span whose traceparent goes out with it.
 */
export function rpcClient<S extends DescService>(
  service: S,
  baseUrl: string,
  protocol: RpcProtocol = "connect-json",
  auth?: CallerAuth,
): Client<S> {
  const interceptors = [
    clientTracingInterceptor(protocol === "grpc" ? "grpc" : "connect_rpc"),
    propagateCorrelation,
    ...(auth ? [bearerToken(auth.tokens, auth.audience)] : []),
  ];
  const transport =
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl, interceptors })
      : createConnectTransport({
          baseUrl,
          httpVersion: "1.1",
          useBinaryFormat: protocol === "connect-binary",
          interceptors,
        });
  return createClient(service, transport);
}

/** Passes the current correlation id on to the called service. */
const propagateCorrelation: Interceptor = (next) => (req) => {
  const context = currentContext();
  if (context && !req.header.has(CORRELATION_HEADER))
    req.header.set(CORRELATION_HEADER, context.correlationId);
  return next(req);
};
