import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { rpcClient } from "#lib/rpc/clients.ts";
import { bearerFor, callerAs } from "#test/support/identity.ts";
import { freePort } from "#test/support/service-process.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The console's front door as a real process: it forwards the allow-listed
// services' Connect calls with the caller's token untouched (the real orders
// process decides), nothing else; it serves the built app from a folder of
// this file's making, and its config document. A listener in this file
// stands in as the catalog upstream to see exactly which headers arrive.
const MAX_BODY = 4096;
const TIMEOUT_MS = 1500;

let orders: ServiceUnderTest<"orders">;
let consoleProcess: ServiceUnderTest<"console">;
let probe: http.Server;
let webDir: string;
const seen: { path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  probe = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString() });
      // GetProduct never answers: the console's deadline must.
      if (req.url?.endsWith("/GetProduct")) return;
      res.writeHead(200, {
        "content-type": "application/json",
        "set-cookie": "upstream=1",
        "x-internal-detail": "secret",
        "trailer-grpc-note": "kept",
      });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;

  webDir = await mkdtemp(path.join(os.tmpdir(), "console-web-"));
  await mkdir(path.join(webDir, "assets"));
  await writeFile(
    path.join(webDir, "index.html"),
    "<!doctype html><title>Accord console</title><div id=root></div>",
  );
  await writeFile(path.join(webDir, "assets", "app-1a2b.js"), "console.log('console');");

  orders = await startServiceUnderTest("orders", { tag: "proxy" });
  consoleProcess = await startServiceUnderTest("console", {
    tag: "proxy",
    env: {
      ORDERS_URL: orders.url,
      CATALOG_URL: probeUrl,
      PAYMENTS_URL: `http://127.0.0.1:${await freePort()}`,
      CONSOLE_WEB_DIR: webDir,
      CONSOLE_PROXY_MAX_BODY_BYTES: String(MAX_BODY),
      CONSOLE_PROXY_TIMEOUT_MS: String(TIMEOUT_MS),
    },
  });
}, 120_000);

afterAll(async () => {
  await consoleProcess?.stop();
  await orders?.stop();
  probe?.closeAllConnections();
  await new Promise((resolve) => probe?.close(resolve));
  if (webDir) await rm(webDir, { recursive: true, force: true });
});

const post = (p: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${consoleProcess.url}${p}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });

