import type { Logger } from "../observability/logger.ts";
import { settleWithin, TimeLimitError } from "./timeout.ts";

/**
 * One shutdown policy for every process: named steps, run one after the
 * other in the reverse order they were added (what was built last, the
 * intake, stops first), each logged; a failing step is logged and the next
 * one still runs; the whole sequence is bounded by a deadline, after which
 * the steps not yet finished are reported and skipped. The exit code is
 * non-zero when any step failed or the deadline passed.
 */
export interface Lifecycle {
  /** Adds a step that runs at shutdown. */
  onShutdown(name: string, step: () => unknown): void;
  /**
   * Runs the steps once; later calls return the same promise. Resolves with
   * the exit code: `exitCode` (0 for a requested stop, 1 for a failure that
   * forced it) unless a step failed.
   */
  shutdown(reason: string, exitCode?: number): Promise<number>;
  readonly stopping: boolean;
}

export interface LifecycleOptions {
  logger: Logger;
  /** Longest the whole shutdown may take. */
  deadlineMs: number;
}

export function createLifecycle({ logger, deadlineMs }: LifecycleOptions): Lifecycle {
  const steps: { name: string; step: () => unknown }[] = [];
  let running: Promise<number> | undefined;

  async function runSteps(reason: string, exitCode: number): Promise<number> {
    logger.info({ reason, steps: steps.length }, "shutting down");
    const deadline = Date.now() + deadlineMs;
    let failed = 0;
    let outOfTime = false;
    for (const { name, step } of [...steps].reverse()) {
      const left = deadline - Date.now();
      if (outOfTime || left <= 0) {
        failed += 1;
        logger.error({ step: name }, "shutdown: skipped, deadline passed");
        continue;
      }
      const started = Date.now();
      try {
        await settleWithin(step, left, `did not finish within ${left} ms`);
        logger.info({ step: name, ms: Date.now() - started }, "shutdown: step done");
      } catch (err) {
        failed += 1;
        logger.error({ step: name, err }, "shutdown: step failed");
        // Cut off at the deadline: the time is gone even when the clock reads a millisecond
        // short of it (a timer can fire just before Date.now() gets there).
        if (err instanceof TimeLimitError) outOfTime = true;
      }
    }
    const code = failed > 0 ? exitCode || 1 : exitCode;
    logger.info({ failed, code }, "shutdown complete");
    return code;
  }

  return {
    onShutdown(name, step) {
      steps.push({ name, step });
    },
    shutdown(reason, exitCode = 0) {
      running ??= runSteps(reason, exitCode);
      return running;
    },
    get stopping() {
      return running !== undefined;
    },
  };
}

/** SIGTERM and SIGINT run the shutdown, then the process exits with its code. */
export function exitOnSignals(lifecycle: Lifecycle): void {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      void lifecycle.shutdown(signal).then((code) => process.exit(code));
    });
  }
}
