import { Code, ConnectError } from "@connectrpc/connect";
import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from "jose";
import {
  type Principal,
  SERVICE_IDENTITIES,
  type ServiceIdentity,
  USER_ROLES,
  type UserRole,
} from "./principal.ts";

export interface TokenVerifierOptions {
  /** The realm's issuer, exactly as it appears in `iss`. */
  issuer: string;
  /** This service's audience: a token must name it in `aud`. */
  audience: string;
  /** Defaults to the issuer's Keycloak certs endpoint. */
  jwksUrl?: string;
  /** Allowed clock difference for exp/nbf/iat, in seconds. */
  clockToleranceSec?: number;
  /** How long one JWKS fetch may take. */
  jwksTimeoutMs?: number;
  /** Verified tokens remembered (until they expire) so repeat calls skip the signature check. */
  cacheSize?: number;
  /**
   * The shortest time between two key-set fetches caused by unknown key ids,
   * so a stream of tokens with made-up kids cannot hammer the identity provider.
   */
  jwksCooldownMs?: number;
}

/** Why a token was refused: logged and counted, never sent to the caller. */
export type DenialReason =
  | "missing"
  | "malformed"
  | "expired"
  | "bad-signature"
  | "wrong-issuer"
  | "wrong-audience"
  | "bad-claims"
  | "keys-unavailable";

export class TokenRejected extends ConnectError {
  readonly reason: DenialReason;
  constructor(reason: DenialReason) {
    // One message for every reason: the caller learns nothing about the token's content.
    super(reason === "missing" ? "missing bearer token" : "invalid bearer token", Code.Unauthenticated);
    this.reason = reason;
  }
}

export interface TokenVerifier {
  /** The caller behind an Authorization header value; throws TokenRejected (unauthenticated). */
  verify(authorization: string | null | undefined): Promise<Principal>;
}

// Longer than any token the realm issues (a few KB); longer headers are refused unparsed.
const MAX_HEADER_LENGTH = 8_192;
const BEARER = /^bearer ([A-Za-z0-9_-]{2,4096}\.[A-Za-z0-9_-]{2,4096}\.[A-Za-z0-9_-]{2,4096})$/i;
// Asymmetric only: "none" and HMAC (whose key would be public) are refused.
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"];

/**
 * Verifies bearer JWTs locally against the realm's published keys (jose's
 * remote key set: cached, and fetched again when a token names an unknown
 * key id, at most once per cooldown), checking issuer, audience, expiry and
 * the token type.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const jwksUrl = new URL(options.jwksUrl ?? `${options.issuer}/protocol/openid-connect/certs`);
  const keys = createRemoteJWKSet(jwksUrl, {
    timeoutDuration: options.jwksTimeoutMs ?? 2_000,
    cooldownDuration: options.jwksCooldownMs ?? 30_000,
    cacheMaxAge: 10 * 60_000,
  });
  const clockTolerance = options.clockToleranceSec ?? 5;
  const cacheSize = options.cacheSize ?? 10_000;
  const verified = new Map<string, { principal: Principal; expiresAtMs: number }>();

  return {
    async verify(authorization) {
      if (authorization === null || authorization === undefined || authorization === "") {
        throw new TokenRejected("missing");
      }
      if (authorization.length > MAX_HEADER_LENGTH) throw new TokenRejected("malformed");
      const token = BEARER.exec(authorization)?.[1];
      if (token === undefined) throw new TokenRejected("malformed");

      const known = verified.get(token);
      if (known !== undefined) {
        if (Date.now() < known.expiresAtMs) return known.principal;
        verified.delete(token);
      }

      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms: ALGORITHMS,
          clockTolerance,
          requiredClaims: ["exp", "sub"],
        }));
      } catch (error) {
        throw new TokenRejected(reasonOf(error));
      }
      const principal = principalFrom(payload);
      if (principal === undefined) throw new TokenRejected("bad-claims");

      if (verified.size >= cacheSize) {
        // Oldest first (Map keeps insertion order): drop one to make room.
        const oldest = verified.keys().next();
        if (!oldest.done) verified.delete(oldest.value);
      }
      verified.set(token, { principal, expiresAtMs: (payload.exp as number) * 1000 + clockTolerance * 1000 });
      return principal;
    },
  };
}

function reasonOf(error: unknown): DenialReason {
  if (error instanceof joseErrors.JWTExpired) return "expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === "iss") return "wrong-issuer";
    if (error.claim === "aud") return "wrong-audience";
    return "bad-claims";
  }
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid)
    return "keys-unavailable";
  if (error instanceof joseErrors.JOSEError) {
    return error.code === "ERR_JWKS_NO_MATCHING_KEY" || error.code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"
      ? "bad-signature"
      : "malformed";
  }
  // A failed fetch of the key set (identity provider down).
  return "keys-unavailable";
}

const userRoles: ReadonlySet<string> = new Set(USER_ROLES);
const serviceIdentities: ReadonlySet<string> = new Set(SERVICE_IDENTITIES);

/**
 * The caller a verified payload describes. Keycloak puts realm roles in
 * realm_access.roles and the client a token was issued to in azp; a
 * service's token is one its service account (realm role "service") got by
 * client credentials. Anything else is refused rather than guessed at.
 */
export function principalFrom(payload: JWTPayload): Principal | undefined {
  // Keycloak marks access tokens typ "Bearer"; an ID or refresh token is not a credential here.
  if (payload.typ !== undefined && payload.typ !== "Bearer") return undefined;
  const subject = payload.sub;
  if (typeof subject !== "string" || subject.length === 0 || subject.length > 255) return undefined;
  const access = (payload as { realm_access?: { roles?: unknown } }).realm_access;
  const roles = Array.isArray(access?.roles)
    ? access.roles.filter((r): r is string => typeof r === "string")
    : [];
  if (roles.includes("service")) {
    const azp = payload.azp;
    if (typeof azp !== "string" || !serviceIdentities.has(azp)) return undefined;
    return { kind: "service", subject, service: azp as ServiceIdentity };
  }
  return { kind: "user", subject, roles: new Set(roles.filter((r) => userRoles.has(r)) as UserRole[]) };
}
