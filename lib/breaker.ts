import CircuitBreaker from "opossum";
import type { Logger } from "./observability/logger.ts";

export interface BreakerOptions {
  /** Per-call time limit; the call's own AbortSignal fires when it passes. */
  timeoutMs: number;
  /** Percentage of failed calls in the rolling window that opens the breaker. */
  errorThresholdPercentage?: number;
  /** How long the breaker stays open before letting one probe call through (half-open). */
  resetTimeoutMs?: number;
  /** Calls needed in the window before the percentage counts. */
  volumeThreshold?: number;
  /** Length of the rolling statistics window. */
  rollingCountTimeoutMs?: number;
  /**
   * Errors for which this returns true do not count against the breaker:
   * business answers (declined, not found, invalid) prove the dependency works.
   */
  isBusinessError?: (error: unknown) => boolean;
  logger?: Logger;
}

/** Thrown at once, without calling the dependency, while the breaker is open. */
export class BreakerOpenError extends Error {
  override name = "BreakerOpenError";
  readonly breaker: string;
  constructor(breaker: string) {
    super(`circuit breaker ${breaker} is open`);
    this.breaker = breaker;
  }
}

/** Thrown when a call exceeded timeoutMs. */
export class BreakerTimeoutError extends Error {
  override name = "BreakerTimeoutError";
  readonly breaker: string;
  readonly timeoutMs: number;
  constructor(breaker: string, timeoutMs: number) {
    super(`call through breaker ${breaker} timed out after ${timeoutMs} ms`);
    this.breaker = breaker;
    this.timeoutMs = timeoutMs;
  }
}

export interface Breaker<A extends unknown[], R> {
  call(...args: A): Promise<R>;
  readonly state: "closed" | "open" | "half-open";
  shutdown(): void;
}

/**
 * Wraps an async call in an opossum circuit breaker. Each call gets its own
 * AbortSignal (opossum's shared AbortController would abort every in-flight
 * call when one times out), and opossum's own timeout is left off so the
 * signal is the single source of timeouts.
 */
export function createBreaker<A extends unknown[], R>(
  name: string,
  fn: (signal: AbortSignal, ...args: A) => Promise<R>,
  options: BreakerOptions,
): Breaker<A, R> {
  const guarded = async (...args: A): Promise<R> => {
    const signal = AbortSignal.timeout(options.timeoutMs);
    try {
      return await fn(signal, ...args);
    } catch (error) {
      if (signal.aborted) throw new BreakerTimeoutError(name, options.timeoutMs);
      throw error;
    }
  };
  const breaker = new CircuitBreaker(guarded, {
    name,
    timeout: false,
    errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
    resetTimeout: options.resetTimeoutMs ?? 10_000,
    volumeThreshold: options.volumeThreshold ?? 5,
    rollingCountTimeout: options.rollingCountTimeoutMs ?? 10_000,
    errorFilter: (error: unknown) => options.isBusinessError?.(error) ?? false,
  });
  breaker.on("open", () => options.logger?.warn({ breaker: name }, "circuit breaker opened"));
  breaker.on("halfOpen", () => options.logger?.info({ breaker: name }, "circuit breaker half-open: probing"));
  breaker.on("close", () => options.logger?.info({ breaker: name }, "circuit breaker closed"));

  return {
    async call(...args: A) {
      try {
        return await breaker.fire(...args);
      } catch (error) {
        if ((error as { code?: string }).code === "EOPENBREAKER") throw new BreakerOpenError(name);
        throw error;
      }
    },
    get state() {
      return breaker.opened ? "open" : breaker.halfOpen ? "half-open" : "closed";
    },
    shutdown() {
      breaker.shutdown();
    },
  };
}
