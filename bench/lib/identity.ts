import type { Interceptor } from "@connectrpc/connect";
import {
  DEFAULT_ISSUER,
  DEMO_USERS,
  type DemoUser,
  demoUserTokens,
  devClientSecret,
} from "#lib/auth/dev-identities.ts";
import type { ServiceIdentity } from "#lib/auth/principal.ts";

/** The realm the bench logs in at; bench/lib/env.ts puts it in the environment every process it starts inherits. */
export const benchIssuer = (): string => process.env.OIDC_ISSUER ?? DEFAULT_ISSUER;

/** What a service process the bench starts needs to verify tokens and to call others as itself. */
export function serviceIdentityEnv(service: ServiceIdentity): Record<string, string> {
  return { AUTH_CLIENT_SECRET: devClientSecret(service), OIDC_ISSUER: benchIssuer() };
}

export interface BenchCaller {
  who: DemoUser;
  /** The person's id: the token's subject, what a customer's orders are owned by. */
  id: string;
  /**
   * The request headers carrying the person's token, one object for the
   * whole run: built once, so no request waits for (or measures) a token;
   * its token is swapped in place before the old one expires.
   */
  headers: Readonly<Record<string, string>>;
  /** A Connect client interceptor that sets the same header. */
  interceptor: Interceptor;
}

// Access tokens live 5 minutes (the realm's lifespan) and the TokenSource
// renews in the background only when asked; asking every few seconds keeps
// a long run (the 10-minute end-to-end) on a valid token, off the request path.
const RENEW_CHECK_MS = 5_000;
const callers = new Map<string, Promise<BenchCaller>>();

/** A demo person calling `audience`, logged in once per run (the same one for every scenario). */
export function benchCaller(who: DemoUser, audience: string): Promise<BenchCaller> {
  const key = `${who}@${audience}`;
  let caller = callers.get(key);
  if (!caller) {
    caller = login(who, audience);
    callers.set(key, caller);
    // A failed login is not cached: the next scenario tries again.
    caller.catch(() => callers.delete(key));
  }
  return caller;
}

async function login(who: DemoUser, audience: string): Promise<BenchCaller> {
  const tokens = demoUserTokens(who, benchIssuer());
  const headers: Record<string, string> = { authorization: `Bearer ${await tokens.token(audience)}` };
  setInterval(() => {
    tokens.token(audience).then(
      (token) => {
        headers.authorization = `Bearer ${token}`;
      },
      // The cached token still serves until it expires; the next check retries.
      () => undefined,
    );
  }, RENEW_CHECK_MS).unref();
  return {
    who,
    id: DEMO_USERS[who].id,
    headers,
    interceptor: (next) => (req) => {
      req.header.set("authorization", headers.authorization as string);
      return next(req);
    },
  };
}
