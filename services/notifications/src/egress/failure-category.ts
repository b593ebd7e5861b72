import { EgressLookupError, EgressRefusedError } from "./guard.ts";

/**
 * What a partner is told about a failed delivery: a category, never the
 * socket's own error text, which names addresses and ports and would turn
 * ListDeliveries into a scanner of whatever the guard let through.
 */
export type FailureCategory =
  | "refused by egress policy"
  | "dns lookup failed"
  | "connection refused"
  | "connection reset"
  | "unreachable"
  | "timeout"
  | "tls"
  | "response too large"
  | "connection failed";

const TLS_CODES = new Set([
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "EPROTO",
]);

function codeOf(err: unknown): string {
  const seen = new Set<unknown>();
  let current: unknown = err;
  // undici wraps socket errors; the code that says what happened may be on the cause.
  while (current && typeof current === "object" && !seen.has(current)) {
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && code !== "UND_ERR_SOCKET" && code !== "UND_ERR_ABORTED") return code;
    current = (current as { cause?: unknown }).cause;
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : "";
}

function nameOf(err: unknown): string {
  const name = (err as { name?: unknown } | undefined)?.name;
  return typeof name === "string" ? name : "";
}

export function failureCategory(err: unknown): FailureCategory {
  if (err instanceof EgressRefusedError) return "refused by egress policy";
  if (err instanceof EgressLookupError) return "dns lookup failed";
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof EgressRefusedError) return "refused by egress policy";
  if (cause instanceof EgressLookupError) return "dns lookup failed";
  const name = nameOf(err);
  const code = codeOf(err);
  if (
    name === "TimeoutError" ||
    name === "HeadersTimeoutError" ||
    name === "BodyTimeoutError" ||
    name === "ConnectTimeoutError" ||
    code === "UND_ERR_CONNECT_TIMEOUT" ||
    code === "UND_ERR_HEADERS_TIMEOUT" ||
    code === "UND_ERR_BODY_TIMEOUT" ||
    code === "ETIMEDOUT" ||
    code === "23" // DOMException TIMEOUT_ERR
  ) {
    return "timeout";
  }
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ECONNRESET" || code === "EPIPE" || code === "UND_ERR_CLOSED") return "connection reset";
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "EADDRNOTAVAIL") return "unreachable";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "dns lookup failed";
  if (code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_") || TLS_CODES.has(code)) return "tls";
  if (code === "UND_ERR_HEADERS_OVERFLOW" || code === "UND_ERR_RES_EXCEEDED_MAX_SIZE") {
    return "response too large";
  }
  return "connection failed";
}

/** The category of a receiver's non-2xx answer. */
export function httpStatusCategory(status: number): string {
  if (status >= 300 && status < 400) return `http ${status} (redirects are not followed)`;
  return `http ${status}`;
}
