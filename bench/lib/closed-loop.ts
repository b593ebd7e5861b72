import { performance } from "node:perf_hooks";
import { isRefusal } from "./served.ts";
import { type LatencySummary, summarize } from "./stats.ts";

export interface ClosedLoopResult {
  concurrency: number;
  durationMs: number;
  ok: number;
  errors: number;
  /** Errors that were refusals of the request (see served.ts). */
  refused: number;
  throughput: number;
  latency: LatencySummary;
  firstError?: string;
  firstRefusal?: string;
}

/**
 * `concurrency` callers, each sending its next request as soon as the last
 * one answered, for durationMs: the maximum throughput at that concurrency.
 * Latency is per request (send to answer); fine for a throughput comparison
 * between servers, not for latency under a given rate (see open-loop.ts).
 */
export async function closedLoop(
  concurrency: number,
  durationMs: number,
  call: (i: number) => Promise<void>,
): Promise<ClosedLoopResult> {
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  let refused = 0;
  let firstError: string | undefined;
  let firstRefusal: string | undefined;
  let counter = 0;
  const start = performance.now();
  const end = start + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await call(counter++);
        ok += 1;
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors += 1;
        const message = error instanceof Error ? error.message : String(error);
        firstError ??= message;
        if (isRefusal(error)) {
          refused += 1;
          firstRefusal ??= message;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = performance.now() - start;
  return {
    concurrency,
    durationMs: elapsed,
    ok,
    errors,
    refused,
    throughput: ok / (elapsed / 1000),
    latency: summarize(latencies),
    ...(firstError ? { firstError } : {}),
    ...(firstRefusal ? { firstRefusal } : {}),
  };
}
