import type { ReactNode } from "react";
import { describeError } from "../format.ts";
import type { QueryState } from "../use-query.ts";

export function Loading({ what }: { what: string }) {
  return (
    <p className="state loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function ErrorBox({ title, error, onRetry }: { title: string; error: unknown; onRetry?: () => void }) {
  return (
    <div className="state error" role="alert">
      <p>
        <strong>{title}</strong> {describeError(error)}
      </p>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="state empty">{children}</p>;
}

/** Loading, error or the content, for one query; a failed refresh shows above the last answer. */
export function QueryView<T>({
  query,
  what,
  children,
}: {
  query: QueryState<T> & { reload: () => void };
  what: string;
  children: (data: T) => ReactNode;
}) {
  if (query.status === "loading") return <Loading what={what} />;
  if (query.status === "error")
    return <ErrorBox title={`Could not load ${what}:`} error={query.error} onRetry={query.reload} />;
  return (
    <>
      {query.refreshError !== undefined && (
        <p className="state stale" role="status">
          Showing the last answer; refreshing {what} failed: {describeError(query.refreshError)}
        </p>
      )}
      {children(query.data)}
    </>
  );
}
