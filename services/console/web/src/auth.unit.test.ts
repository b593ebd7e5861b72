import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type ConsoleConfig, type Discovery, LoginError, Session } from "./auth.ts";
import { codeChallenge } from "./pkce.ts";

// The login's own logic in Node, with the page's parts (location, history,
// sessionStorage) and the token endpoint replaced: the browser tests log in
// against the real Keycloak, but cannot wait out a token's life or forge a
// wrong state or nonce.

const CONFIG: ConsoleConfig = {
  issuer: "http://127.0.0.1:8180/realms/accord",
  clientId: "accord-console",
  requiredRole: "ops",
  zipkinUrl: "http://127.0.0.1:9411/zipkin/",
};
const OIDC = `${CONFIG.issuer}/protocol/openid-connect`;
const DISCOVERY: Discovery = {
  authorization_endpoint: `${OIDC}/auth`,
  token_endpoint: `${OIDC}/token`,
  end_session_endpoint: `${OIDC}/logout`,
};
const ORIGIN = "http://127.0.0.1:8099";

function jwt(claims: Record<string, unknown>): string {
  const json = JSON.stringify(claims);
  const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(json)));
  return `e30.${b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}.sig`;
}

interface TokenCall {
  form: URLSearchParams;
}

let assigned: string[];
let tokenCalls: TokenCall[];
let answer: (form: URLSearchParams) => { status: number; body: Record<string, unknown> };
const storage = new Map<string, string>();
const location = {
  origin: ORIGIN,
  search: "",
  hash: "#/health",
  assign: (url: string) => assigned.push(url),
};

