import { clientCredentials, passwordGrant, type TokenSource } from "./client-credentials.ts";
import type { ServiceIdentity } from "./principal.ts";

/**
 * The development realm's demo people and client secrets
 * (infra/keycloak/accord-realm.json): what `npm start`'s demo, the CLI and
 * the tests log in with. Development only: a deployment imports its own
 * realm and keeps secrets in a secret store (docs/adr/0016-identity-and-trust.md).
 */
export const DEMO_USERS = {
  alice: { id: "a11ce000-0000-4000-8000-000000000001", password: "alice", role: "customer" },
  bob: { id: "b0b00000-0000-4000-8000-000000000002", password: "bob", role: "customer" },
  acme: { id: "ac3e0000-0000-4000-8000-000000000003", password: "acme", role: "partner" },
  globex: { id: "9100be00-0000-4000-8000-000000000004", password: "globex", role: "partner" },
  olivia: { id: "0b5e0000-0000-4000-8000-000000000005", password: "olivia", role: "ops" },
} as const;
export type DemoUser = keyof typeof DEMO_USERS;

/** Confidential clients of the development realm besides the services: CI's broker writer, the attack suite's short-lived token. */
export type ToolClient = "accord-ci" | "accord-expiry-probe";

/** The development realm's secret of a confidential client (one convention, in the realm file too). */
export function devClientSecret(clientId: ServiceIdentity | ToolClient): string {
  return `dev-secret-${clientId}`;
}

export const DEFAULT_ISSUER = "http://127.0.0.1:8180/realms/accord";

function tokenUrl(issuer: string): string {
  return `${issuer}/protocol/openid-connect/token`;
}

const sources = new Map<string, TokenSource>();

/** A demo person's tokens through the CLI client (dev-only password grant), cached per process. */
export function demoUserTokens(
  user: DemoUser,
  issuer = process.env.OIDC_ISSUER ?? DEFAULT_ISSUER,
): TokenSource {
  const key = `user:${user}@${issuer}`;
  let source = sources.get(key);
  if (!source) {
    source = passwordGrant({
      tokenUrl: tokenUrl(issuer),
      clientId: "accord-cli",
      username: user,
      password: DEMO_USERS[user].password,
    });
    sources.set(key, source);
  }
  return source;
}

/** A client's own tokens by client credentials with its development secret, cached per process. */
export function devClientTokens(
  clientId: ServiceIdentity | ToolClient,
  issuer = process.env.OIDC_ISSUER ?? DEFAULT_ISSUER,
): TokenSource {
  const key = `client:${clientId}@${issuer}`;
  let source = sources.get(key);
  if (!source) {
    source = clientCredentials({
      tokenUrl: tokenUrl(issuer),
      clientId,
      clientSecret: devClientSecret(clientId),
    });
    sources.set(key, source);
  }
  return source;
}
