/** Why a read of another process failed, in words for the operator (never a token or a body). */
export class ReadError extends Error {
  override name = "ReadError";
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

/**
 * GET of a JSON document with a deadline. Only the caller's URL (loopback,
 * checked by the config) is contacted; redirects are not followed.
 */
export async function getJson(
  url: string,
  options: { timeoutMs: number; headers?: Record<string, string> },
): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { accept: "application/json, application/hal+json", ...options.headers },
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    throw new ReadError(describeFetchError(error, options.timeoutMs));
  }
  const text = await response.text().catch(() => "");
  let body: unknown;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

export function describeFetchError(error: unknown, timeoutMs: number): string {
  const err = error as {
    name?: string;
    cause?: { code?: string; message?: string; errors?: { code?: string }[] };
  };
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return `no answer within ${timeoutMs} ms`;
  // undici wraps the socket's error; a host with several addresses gives an AggregateError.
  const code = err?.cause?.code ?? err?.cause?.errors?.[0]?.code;
  if (err?.cause?.message === "bad port") return "a port fetch refuses (bad port)";
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ECONNRESET") return "connection reset";
  if (typeof code === "string") return code.toLowerCase();
  return "unreachable";
}