beforeEach(() => {
  assigned = [];
  tokenCalls = [];
  storage.clear();
  location.search = "";
  vi.stubGlobal("window", { location, history: { replaceState: () => undefined } });
  vi.stubGlobal("sessionStorage", {
    getItem: (k: string) => storage.get(k) ?? null,
    setItem: (k: string, v: string) => storage.set(k, v),
    removeItem: (k: string) => storage.delete(k),
  });
  vi.stubGlobal("fetch", async (url: string, init: { body: URLSearchParams }) => {
    expect(url).toBe(DISCOVERY.token_endpoint);
    const form = new URLSearchParams(init.body);
    tokenCalls.push({ form });
    const { status, body } = answer(form);
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  });
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

/** Begins a login, returns what went to Keycloak, and comes back with a code as Keycloak would. */
async function loginAs(session: Session, roles: string[], nonceOverride?: string) {
  await session.beginLogin();
  const auth = new URL(assigned.at(-1) ?? "");
  const pending = JSON.parse(storage.get("accord-console.pending-login") ?? "{}") as {
    verifier: string;
    nonce: string;
    state: string;
  };
  answer = (form) => ({
    status: 200,
    body: {
      access_token: jwt({
        sub: "0b5e",
        preferred_username: "olivia",
        realm_access: { roles },
        n: form.get("code"),
      }),
      refresh_token: "refresh-1",
      id_token: jwt({ nonce: nonceOverride ?? pending.nonce }),
      expires_in: 300,
    },
  });
  location.search = `?code=the-code&state=${auth.searchParams.get("state")}`;
  return { auth, pending, completed: session.completeLogin() };
}

describe("console login (authorization code + PKCE)", () => {
  it("sends an S256 challenge of the verifier it later redeems the code with", async () => {
    const session = new Session(CONFIG, DISCOVERY);
    const { auth, pending, completed } = await loginAs(session, ["ops"]);
    expect(auth.origin + auth.pathname).toBe(DISCOVERY.authorization_endpoint);
    expect(Object.fromEntries(auth.searchParams)).toMatchObject({
      client_id: "accord-console",
      response_type: "code",
      redirect_uri: `${ORIGIN}/`,
      code_challenge_method: "S256",
      code_challenge: await codeChallenge(pending.verifier),
      state: pending.state,
      nonce: pending.nonce,
    });
    expect(await completed).toBe(true);
    const redeem = tokenCalls[0]?.form;
    expect(redeem?.get("grant_type")).toBe("authorization_code");
    expect(redeem?.get("code_verifier")).toBe(pending.verifier);
    expect(redeem?.get("redirect_uri")).toBe(`${ORIGIN}/`);
    expect(session.identity).toEqual({ subject: "0b5e", username: "olivia", roles: ["ops"] });
    expect(session.isOperator).toBe(true);
    // The one-time values are gone once read; no token was ever stored.
    expect(storage.size).toBe(0);
  });

  it("a customer is logged in but is no operator", async () => {
    const session = new Session(CONFIG, DISCOVERY);
    const { completed } = await loginAs(session, ["customer"]);
    await completed;
    expect(session.identity?.username).toBe("olivia");
    expect(session.isOperator).toBe(false);
  });

  it("an answer with another state or an id token with another nonce is refused", async () => {
    const first = new Session(CONFIG, DISCOVERY);
    const { completed } = await loginAs(first, ["ops"]);
    await completed;
    const forged = new Session(CONFIG, DISCOVERY);
    await forged.beginLogin();
    location.search = "?code=stolen&state=not-ours";
    await expect(forged.completeLogin()).rejects.toThrow(/state mismatch/);
    expect(forged.identity).toBeUndefined();

    const replayed = new Session(CONFIG, DISCOVERY);
    const { completed: wrongNonce } = await loginAs(replayed, ["ops"], "someone-elses-nonce");
    await expect(wrongNonce).rejects.toBeInstanceOf(LoginError);
    expect(replayed.identity).toBeUndefined();
  });

  it("Keycloak's error answer is shown, not redeemed", async () => {
    const session = new Session(CONFIG, DISCOVERY);
    await session.beginLogin();
    location.search = "?error=access_denied&error_description=user+cancelled";
    await expect(session.completeLogin()).rejects.toThrow(/user cancelled/);
    expect(tokenCalls).toHaveLength(0);
  });

  it("renews the access token with the refresh token before it expires", async () => {
    vi.useFakeTimers();
    const session = new Session(CONFIG, DISCOVERY);
    const { completed } = await loginAs(session, ["ops"]);
    await completed;
    const firstToken = await session.accessToken();
    answer = () => ({
      status: 200,
      body: {
        access_token: jwt({ sub: "0b5e", realm_access: { roles: ["ops"] } }),
        refresh_token: "r2",
        expires_in: 300,
      },
    });
    await vi.advanceTimersByTimeAsync(239_000);
    expect(tokenCalls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(tokenCalls).toHaveLength(2);
    expect(tokenCalls[1]?.form.get("grant_type")).toBe("refresh_token");
    expect(tokenCalls[1]?.form.get("refresh_token")).toBe("refresh-1");
    expect(await session.accessToken()).not.toBe(firstToken);
  });

  it("a refused refresh ends the session and tells the page", async () => {
    vi.useFakeTimers();
    const session = new Session(CONFIG, DISCOVERY);
    const { completed } = await loginAs(session, ["ops"]);
    await completed;
    const changes = vi.fn();
    session.subscribe(changes);
    answer = () => ({
      status: 400,
      body: { error: "invalid_grant", error_description: "Session not active" },
    });
    await vi.advanceTimersByTimeAsync(241_000);
    expect(session.identity).toBeUndefined();
    expect(changes).toHaveBeenCalled();
    await expect(session.accessToken()).rejects.toBeInstanceOf(LoginError);
  });

  it("logs out through the end-session endpoint with the id token", async () => {
    const session = new Session(CONFIG, DISCOVERY);
    const { completed } = await loginAs(session, ["ops"]);
    await completed;
    session.logout();
    const out = new URL(assigned.at(-1) ?? "");
    expect(out.origin + out.pathname).toBe(DISCOVERY.end_session_endpoint);
    expect(out.searchParams.get("post_logout_redirect_uri")).toBe(`${ORIGIN}/`);
    expect(out.searchParams.get("id_token_hint")).toMatch(/^e30\./);
    expect(session.identity).toBeUndefined();
  });
});
