import { performance } from "node:perf_hooks";
import { isRefusal } from "./served.ts";
import { type LatencySummary, summarize } from "./stats.ts";

/**
 * Open-loop load: request i is due at start + i / rate, whatever happened to
 * the requests before it, and its latency is measured from that scheduled
 * time, not from when it was actually sent. A closed-loop tool (or one that
 * measures from the real send) stops sending while the server stalls, so the
 * stall shows up in one sample instead of in every request that should have
 * been sent meanwhile ("coordinated omission"); here a stalled server or a
 * stalled generator both show up as latency of every request due during it.
 */
export interface OpenLoopResult {
  rate: number;
  durationMs: number;
  sent: number;
  ok: number;
  errors: number;
  /** Errors that were the server refusing the request (4xx, or a Connect refusal code): the bench is wrong, not the server slow. */
  refused: number;
  /** Achieved completions per second over the whole window. */
  throughput: number;
  latency: LatencySummary;
  /** How late the generator itself sent requests (real send - scheduled); large means the client was the bottleneck. */
  sendLag: LatencySummary;
  firstError?: string;
  firstRefusal?: string;
  /** Every latency (ms from its scheduled time), when asked for with keepSamples: to pool runs. */
  samples?: number[];
}

export interface OpenLoopOptions {
  rate: number;
  durationMs: number;
  /** One request; resolves when the answer is complete, rejects on failure. i is the request's number. */
  send: (i: number) => Promise<void>;
  /** A request still unanswered after this long counts as an error (its latency is still recorded). */
  timeoutMs?: number;
  /** Return every latency too (OpenLoopResult.samples). */
  keepSamples?: boolean;
}

export function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const { rate, durationMs, send } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const interval = 1000 / rate;
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const latencies: number[] = [];
  const lags: number[] = [];
  let next = 0;
  let done = 0;
  let ok = 0;
  let errors = 0;
  let refused = 0;
  let firstError: string | undefined;
  let firstRefusal: string | undefined;
  const start = performance.now() + 20;

  return new Promise((resolve) => {
    const finish = () => {
      resolve({
        rate,
        durationMs,
        sent: total,
        ok,
        errors,
        refused,
        throughput: ok / ((performance.now() - start) / 1000),
        latency: summarize(latencies),
        sendLag: summarize(lags),
        ...(firstError ? { firstError } : {}),
        ...(firstRefusal ? { firstRefusal } : {}),
        ...(options.keepSamples ? { samples: latencies } : {}),
      });
    };
    const fire = (i: number, scheduled: number) => {
      lags.push(performance.now() - scheduled);
      let settled = false;
      const complete = (error?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        latencies.push(performance.now() - scheduled);
        if (error === undefined) ok += 1;
        else {
          errors += 1;
          const message = error instanceof Error ? error.message : String(error);
          firstError ??= message;
          if (isRefusal(error)) {
            refused += 1;
            firstRefusal ??= message;
          }
        }
        done += 1;
        if (done === total) finish();
      };
      const timer = setTimeout(() => complete(new Error(`no answer after ${timeoutMs} ms`)), timeoutMs);
      send(i).then(
        () => complete(),
        (error: unknown) => complete(error ?? new Error("failed")),
      );
    };
    // Sends everything that is due, then sleeps until the next one is. Timers
    // fire late under load; the catch-up loop sends the overdue ones at once,
    // and their latency still counts from their scheduled time.
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * interval <= now) {
        fire(next, start + next * interval);
        next += 1;
      }
      if (next < total) setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
}
