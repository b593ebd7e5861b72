import CircuitBreaker from "opossum";
import { z } from "zod";
import type { Logger } from "./observability/logger.ts";
import { processMetrics } from "./observability/metrics.ts";

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

/** breaker_state's values, so "open" reads as the largest. */
const STATE_VALUE = { closed: 0, "half-open": 1, open: 2 } as const;

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
  // Exported per breaker name, which names the downstream it guards (alerts: infra/prometheus/rules).
  const { breakerState, breakerOpens } = processMetrics();
  breakerState.set({ breaker: name }, STATE_VALUE.closed);
  breakerOpens.inc({ breaker: name }, 0);
  breaker.on("open", () => {
    breakerState.set({ breaker: name }, STATE_VALUE.open);
    breakerOpens.inc({ breaker: name });
    options.logger?.warn({ breaker: name }, "circuit breaker opened");
  });
  breaker.on("halfOpen", () => {
    breakerState.set({ breaker: name }, STATE_VALUE["half-open"]);
    options.logger?.info({ breaker: name }, "circuit breaker half-open: probing");
  });
  breaker.on("close", () => {
    breakerState.set({ breaker: name }, STATE_VALUE.closed);
    options.logger?.info({ breaker: name }, "circuit breaker closed");
  });

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
      breakerState.remove({ breaker: name });
    },
  };
}

// ---------------------------------------------------------------- configuration

const BREAKER_SETTINGS = {
  TIMEOUT_MS: "timeoutMs",
  ERROR_PERCENT: "errorThresholdPercentage",
  RESET_MS: "resetTimeoutMs",
  VOLUME_THRESHOLD: "volumeThreshold",
  WINDOW_MS: "rollingCountTimeoutMs",
} as const;
type BreakerSetting = keyof typeof BREAKER_SETTINGS;
export type BreakerEnvKey<P extends string> = `${P}_BREAKER_${BreakerSetting}`;

export interface BreakerDefaults {
  timeoutMs: number;
  errorThresholdPercentage?: number;
  resetTimeoutMs?: number;
  volumeThreshold?: number;
  rollingCountTimeoutMs?: number;
}

/**
 * The configuration fragment of one breaker, the same for every dependency:
 * <P>_BREAKER_TIMEOUT_MS, _ERROR_PERCENT, _RESET_MS, _VOLUME_THRESHOLD and
 * _WINDOW_MS, validated with the rest of the service's environment.
 */
export function breakerEnv<P extends string>(
  prefix: P,
  defaults: BreakerDefaults,
): Record<BreakerEnvKey<P>, z.ZodDefault<z.ZodCoercedNumber<unknown>>> {
  const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
  return {
    [`${prefix}_BREAKER_TIMEOUT_MS`]: int(1, 600_000).default(defaults.timeoutMs),
    [`${prefix}_BREAKER_ERROR_PERCENT`]: int(1, 100).default(defaults.errorThresholdPercentage ?? 50),
    [`${prefix}_BREAKER_RESET_MS`]: int(10, 600_000).default(defaults.resetTimeoutMs ?? 10_000),
    [`${prefix}_BREAKER_VOLUME_THRESHOLD`]: int(1, 10_000).default(defaults.volumeThreshold ?? 5),
    [`${prefix}_BREAKER_WINDOW_MS`]: int(100, 600_000).default(defaults.rollingCountTimeoutMs ?? 10_000),
  } as Record<BreakerEnvKey<P>, z.ZodDefault<z.ZodCoercedNumber<unknown>>>;
}

/** The breaker options a validated configuration holds under `prefix` (see breakerEnv). */
export function breakerOptionsFrom<P extends string>(
  config: Record<BreakerEnvKey<P>, number>,
  prefix: P,
): Required<Omit<BreakerOptions, "isBusinessError" | "logger">> {
  const out = {} as Record<(typeof BREAKER_SETTINGS)[BreakerSetting], number>;
  for (const [suffix, option] of Object.entries(BREAKER_SETTINGS) as [BreakerSetting, keyof typeof out][]) {
    out[option] = config[`${prefix}_BREAKER_${suffix}`];
  }
  return out;
}
