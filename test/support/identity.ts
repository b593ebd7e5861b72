import {
  DEMO_USERS,
  type DemoUser,
  demoUserTokens,
  devClientTokens,
  type ToolClient,
} from "#lib/auth/dev-identities.ts";
import type { Principal, ServiceIdentity } from "#lib/auth/principal.ts";
import type { CallerAuth } from "#lib/rpc/clients.ts";

/**
 * Real tokens from the real Keycloak for tests: a demo person (password
 * grant of the CLI client) or one of Accord's own clients (client
 * credentials), for the audience of the service called.
 *
 *   const payments = rpcClient(PaymentService, url, "connect-json", callerAs("orchestrator", "payments"));
 *   const alice = rpcClient(OrderService, url, "connect-json", callerAs("alice", "orders"));
 */
export type TestCaller = DemoUser | ServiceIdentity | ToolClient;

const PEOPLE: ReadonlySet<string> = new Set(["alice", "bob", "acme", "globex", "olivia"]);

export function callerAs(who: TestCaller, audience: string): CallerAuth {
  const tokens = PEOPLE.has(who)
    ? demoUserTokens(who as DemoUser)
    : devClientTokens(who as ServiceIdentity | ToolClient);
  return { tokens, audience };
}

/** An Authorization header value, for tests that send raw HTTP. */
export async function bearerFor(who: TestCaller, audience: string): Promise<string> {
  const { tokens } = callerAs(who, audience);
  return `Bearer ${await tokens.token(audience)}`;
}

/** The principal a demo person's verified token gives (for in-process handler tests, which have no token). */
export function personPrincipal(user: DemoUser): Principal {
  return { kind: "user", subject: DEMO_USERS[user].id, roles: new Set([DEMO_USERS[user].role]) };
}

/** The principal one of Accord's services' verified token gives. */
export function servicePrincipal(service: ServiceIdentity): Principal {
  return { kind: "service", subject: `service-account-${service}`, service };
}
