import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code } from "@connectrpc/connect";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { allows, missingRules } from "#lib/auth/authorization.ts";
import { inScope, ownerScope, type Principal } from "#lib/auth/principal.ts";
import { createTokenVerifier, principalFrom, TokenRejected } from "#lib/auth/verifier.ts";

// The verifier's logic against keys this test makes and serves on loopback;
// the real realm's tokens are exercised by the integration tests and the attack suite.
const ISSUER = "http://127.0.0.1:1/realms/unit";
type Key = { privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"]; jwk: JWK };

let server: http.Server;
let jwksUrl: string;
let published: JWK[] = [];
let fetches = 0;

async function newKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

function token(
  key: Key,
  { iss = ISSUER, aud = "orders", ...claims }: Record<string, unknown> & { iss?: string; aud?: string },
  options: { expiresIn?: string | number } = {},
) {
  return new SignJWT({ typ: "Bearer", realm_access: { roles: ["customer"] }, ...claims })
    .setProtectedHeader({ alg: "RS256", kid: key.jwk.kid as string })
    .setIssuer(iss)
    .setAudience(aud)
    .setSubject("a11ce000-0000-4000-8000-000000000001")
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "5m")
    .sign(key.privateKey);
}

beforeAll(async () => {
  server = http.createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const verifierFor = () =>
  createTokenVerifier({
    issuer: ISSUER,
    audience: "orders",
    jwksUrl,
    clockToleranceSec: 5,
    jwksCooldownMs: 0,
  });

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "accepted";
  } catch (error) {
    expect(error).toBeInstanceOf(TokenRejected);
    expect((error as TokenRejected).code).toBe(Code.Unauthenticated);
    return (error as TokenRejected).reason;
  }
}

