import type { Principal } from "#lib/auth/principal.ts";
import { TokenRejected, type TokenVerifier } from "#lib/auth/verifier.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { HttpError } from "./http-util.ts";

// Who may do what on the broker (ADR 0016, issue 10): the matrix decides
// releases, so whoever can write verification results or deployments can
// make can-i-deploy pass. Writes need a realm token for audience
// "pact-broker" whose caller holds the realm role "release" (the accord-ci
// client); reads are open unless configured closed, then any valid token for
// the broker reads. The check runs before routing, so an anonymous caller
// learns nothing about which resources exist.

/** The realm role that may change what the broker knows. */
export const RELEASE_ROLE = "release";

export interface BrokerAccessOptions {
  /** Verifies bearer tokens for audience "pact-broker" (lib/auth/verifier.ts). */
  verifier: TokenVerifier;
  /** GET/HEAD without a token (the real broker's PACT_BROKER_ALLOW_PUBLIC_READ). */
  publicRead: boolean;
  logger: Logger;
}

export interface BrokerAccess {
  /** Resolves when the request may go on; throws HttpError 401, 403 or 503 otherwise. */
  check(method: string, pathname: string, authorization: string | undefined): Promise<void>;
}

// Requests that change nothing although they are not GETs: the Verifier
// POSTs its consumer version selectors to fetch the pacts it will verify.
const READ_POSTS = [/^\/pacts\/provider\/[^/]+\/for-verification\/?$/];

export function isRead(method: string, pathname: string): boolean {
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") return true;
  return method === "POST" && READ_POSTS.some((p) => p.test(pathname));
}

export function brokerAccess(options: BrokerAccessOptions): BrokerAccess {
  const { verifier, publicRead, logger } = options;
  return {
    async check(method, pathname, authorization) {
      const read = isRead(method, pathname);
      if (read && publicRead) return;
      let principal: Principal;
      try {
        principal = await verifier.verify(authorization);
      } catch (error) {
        const reason = error instanceof TokenRejected ? error.reason : "verifier-error";
        // The reason only: nothing of the token is logged.
        logger.info({ method, path: pathname, reason }, "broker request refused: unauthenticated");
        if (reason === "keys-unavailable") {
          throw new HttpError(503, { error: "identity provider unreachable; try again" });
        }
        throw unauthorized(reason === "missing" ? "missing bearer token" : "invalid bearer token");
      }
      if (read) return;
      if (principal.kind === "user" && principal.roles.has(RELEASE_ROLE)) return;
      logger.info(
        { method, path: pathname, caller: principal.kind },
        "broker request refused: no release role",
      );
      throw new HttpError(403, {
        error: `${method} ${pathname} needs a token with the realm role "${RELEASE_ROLE}"`,
      });
    },
  };
}

/** 401 as the broker answers it: a JSON error and the scheme to use. */
function unauthorized(message: string): HttpError {
  return new HttpError(
    401,
    {
      error: `${message}: send Authorization: Bearer <token> (the CLI's --broker-token or PACT_BROKER_TOKEN)`,
    },
    { "www-authenticate": 'Bearer realm="pact-broker"' },
  );
}
