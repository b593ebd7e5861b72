import { Code, ConnectError } from "@connectrpc/connect";
import { BreakerOpenError, BreakerTimeoutError } from "#lib/breaker.ts";
import { ProviderUnavailableError } from "./provider-client.ts";

/**
 * A failed provider call: the outcome is unknown or the call never went out,
 * so the caller may retry with the same key. Always Unavailable (retryable),
 * with a message telling which case it was; never a fake success.
 */
export function providerFailure(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof BreakerOpenError)
    return new ConnectError("payment provider unavailable: circuit breaker open", Code.Unavailable);
  if (error instanceof BreakerTimeoutError)
    return new ConnectError(`payment provider did not answer within ${error.timeoutMs} ms`, Code.Unavailable);
  if (error instanceof ProviderUnavailableError)
    return new ConnectError(`payment provider unavailable (HTTP ${error.status})`, Code.Unavailable);
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectError(`payment provider unreachable: ${message}`, Code.Unavailable);
}