describe("console forwarding", () => {
  it("forwards to orders with the caller's token, and orders itself decides", async () => {
    const olivia = rpcClient(OrderService, consoleProcess.url, "connect-json", callerAs("olivia", "orders"));
    const listed = await olivia.listOrders({});
    expect(listed.orders).toEqual([]);
    await expect(olivia.getOrder({ orderId: "0193d3c2-7b1e-7000-8000-000000000000" })).rejects.toMatchObject({
      code: Code.NotFound,
    });
    // The console adds no identity of its own: no token is unauthenticated at orders...
    const anonymous = rpcClient(OrderService, consoleProcess.url);
    await expect(anonymous.listOrders({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    // ...and a customer's token is refused by orders' own table for a saga-only method.
    const alice = rpcClient(OrderService, consoleProcess.url, "connect-json", callerAs("alice", "orders"));
    await expect(
      alice.confirmOrder({
        orderId: "0193d3c2-7b1e-7000-8000-000000000000",
        paymentId: "p",
        shipmentId: "s",
      }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
    // Orders counted the refusals as its own decisions.
    const metrics = await (await fetch(`${orders.url}/metrics`)).text();
    const denials = metrics.split("\n").filter((l) => l.startsWith("rpc_auth_denials_total{"));
    expect(denials.some((l) => l.includes("ConfirmOrder") && l.includes("forbidden"))).toBe(true);
    expect(denials.some((l) => l.includes("ListOrders") && l.includes("missing"))).toBe(true);
  });

  it("passes only the Connect headers, both ways", async () => {
    const authorization = await bearerFor("olivia", "catalog");
    const res = await post("/accord.catalog.v1.CatalogService/ListProducts", "{}", {
      authorization,
      "connect-protocol-version": "1",
      cookie: "session=browser-secret",
      "x-forwarded-for": "203.0.113.9",
      "x-api-key": "do-not-forward",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("{}");
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(res.headers.get("x-internal-detail")).toBeNull();
    expect(res.headers.get("trailer-grpc-note")).toBe("kept");
    const arrived = seen.find((s) => s.path === "/accord.catalog.v1.CatalogService/ListProducts");
    expect(arrived?.headers.authorization).toBe(authorization);
    expect(arrived?.headers["connect-protocol-version"]).toBe("1");
    expect(arrived?.headers.traceparent).toContain("0af7651916cd43dd8448eb211c80319c");
    expect(arrived?.headers.cookie).toBeUndefined();
    expect(arrived?.headers["x-forwarded-for"]).toBeUndefined();
    expect(arrived?.headers["x-api-key"]).toBeUndefined();
    expect(arrived?.body).toBe("{}");
  });

  it("answers 404 outside the allow-list, 405 for GET of an RPC, 413 for a large body, 504 and 503 for upstreams", async () => {
    for (const p of [
      "/accord.evil.v1.EvilService/Do",
      "/accord.orders.v1.OrderService/NoSuchMethod",
      "/accord.orders.v1.OrderService",
      "/index.html",
    ]) {
      const res = await post(p, "{}");
      expect({ p, status: res.status }).toEqual({ p, status: 404 });
    }
    const get = await fetch(`${consoleProcess.url}/accord.orders.v1.OrderService/ListOrders`);
    expect(get.status).toBe(405);

    const before = seen.length;
    const large = await post("/accord.catalog.v1.CatalogService/ListProducts", "x".repeat(MAX_BODY + 1));
    expect(large.status).toBe(413);
    expect(await large.json()).toMatchObject({ code: "resource_exhausted" });
    expect(seen.length).toBe(before);

    const started = Date.now();
    const slow = await post("/accord.catalog.v1.CatalogService/GetProduct", "{}");
    expect(slow.status).toBe(504);
    expect(await slow.json()).toMatchObject({ code: "deadline_exceeded" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);

    const down = await post("/accord.payments.v1.PaymentService/GetPayment", "{}");
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ code: "unavailable", message: "payments is unreachable" });
  });
});

describe("console web app and config", () => {
  it("serves the app with its content types, a strict CSP and index.html for client routes", async () => {
    const index = await fetch(`${consoleProcess.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const csp = index.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(
      `connect-src 'self' ${new URL(process.env.OIDC_ISSUER ?? "http://127.0.0.1:8180").origin}`,
    );
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe");
    expect(index.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await index.text()).toContain("Accord console");

    const route = await fetch(`${consoleProcess.url}/orders/0193d3c2-7b1e-7000-8000-000000000000`);
    expect(route.status).toBe(200);
    expect(await route.text()).toContain("<div id=root>");

    const script = await fetch(`${consoleProcess.url}/assets/app-1a2b.js`);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(script.headers.get("cache-control")).toContain("immutable");
    expect((await fetch(`${consoleProcess.url}/assets/missing.js`)).status).toBe(404);

    // A path that climbs out of the folder finds nothing there.
    for (const p of ["/..%2f..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd.txt"]) {
      const res = await fetch(`${consoleProcess.url}${p}`);
      expect(await res.text()).not.toContain("root:");
    }
  });

  it("serves /console-config.json: issuer, the public client and the services, no addresses of theirs", async () => {
    const res = await fetch(`${consoleProcess.url}/console-config.json`);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const config = (await res.json()) as Record<string, unknown>;
    expect(config).toMatchObject({
      issuer: process.env.OIDC_ISSUER ?? "http://127.0.0.1:8180/realms/accord",
      clientId: "accord-console",
      requiredRole: "ops",
    });
    expect(config.services).toMatchObject({
      OrderService: "accord.orders.v1.OrderService",
      SagaService: "accord.orchestrator.v1.SagaService",
      DeadLetterService: "accord.notifications.v1.DeadLetterService",
      ConsoleService: "accord.console.v1.ConsoleService",
    });
    expect(JSON.stringify(config)).not.toContain(orders.url);
  });
});
