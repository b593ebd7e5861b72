import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { MoneySchema } from "#gen/accord/common/v1/common_pb.js";
import { describeError, formatMoney } from "#services/console/web/src/format.ts";
import { codeChallenge, jwtPayload, randomToken } from "#services/console/web/src/pkce.ts";
import { href, parseRoute } from "#services/console/web/src/route.ts";

// The console web app's pure pieces, in Node: the PKCE challenge checked
// against Node's own SHA-256 (another implementation than WebCrypto's path
// through the page), the hash routes, money and error texts.

describe("PKCE", () => {
  it("the S256 challenge is BASE64URL(SHA256(verifier)) without padding", async () => {
    for (const verifier of [
      "dBjftJeZ4CVP-mJ92ZGeGv3_IYc4eH9o1y0qtT6P8E0",
      randomToken(48),
      randomToken(32),
    ]) {
      const expected = createHash("sha256").update(verifier).digest("base64url");
      expect(await codeChallenge(verifier)).toBe(expected);
    }
  });

  it("verifiers are URL-safe, long enough for RFC 7636 (43-128 characters) and never repeat", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const token = randomToken(48);
      expect(token).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
      seen.add(token);
    }
    expect(seen.size).toBe(200);
  });

  it("reads a JWT's payload and refuses what is not one", () => {
    const payload = { sub: "0b5e", realm_access: { roles: ["ops"] }, name: "Olivia Ä" };
    const token = `e30.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.sig`;
    expect(jwtPayload(token)).toEqual(payload);
    expect(() => jwtPayload("not-a-token")).toThrow();
    expect(() => jwtPayload(`e30.${Buffer.from('"text"').toString("base64url")}.x`)).toThrow();
  });
});

describe("hash routes", () => {
  it("parses every page and round-trips through href", () => {
    const id = "01a23222-53de-712e-96dd-7ebec24f0da0";
    for (const route of [
      { page: "orders" },
      { page: "order", orderId: id },
      { page: "dead-letters" },
      { page: "dead-letters", queue: "webhook" },
      { page: "health" },
      { page: "contracts" },
    ] as const) {
      expect(parseRoute(href(route))).toEqual(route);
    }
  });

  it("anything unknown or malformed is the orders page, never a crash", () => {
    expect(parseRoute("")).toEqual({ page: "orders" });
    expect(parseRoute("#/nowhere")).toEqual({ page: "orders" });
    expect(parseRoute("#/orders/%E0%A4%A")).toEqual({ page: "order", orderId: "%E0%A4%A" });
  });
});

describe("texts", () => {
  it("money in the currency's own decimals", () => {
    expect(formatMoney(create(MoneySchema, { currencyCode: "EUR", amountMinor: 1250n }))).toBe("€12.50");
    expect(formatMoney(create(MoneySchema, { currencyCode: "JPY", amountMinor: 1250n }))).toBe("¥1,250");
    expect(formatMoney(create(MoneySchema, { currencyCode: "EUR", amountMinor: 5n }))).toBe("€0.05");
    expect(formatMoney(undefined)).toBe("–");
  });

  it("a failed call reads as its code and the service's message", () => {
    expect(describeError(new ConnectError("order_id: must be a UUID", Code.InvalidArgument))).toBe(
      "invalid argument: order_id: must be a UUID",
    );
    expect(describeError(new ConnectError("", Code.PermissionDenied))).toBe("permission denied");
  });
});
