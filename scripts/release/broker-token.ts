// Prints an access token for the Pact Broker, by client credentials of the
// CI client (accord-ci, realm role "release"), for the release scripts to
// pass on as PACT_BROKER_TOKEN (the official CLI's --broker-token):
//   PACT_BROKER_TOKEN="$(node scripts/release/broker-token.ts)"
//
// Settings (tools/pact-broker/README.md, "Authentication"):
//   PACT_BROKER_OIDC_ISSUER   the realm the broker trusts (default OIDC_ISSUER, else the dev realm)
//   PACT_BROKER_TOKEN_URL     its token endpoint (default <issuer>/protocol/openid-connect/token)
//   PACT_BROKER_CLIENT_ID     default accord-ci
//   PACT_BROKER_CLIENT_SECRET required in CI; elsewhere the dev realm's secret is the default
//   PACT_BROKER_AUDIENCE      default pact-broker (requested as scope audience-<it>)
// The dev secret is public (infra/keycloak/accord-realm.json), so it is used
// only off CI, or in CI for a broker started for that run alone
// (PACT_BROKER_EPHEMERAL=true), which trusts the run's own dev realm.
// Only the token goes to stdout; errors name what is missing, never a secret.
//
// Self-contained on purpose (plain fetch, no project imports): the release
// scripts run from any checkout of them, as release-pipeline.test.ts does.

const DEV_ISSUER = "http://127.0.0.1:8180/realms/accord";
const DEV_CLIENT = "accord-ci";
// The dev realm's convention for its confidential clients: dev-secret-<client id>.
const DEV_SECRET = `dev-secret-${DEV_CLIENT}`;

export interface BrokerTokenSettings {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  audience: string;
}

type Env = Record<string, string | undefined>;

/** The settings from the environment; throws an Error naming what is missing. */
export function brokerTokenSettings(env: Env): BrokerTokenSettings {
  const issuer = (env.PACT_BROKER_OIDC_ISSUER || env.OIDC_ISSUER || DEV_ISSUER).replace(/\/+$/, "");
  const tokenUrl = env.PACT_BROKER_TOKEN_URL || `${issuer}/protocol/openid-connect/token`;
  const clientId = env.PACT_BROKER_CLIENT_ID || DEV_CLIENT;
  const inCi = env.CI === "true" || env.GITHUB_ACTIONS === "true";
  let clientSecret = env.PACT_BROKER_CLIENT_SECRET;
  if (!clientSecret) {
    const devAllowed = clientId === DEV_CLIENT && (!inCi || env.PACT_BROKER_EPHEMERAL === "true");
    if (!devAllowed) {
      throw new Error(
        `PACT_BROKER_CLIENT_SECRET is not set: the secret of client ${clientId} is needed` +
          (inCi ? " (in CI the development secret serves only a broker started for the run)" : ""),
      );
    }
    clientSecret = DEV_SECRET;
  }
  return { tokenUrl, clientId, clientSecret, audience: env.PACT_BROKER_AUDIENCE || "pact-broker" };
}

/** One client-credentials token for the broker's audience. */
export async function brokerToken(env: Env): Promise<string> {
  const s = brokerTokenSettings(env);
  let response: Response;
  try {
    response = await fetch(s.tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: s.clientId,
        client_secret: s.clientSecret,
        scope: `audience-${s.audience}`,
      }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw new Error(`identity provider unreachable at ${s.tokenUrl}: ${(error as Error).message}`);
  }
  const text = await response.text();
  if (!response.ok) {
    // The provider's error code (invalid_client, invalid_scope) says what is wrong without any secret.
    const code = /"error"\s*:\s*"([a-z_]{1,64})"/.exec(text)?.[1] ?? `HTTP ${response.status}`;
    throw new Error(`identity provider refused a token for ${s.clientId}: ${code}`);
  }
  const token = (JSON.parse(text) as { access_token?: unknown }).access_token;
  if (typeof token !== "string" || token === "")
    throw new Error("identity provider answered no access token");
  return token;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  brokerToken(process.env).then(
    (token) => process.stdout.write(token),
    (error: unknown) => {
      console.error(`[release] ERROR: no Pact Broker token: ${(error as Error).message}`);
      process.exitCode = 1;
    },
  );
}
