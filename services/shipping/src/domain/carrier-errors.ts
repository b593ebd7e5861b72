import { Code, ConnectError } from "@connectrpc/connect";
import { BreakerOpenError, BreakerTimeoutError } from "#lib/breaker.ts";

/** The carrier refused the request (4xx): a business answer, proof the carrier works. */
export class CarrierRejectedError extends Error {
  override name = "CarrierRejectedError";
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string) {
    super(`carrier refused the request (${status}): ${reason}`);
    this.status = status;
    this.reason = reason;
  }
}

/** The carrier failed (5xx) or answered something unreadable: transient. */
export class CarrierFailedError extends Error {
  override name = "CarrierFailedError";
  readonly status: number;
  constructor(status: number, detail: string) {
    super(`carrier failed (${status}): ${detail}`);
    this.status = status;
  }
}

/** Business errors do not count against the breaker. */
export function isCarrierBusinessError(error: unknown): boolean {
  return error instanceof CarrierRejectedError;
}

/**
 * Maps a carrier call's failure to the RPC answer: a 4xx is a business refusal
 * (FailedPrecondition, not retried by the saga); 5xx, timeouts, network errors
 * and an open breaker are Unavailable (retried). Never a fake success.
 */
export function carrierErrorToConnect(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof CarrierRejectedError) {
    return new ConnectError(`carrier refused: ${error.reason}`, Code.FailedPrecondition);
  }
  if (error instanceof BreakerOpenError) {
    return new ConnectError("carrier unavailable: circuit breaker is open; retry later", Code.Unavailable);
  }
  if (error instanceof BreakerTimeoutError) {
    return new ConnectError(`carrier unavailable: no answer within ${error.timeoutMs} ms`, Code.Unavailable);
  }
  if (error instanceof CarrierFailedError) {
    return new ConnectError(`carrier unavailable: ${error.message}`, Code.Unavailable);
  }
  // Network errors (refused, reset, DNS) from fetch.
  return new ConnectError("carrier unavailable: it could not be reached", Code.Unavailable);
}
