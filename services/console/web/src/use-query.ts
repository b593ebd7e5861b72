import { type DependencyList, useCallback, useEffect, useRef, useState } from "react";

export type QueryState<T> =
  | { status: "loading" }
  | { status: "error"; error: unknown }
  | { status: "ready"; data: T; refreshedAt: number; refreshError?: unknown };

/**
 * Loads `load` when the deps change and, with `pollMs`, again every pollMs
 * while the page is open. A failed poll keeps the last answer and reports
 * the failure beside it, so live pages never go blank.
 */
export function useQuery<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: DependencyList,
  pollMs?: number,
): QueryState<T> & { reload: () => void } {
  const [state, setState] = useState<QueryState<T>>({ status: "loading" });
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller's deps decide when to load afresh.
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let first = true;
    setState({ status: "loading" });
    const run = async () => {
      try {
        const data = await loadRef.current(controller.signal);
        if (controller.signal.aborted) return;
        setState({ status: "ready", data, refreshedAt: Date.now() });
      } catch (error) {
        if (controller.signal.aborted) return;
        setState((previous) =>
          previous.status === "ready" && !first
            ? { ...previous, refreshError: error }
            : { status: "error", error },
        );
      }
      first = false;
      if (pollMs && !controller.signal.aborted) timer = setTimeout(run, pollMs);
    };
    void run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [...deps, generation, pollMs]);

  return { ...state, reload };
}
