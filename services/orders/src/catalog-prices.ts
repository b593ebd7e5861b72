import { Code, ConnectError } from "@connectrpc/connect";
import { CatalogService, type PriceQuote } from "#gen/accord/catalog/v1/catalog_pb.js";
import type { TokenSource } from "#lib/auth/client-credentials.ts";
import {
  type Breaker,
  BreakerOpenError,
  type BreakerOptions,
  BreakerTimeoutError,
  createBreaker,
} from "#lib/breaker.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { type RpcProtocol, rpcClient } from "#lib/rpc/clients.ts";

/** Checkout's view of the catalog: the quotes of some SKUs in one currency. */
export interface CatalogPrices {
  /** One quote per asked SKU; a ConnectError Unavailable when the catalog cannot answer now. */
  lookup(skus: readonly string[], currencyCode: string): Promise<PriceQuote[]>;
  readonly breakerState: Breaker<[LookupCall], PriceQuote[]>["state"];
  shutdown(): void;
}

type LookupCall = { skus: readonly string[]; currencyCode: string };

/**
 * The catalog's generated Connect client behind one breaker named
 * "catalog", calling as the orders service (audience "catalog"). Whatever
 * keeps the catalog from answering (down, slow past the breaker's timeout,
 * breaker open, a refused token) is Unavailable for the caller: checkout
 * must not accept an order it cannot price, and may be retried.
 */
export function createCatalogPrices(options: {
  baseUrl: string;
  protocol?: RpcProtocol;
  tokens: TokenSource;
  breaker: Omit<BreakerOptions, "isBusinessError" | "logger">;
  logger: Logger;
}): CatalogPrices {
  const client = rpcClient(CatalogService, options.baseUrl, options.protocol ?? "connect-json", {
    tokens: options.tokens,
    audience: "catalog",
  });
  const breaker = createBreaker<[LookupCall], PriceQuote[]>(
    "catalog",
    async (signal, { skus, currencyCode }) =>
      (await client.lookupPrices({ skus: [...skus], currencyCode }, { signal })).quotes,
    {
      ...options.breaker,
      // The catalog refusing the request itself proves it answers; nothing
      // orders sends should get one (its SKUs and currency are checked first).
      isBusinessError: (error) => error instanceof ConnectError && error.code === Code.InvalidArgument,
      logger: options.logger,
    },
  );

  return {
    async lookup(skus, currencyCode) {
      try {
        return await breaker.call({ skus, currencyCode });
      } catch (error) {
        throw catalogFailure(error, options.logger);
      }
    },
    get breakerState() {
      return breaker.state;
    },
    shutdown() {
      breaker.shutdown();
    },
  };
}

/** A lookup that gave no quotes, as PlaceOrder's answer: always Unavailable, never a guessed price. */
function catalogFailure(error: unknown, logger: Logger): ConnectError {
  if (error instanceof BreakerOpenError) {
    return new ConnectError("catalog unavailable: circuit breaker open; retry later", Code.Unavailable);
  }
  if (error instanceof BreakerTimeoutError) {
    return new ConnectError(
      `catalog did not answer within ${error.timeoutMs} ms; retry later`,
      Code.Unavailable,
    );
  }
  const cause = ConnectError.from(error);
  // Anything else unexpected (a refused token, an internal error) is logged
  // for ops; the customer only learns that pricing is unavailable.
  if (cause.code !== Code.Unavailable) {
    logger.error({ code: Code[cause.code], err: cause.rawMessage }, "catalog price lookup failed");
  }
  return new ConnectError("catalog unavailable: prices cannot be looked up; retry later", Code.Unavailable);
}
