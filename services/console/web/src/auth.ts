// Login with the realm's public browser client: authorization code with
// PKCE (S256), written on WebCrypto. Tokens live in this module's memory
// only (never localStorage): a reload logs in again through Keycloak's own
// session, which answers at once without asking for the password. Only the
// one-time PKCE verifier, state and nonce wait in sessionStorage across the
// redirect to Keycloak and back, and are removed as soon as they are read.

import { codeChallenge, jwtPayload, randomToken } from "./pkce.ts";

/** /console-config.json, served by services/console. */
export interface ConsoleConfig {
  issuer: string;
  clientId: string;
  requiredRole: string;
  zipkinUrl: string;
}

/** The parts of the realm's .well-known/openid-configuration the console uses. */
export interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint: string;
}

/** Who is logged in, from the access token (for the page only: every service checks the token itself). */
export interface Identity {
  subject: string;
  username: string;
  roles: readonly string[];
}

interface Tokens {
  accessToken: string;
  refreshToken: string;
  idToken: string;
  /** Epoch ms when the access token expires. */
  expiresAt: number;
}

interface PendingLogin {
  state: string;
  verifier: string;
  nonce: string;
  /** The page's hash route when login began, to come back to it. */
  returnTo: string;
}

const PENDING_KEY = "accord-console.pending-login";

function identityOf(accessToken: string): Identity {
  const claims = jwtPayload(accessToken);
  const access = claims.realm_access as { roles?: unknown } | undefined;
  const roles = Array.isArray(access?.roles)
    ? access.roles.filter((r): r is string => typeof r === "string")
    : [];
  return {
    subject: String(claims.sub ?? ""),
    username: String(claims.preferred_username ?? claims.sub ?? ""),
    roles,
  };
}

function redirectUri(): string {
  return `${window.location.origin}/`;
}

export class LoginError extends Error {}

/**
 * The console's session: logs in, keeps the tokens in memory, renews the
 * access token with the refresh token before it expires, and logs out
 * through the realm's end-session endpoint.
 */
export class Session {
  private tokens: Tokens | undefined;
  private who: Identity | undefined;
  private refreshing: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<() => void>();

  readonly config: ConsoleConfig;
  private readonly discovery: Discovery;

  constructor(config: ConsoleConfig, discovery: Discovery) {
    this.config = config;
    this.discovery = discovery;
  }

  static async open(): Promise<Session> {
    const configResponse = await fetch("/console-config.json", { cache: "no-store" });
    if (!configResponse.ok) throw new LoginError(`console-config.json answered ${configResponse.status}`);
    const config = (await configResponse.json()) as ConsoleConfig;
    const wellKnown = `${config.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    const discoveryResponse = await fetch(wellKnown).catch(() => {
      throw new LoginError(`the identity provider does not answer at ${wellKnown}`);
    });
    if (!discoveryResponse.ok) throw new LoginError(`${wellKnown} answered ${discoveryResponse.status}`);
    return new Session(config, (await discoveryResponse.json()) as Discovery);
  }

  /** The same object until the tokens change (React reads it as an external store). */
  get identity(): Identity | undefined {
    return this.who;
  }

  /** Whether the logged-in person holds the role the console requires. */
  get isOperator(): boolean {
    return this.identity?.roles.includes(this.config.requiredRole) ?? false;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** Goes to Keycloak's login page; the browser comes back to this origin with a code. */
  async beginLogin(): Promise<void> {
    const pending: PendingLogin = {
      state: randomToken(),
      verifier: randomToken(48),
      nonce: randomToken(),
      returnTo: window.location.hash,
    };
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
    const url = new URL(this.discovery.authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: this.config.clientId,
      response_type: "code",
      scope: "openid",
      redirect_uri: redirectUri(),
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await codeChallenge(pending.verifier),
      code_challenge_method: "S256",
    }).toString();
    window.location.assign(url.toString());
  }

  /**
   * Finishes a login when the page was opened by Keycloak's redirect
   * (?code=&state= or ?error=); returns false when it was not. The query is
   * removed from the address bar either way, so a reload does not replay it.
   */
  async completeLogin(): Promise<boolean> {
    const params = new URLSearchParams(window.location.search);
    if (!params.has("code") && !params.has("error")) return false;
    const raw = sessionStorage.getItem(PENDING_KEY);
    sessionStorage.removeItem(PENDING_KEY);
    const pending = raw ? (JSON.parse(raw) as PendingLogin) : undefined;
    window.history.replaceState(null, "", `/${pending?.returnTo ?? ""}`);
    if (params.has("error")) {
      throw new LoginError(`login refused: ${params.get("error_description") ?? params.get("error")}`);
    }
    if (!pending || params.get("state") !== pending.state) {
      throw new LoginError("the login answer does not belong to this page (state mismatch); log in again");
    }
    const tokens = await this.tokenRequest({
      grant_type: "authorization_code",
      code: params.get("code") ?? "",
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
    });
    if (jwtPayload(tokens.idToken).nonce !== pending.nonce) {
      throw new LoginError("the identity token was not issued for this login (nonce mismatch)");
    }
    this.use(tokens);
    return true;
  }

  /** A valid access token, renewed first when it is about to expire. */
  async accessToken(): Promise<string> {
    if (!this.tokens) throw new LoginError("not logged in");
    if (this.tokens.expiresAt - Date.now() < 10_000) await this.refresh();
    return this.tokens.accessToken;
  }

  /** Renews the tokens with the refresh token (once at a time); a failure ends the session. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const current = this.tokens;
      if (!current) return;
      try {
        const next = await this.tokenRequest({
          grant_type: "refresh_token",
          refresh_token: current.refreshToken,
        });
        this.use({ ...next, idToken: next.idToken || current.idToken });
      } catch (error) {
        this.clear();
        throw error;
      }
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Forgets the tokens and ends the realm session through its end-session endpoint. */
  logout(): void {
    const idToken = this.tokens?.idToken;
    this.clear();
    const url = new URL(this.discovery.end_session_endpoint);
    const params = new URLSearchParams({
      client_id: this.config.clientId,
      post_logout_redirect_uri: redirectUri(),
    });
    if (idToken) params.set("id_token_hint", idToken);
    url.search = params.toString();
    window.location.assign(url.toString());
  }

  private use(tokens: Tokens): void {
    this.tokens = tokens;
    this.who = identityOf(tokens.accessToken);
    clearTimeout(this.timer);
    // Renew at about 80 % of the access token's life (Keycloak's dev realm: 300 s).
    const delay = Math.max(5_000, (tokens.expiresAt - Date.now()) * 0.8);
    this.timer = setTimeout(() => {
      this.refresh().catch(() => undefined);
    }, delay);
    this.changed();
  }

  private clear(): void {
    clearTimeout(this.timer);
    this.tokens = undefined;
    this.who = undefined;
    this.changed();
  }

  private async tokenRequest(form: Record<string, string>): Promise<Tokens> {
    const response = await fetch(this.discovery.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: this.config.clientId, ...form }),
    });
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok || typeof body.access_token !== "string") {
      throw new LoginError(
        `the token endpoint refused: ${String(body.error_description ?? body.error ?? response.status)}`,
      );
    }
    return {
      accessToken: body.access_token,
      refreshToken: typeof body.refresh_token === "string" ? body.refresh_token : "",
      idToken: typeof body.id_token === "string" ? body.id_token : "",
      expiresAt: Date.now() + Number(body.expires_in ?? 60) * 1000,
    };
  }
}