describe("token verifier", () => {
  it("accepts a token of the realm and names the caller", async () => {
    const key = await newKey("k1");
    published = [key.jwk];
    const principal = await verifierFor().verify(`Bearer ${await token(key, {})}`);
    expect(principal).toEqual({
      kind: "user",
      subject: "a11ce000-0000-4000-8000-000000000001",
      roles: new Set(["customer"]),
    });
  });

  it("refuses expired, foreign, misaddressed and unsigned tokens, each for its reason", async () => {
    const key = await newKey("k2");
    const stranger = await newKey("k2"); // same kid, another key: the signature cannot match
    published = [key.jwk];
    const verifier = verifierFor();
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${Buffer.from(
      JSON.stringify({ iss: ISSUER, aud: "orders", sub: "x", exp: Math.floor(Date.now() / 1000) + 60 }),
    ).toString("base64url")}.`;
    expect(await reasonOf(verifier.verify(`Bearer ${await token(key, {}, { expiresIn: "-10s" })}`))).toBe(
      "expired",
    );
    expect(await reasonOf(verifier.verify(`Bearer ${await token(stranger, {})}`))).toBe("bad-signature");
    expect(
      await reasonOf(verifier.verify(`Bearer ${await token(key, { iss: "http://127.0.0.1:2/x" })}`)),
    ).toBe("wrong-issuer");
    expect(await reasonOf(verifier.verify(`Bearer ${await token(key, { aud: "payments" })}`))).toBe(
      "wrong-audience",
    );
    expect(await reasonOf(verifier.verify(`Bearer ${unsigned}`))).toBe("malformed");
    expect(await reasonOf(verifier.verify(`Bearer ${await token(key, { typ: "Refresh" })}`))).toBe(
      "bad-claims",
    );
  });

  it("tolerates a few seconds of clock skew, not more", async () => {
    const key = await newKey("k3");
    published = [key.jwk];
    const verifier = verifierFor();
    expect(await reasonOf(verifier.verify(`Bearer ${await token(key, {}, { expiresIn: "-3s" })}`))).toBe(
      "accepted",
    );
    expect(await reasonOf(verifier.verify(`Bearer ${await token(key, {}, { expiresIn: "-8s" })}`))).toBe(
      "expired",
    );
  });

  it("refuses missing, oversized and garbage headers before parsing any JWT", async () => {
    const verifier = verifierFor();
    expect(await reasonOf(verifier.verify(undefined))).toBe("missing");
    expect(await reasonOf(verifier.verify(""))).toBe("missing");
    expect(await reasonOf(verifier.verify(`Bearer ${"a".repeat(100_000)}`))).toBe("malformed");
    expect(await reasonOf(verifier.verify("Basic YWxpY2U6YWxpY2U="))).toBe("malformed");
    expect(await reasonOf(verifier.verify("Bearer a.b"))).toBe("malformed");
    expect(await reasonOf(verifier.verify("Bearer \u0000.\u0001.\u0002"))).toBe("malformed");
  });

  it("fetches the key set again when a token names a key id it does not know (rotation)", async () => {
    const old = await newKey("old");
    published = [old.jwk];
    const verifier = verifierFor();
    await verifier.verify(`Bearer ${await token(old, {})}`);
    const rotated = await newKey("new");
    published = [old.jwk, rotated.jwk];
    const before = fetches;
    expect(await reasonOf(verifier.verify(`Bearer ${await token(rotated, {})}`))).toBe("accepted");
    expect(fetches).toBe(before + 1);
  });

  it("checks a repeated token once, then answers from its cache until the token expires", async () => {
    const key = await newKey("k4");
    published = [key.jwk];
    const verifier = verifierFor();
    const header = `Bearer ${await token(key, {})}`;
    const first = await verifier.verify(header);
    expect(await verifier.verify(header)).toBe(first);
  });
});

describe("principal from claims", () => {
  const base = { iss: ISSUER, sub: "s", exp: 1 };
  it("a service is a service account of a known Accord client", () => {
    expect(principalFrom({ ...base, azp: "orchestrator", realm_access: { roles: ["service"] } })).toEqual({
      kind: "service",
      subject: "s",
      service: "orchestrator",
    });
    // The service role on an unknown client is not a service identity.
    expect(
      principalFrom({ ...base, azp: "accord-cli", realm_access: { roles: ["service"] } }),
    ).toBeUndefined();
  });
  it("keeps only the realm's known roles of a person", () => {
    const p = principalFrom({ ...base, realm_access: { roles: ["customer", "offline_access", "admin"] } });
    expect(p).toEqual({ kind: "user", subject: "s", roles: new Set(["customer"]) });
  });
});

describe("authorization rules", () => {
  const alice: Principal = { kind: "user", subject: "alice", roles: new Set(["customer"]) };
  const olivia: Principal = { kind: "user", subject: "olivia", roles: new Set(["ops"]) };
  const orchestrator: Principal = { kind: "service", subject: "o", service: "orchestrator" };
  it("lets in only the callers a rule names", () => {
    expect(allows({ allow: ["service:orchestrator"] }, orchestrator)).toBe(true);
    expect(allows({ allow: ["service:orchestrator"] }, alice)).toBe(false);
    expect(allows({ allow: ["customer", "ops"] }, olivia)).toBe(true);
    expect(allows({ allow: ["ops"] }, { kind: "anonymous" })).toBe(false);
    expect(allows({ allow: ["anyone"] }, { kind: "anonymous" })).toBe(true);
  });
  it("scopes customers to their own resources and ops to all", () => {
    const own = ownerScope(alice, ["customer"]);
    expect(inScope(own, "alice")).toBe(true);
    expect(inScope(own, "bob")).toBe(false);
    expect(inScope(ownerScope(olivia, ["customer"]), "bob")).toBe(true);
    expect(() => ownerScope({ kind: "anonymous" }, ["customer"])).toThrow(/authentication required/);
  });
  it("names the methods a table misses", () => {
    expect(missingRules(OrderService, { placeOrder: { allow: ["customer"] } })).toContain("GetOrder");
  });
});
