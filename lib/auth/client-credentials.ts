import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { z } from "zod";

/** Access tokens for calls this process makes, one per audience (the called service). */
export interface TokenSource {
  token(audience: string): Promise<string>;
  /** Forgets a cached token, e.g. after the callee answered unauthenticated. */
  forget(audience: string): void;
}

export interface ClientCredentialsOptions {
  /** The realm's token endpoint. */
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** How long before expiry a cached token is renewed. */
  renewBeforeSec?: number;
  timeoutMs?: number;
}

const tokenResponse = z.object({ access_token: z.string().min(1), expires_in: z.number().positive() });

/**
 * Client credentials (RFC 6749 4.4) against the realm: a token for audience
 * X is requested with scope "audience-X" (the realm's audience client
 * scopes), cached until shortly before it expires, and fetched once however
 * many calls wait for it.
 */
export function clientCredentials(options: ClientCredentialsOptions): TokenSource {
  return cachedTokens(async (audience) => {
    const body = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: options.clientId,
      client_secret: options.clientSecret,
      scope: `audience-${audience}`,
    });
    return requestToken(options.tokenUrl, body, options.timeoutMs, `${options.clientId} for ${audience}`);
  }, options.renewBeforeSec);
}

export interface PasswordGrantOptions {
  tokenUrl: string;
  clientId: string;
  username: string;
  password: string;
  renewBeforeSec?: number;
  timeoutMs?: number;
}

/**
 * A person's token by the resource-owner password grant of the CLI client.
 * Development only (the realm enables it for accord-cli alone): a real
 * deployment logs people in through the browser or the device grant.
 * The realm's CLI client adds every Accord audience, so one token serves all.
 */
export function passwordGrant(options: PasswordGrantOptions): TokenSource {
  return cachedTokens(
    async () => {
      const body = new URLSearchParams({
        grant_type: "password",
        client_id: options.clientId,
        username: options.username,
        password: options.password,
        scope: "openid",
      });
      return requestToken(options.tokenUrl, body, options.timeoutMs, `user ${options.username}`);
    },
    options.renewBeforeSec,
    () => "user",
  );
}

async function requestToken(
  tokenUrl: string,
  body: URLSearchParams,
  timeoutMs = 5_000,
  what: string,
): Promise<{ token: string; expiresInSec: number }> {
  let response: Response;
  try {
    response = await fetch(tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new ConnectError(
      `identity provider unreachable (token for ${what})`,
      Code.Unavailable,
      undefined,
      undefined,
      error,
    );
  }
  const text = await response.text();
  if (!response.ok) {
    // The provider's error code (e.g. invalid_client) says what is wrong without any secret.
    const code = /"error"\s*:\s*"([a-z_]{1,64})"/.exec(text)?.[1] ?? `http ${response.status}`;
    throw new ConnectError(`identity provider refused a token for ${what}: ${code}`, Code.Unauthenticated);
  }
  const parsed = tokenResponse.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new ConnectError(`identity provider answered no token for ${what}`, Code.Unavailable);
  return { token: parsed.data.access_token, expiresInSec: parsed.data.expires_in };
}

function cachedTokens(
  fetchToken: (audience: string) => Promise<{ token: string; expiresInSec: number }>,
  renewBeforeSec = 30,
  keyOf: (audience: string) => string = (audience) => audience,
): TokenSource {
  // A token is renewed in the background once past renewAtMs and used until
  // usableUntilMs, so calls wait for the identity provider only for the first
  // token or after a long pause, never at each renewal.
  const cache = new Map<string, { token: string; renewAtMs: number; usableUntilMs: number }>();
  const pending = new Map<string, Promise<string>>();

  function fetchAndCache(audience: string, key: string): Promise<string> {
    const inFlight = pending.get(key);
    if (inFlight !== undefined) return inFlight;
    const started = Date.now();
    const request = fetchToken(audience)
      .then(({ token, expiresInSec }) => {
        // Renew before expiry, but never sooner than halfway through a short-lived token.
        const lifetimeMs = expiresInSec * 1000;
        const renewInMs = Math.max(lifetimeMs / 2, lifetimeMs - renewBeforeSec * 1000);
        // Stop using it a little before it expires (clock skew, the call's own time in flight).
        const usableForMs = Math.max(renewInMs, lifetimeMs - 5_000);
        cache.set(key, { token, renewAtMs: started + renewInMs, usableUntilMs: started + usableForMs });
        return token;
      })
      .finally(() => pending.delete(key));
    pending.set(key, request);
    return request;
  }

  return {
    token(audience) {
      const key = keyOf(audience);
      const cached = cache.get(key);
      const now = Date.now();
      if (cached !== undefined && now < cached.renewAtMs) return Promise.resolve(cached.token);
      if (cached !== undefined && now < cached.usableUntilMs) {
        // A failed background renewal is retried by the next call; the cached token still serves.
        fetchAndCache(audience, key).catch(() => undefined);
        return Promise.resolve(cached.token);
      }
      return fetchAndCache(audience, key);
    },
    forget(audience) {
      cache.delete(keyOf(audience));
    },
  };
}

/**
 * Attaches a bearer token for `audience` to every call of a client; when
 * the callee says unauthenticated the cached token is dropped, so the next
 * call fetches a fresh one (rotated keys, a token revoked early).
 */
export function bearerToken(tokens: TokenSource, audience: string): Interceptor {
  return (next) => async (req) => {
    req.header.set("authorization", `Bearer ${await tokens.token(audience)}`);
    try {
      return await next(req);
    } catch (error) {
      if (error instanceof ConnectError && error.code === Code.Unauthenticated) tokens.forget(audience);
      throw error;
    }
  };
}
