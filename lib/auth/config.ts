import { z } from "zod";

/**
 * How a process finds the identity provider and proves who it is. The
 * issuer is the realm's URL exactly as tokens name it; the client secret is
 * the process's own (infra/keycloak: dev secrets there, a secret store in
 * production) and is only needed by processes that call other services.
 */
export const authEnv = z.object({
  OIDC_ISSUER: z.string().url().default("http://127.0.0.1:8180/realms/accord"),
  // Defaults derive from the issuer (Keycloak's endpoint layout).
  OIDC_JWKS_URL: z.string().url().optional(),
  OIDC_TOKEN_URL: z.string().url().optional(),
  // The audience tokens for this process must carry; defaults to the process's name.
  AUTH_AUDIENCE: z.string().min(1).max(100).optional(),
  // The client this process authenticates as; defaults to the process's name.
  AUTH_CLIENT_ID: z.string().min(1).max(100).optional(),
  AUTH_CLIENT_SECRET: z.string().min(1).max(500).optional(),
  AUTH_CLOCK_SKEW_SEC: z.coerce.number().int().min(0).max(120).default(5),
});
export type AuthEnv = z.infer<typeof authEnv>;

export function tokenUrlOf(env: Pick<AuthEnv, "OIDC_ISSUER" | "OIDC_TOKEN_URL">): string {
  return env.OIDC_TOKEN_URL ?? `${env.OIDC_ISSUER}/protocol/openid-connect/token`;
}
