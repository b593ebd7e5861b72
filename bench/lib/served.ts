import { Code, ConnectError } from "@connectrpc/connect";

/** The HTTP statuses and Connect codes that mean the server refused the bench's request (its identity or its input), not that it was slow. */
const REFUSED_STATUSES = new Set([400, 401, 403, 404]);
const REFUSED_CODES = new Set([
  Code.InvalidArgument,
  Code.Unauthenticated,
  Code.PermissionDenied,
  Code.NotFound,
]);

export function isRefusal(error: unknown): boolean {
  if (error instanceof ConnectError) return REFUSED_CODES.has(error.code);
  const status = (error as { status?: unknown } | undefined)?.status;
  return typeof status === "number" && REFUSED_STATUSES.has(status);
}

/**
 * Fails the scenario when its requests were refused or none was answered:
 * numbers from a bench whose requests bounce off the authorization
 * interceptor would look fast and mean nothing.
 */
export function requireServed(
  what: string,
  outcome: {
    ok: number;
    refused: number;
    firstRefusal?: string | undefined;
    firstError?: string | undefined;
  },
): void {
  if (outcome.refused > 0)
    throw new Error(
      `${what}: ${outcome.refused} request(s) refused (${outcome.firstRefusal ?? "no message"}); the bench's identity or request is wrong`,
    );
  if (outcome.ok === 0)
    throw new Error(`${what}: no request was answered (${outcome.firstError ?? "no error recorded"})`);
}
