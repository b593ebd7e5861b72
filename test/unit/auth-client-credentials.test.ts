import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, it } from "vitest";
import { clientCredentials } from "#lib/auth/client-credentials.ts";

// The token cache's logic against a token endpoint this test serves on
// loopback; the real realm's endpoint is used by every integration test.
let server: http.Server;
let tokenUrl: string;
const requests: URLSearchParams[] = [];
let lifetimeSec = 300;
let refuse = false;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => {
      const form = new URLSearchParams(body);
      requests.push(form);
      res.writeHead(refuse ? 401 : 200, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          refuse
            ? { error: "invalid_client", error_description: "Invalid client or Invalid client credentials" }
            : { access_token: `token-${requests.length}-${form.get("scope")}`, expires_in: lifetimeSec },
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

it("fetches one token per audience however many calls ask at once, and reuses it", async () => {
  requests.length = 0;
  const tokens = clientCredentials({ tokenUrl, clientId: "orchestrator", clientSecret: "s" });
  const many = await Promise.all(Array.from({ length: 50 }, () => tokens.token("payments")));
  expect(new Set(many).size).toBe(1);
  expect(await tokens.token("payments")).toBe(many[0]);
  expect(requests).toHaveLength(1);
  expect(requests[0]?.get("scope")).toBe("audience-payments");
  expect(requests[0]?.get("grant_type")).toBe("client_credentials");
  await tokens.token("orders");
  expect(requests).toHaveLength(2);
  tokens.forget("payments");
  await tokens.token("payments");
  expect(requests).toHaveLength(3);
});

it("renews a short-lived token halfway through its life instead of using it until it expires", async () => {
  requests.length = 0;
  lifetimeSec = 1;
  const tokens = clientCredentials({
    tokenUrl,
    clientId: "orchestrator",
    clientSecret: "s",
    renewBeforeSec: 30,
  });
  const first = await tokens.token("orders");
  await new Promise((r) => setTimeout(r, 600));
  expect(await tokens.token("orders")).not.toBe(first);
  lifetimeSec = 300;
});

it("says which client was refused, without the secret", async () => {
  refuse = true;
  const tokens = clientCredentials({ tokenUrl, clientId: "orchestrator", clientSecret: "very-secret" });
  const error = await tokens.token("orders").catch((e: unknown) => e);
  refuse = false;
  expect(error).toBeInstanceOf(ConnectError);
  expect((error as ConnectError).code).toBe(Code.Unauthenticated);
  expect((error as ConnectError).message).toContain("invalid_client");
  expect((error as ConnectError).message).not.toContain("very-secret");
});

it("renews in the background: a call past the renewal point gets the cached token at once", async () => {
  requests.length = 0;
  lifetimeSec = 20; // renew halfway (10 s), usable until 15 s
  const tokens = clientCredentials({
    tokenUrl,
    clientId: "orchestrator",
    clientSecret: "s",
    renewBeforeSec: 30,
  });
  const realNow = Date.now;
  const start = realNow();
  try {
    const first = await tokens.token("orders");
    Date.now = () => start + 12_000;
    expect(await tokens.token("orders")).toBe(first);
    await expect.poll(() => requests.length).toBe(2);
    const second = await tokens.token("orders");
    expect(second).not.toBe(first);
  } finally {
    Date.now = realNow;
    lifetimeSec = 300;
  }
});
