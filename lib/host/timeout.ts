/** What settleWithin rejects with when the work outlasted its bound. */
export class TimeLimitError extends Error {
  override name = "TimeLimitError";
}

/**
 * Runs `work` (which may return a value or a promise, or throw) and rejects
 * with `message` if it has not settled after `ms`. The work itself is not
 * cancelled: a readiness check or a shutdown step that hangs is reported,
 * and the caller moves on.
 */
export async function settleWithin<T>(work: () => T | Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(work),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeLimitError(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
