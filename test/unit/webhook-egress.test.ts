import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { request } from "undici";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { addressAllowed, classifyAddress } from "#services/notifications/src/egress/address-policy.ts";
import { failureCategory, httpStatusCategory } from "#services/notifications/src/egress/failure-category.ts";
import {
  createEgressGuard,
  EgressRefusedError,
  guardedDispatcher,
  type Resolver,
} from "#services/notifications/src/egress/guard.ts";

// The egress guard, called directly. No test here may open a socket to
// anything but loopback: every resolver is a function of the test, and
// Socket.prototype.connect is wrapped so a connection to any other address
// throws before it starts (fail closed) and is recorded, which the tests
// assert never happened.

const attempted: string[] = [];
let loopbackConnects = 0;
const originalConnect = net.Socket.prototype.connect;

function hostOf(args: unknown[]): string | undefined {
  const first = args[0];
  if (typeof first === "object" && first !== null && !Array.isArray(first)) {
    const o = first as { host?: string; path?: string };
    return o.path ? "unix" : (o.host ?? "localhost");
  }
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    return typeof args[1] === "string" ? args[1] : "localhost";
  }
  return "unix";
}

beforeAll(() => {
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    const host = hostOf(args) ?? "";
    if (
      host !== "unix" &&
      host !== "localhost" &&
      !(net.isIP(host) && classifyAddress(host) === "loopback")
    ) {
      attempted.push(host);
      throw new Error(`test tried to connect to ${host}`);
    }
    loopbackConnects++;
    return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.Socket.prototype.connect;
});
afterAll(() => {
  net.Socket.prototype.connect = originalConnect;
});
beforeEach(() => {
  attempted.length = 0;
});
afterEach(() => {
  expect(attempted).toEqual([]);
});

const fixed =
  (table: Record<string, string[]>): Resolver =>
  async (hostname) => {
    const addresses = table[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: net.isIP(address) }));
  };

describe("address policy", () => {
  it.each([
    ["10.0.0.1", "private"],
    ["172.16.5.4", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["::1", "loopback"],
    ["169.254.169.254", "metadata"],
    ["169.254.1.1", "link-local"],
    ["fe80::1", "link-local"],
    ["fd00::1", "unique-local"],
    ["fc00::5", "unique-local"],
    ["fd00:ec2::254", "metadata"],
    ["100.64.0.1", "cgnat"],
    ["100.127.255.254", "cgnat"],
    ["224.0.0.1", "multicast"],
    ["ff02::1", "multicast"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["::", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:169.254.169.254", "metadata"],
    ["::127.0.0.1", "loopback"],
    ["64:ff9b::a00:1", "reserved"],
    ["2002:a00:1::", "private"],
    ["2001:db8::1", "reserved"],
    ["192.0.2.1", "reserved"],
    ["240.0.0.1", "reserved"],
    ["93.184.215.14", "public"],
    ["172.32.0.1", "public"],
    ["100.128.0.1", "public"],
    ["2606:4700::1111", "public"],
    ["::ffff:93.184.215.14", "public"],
    ["not-an-ip", "invalid"],
  ])("%s is %s", (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it("allows public addresses, and loopback only with the dev setting", () => {
    expect(addressAllowed("93.184.215.14", false)).toBe(true);
    expect(addressAllowed("127.0.0.1", false)).toBe(false);
    expect(addressAllowed("::1", false)).toBe(false);
    expect(addressAllowed("127.0.0.1", true)).toBe(true);
    expect(addressAllowed("10.0.0.1", true)).toBe(false);
    expect(addressAllowed("169.254.169.254", true)).toBe(false);
  });
});

describe("egress guard: check (subscription and every send)", () => {
  const resolver = fixed({
    "partner.test": ["93.184.215.14"],
    "mixed.test": ["93.184.215.14", "10.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "v6private.test": ["2606:4700::1111", "fd00::1"],
    "loop.test": ["127.0.0.1"],
  });
  const production = createEgressGuard({ allowLoopbackHttp: false, resolve: resolver });
  const dev = createEgressGuard({ allowLoopbackHttp: true, resolve: resolver });

  it.each([
    ["https://10.0.0.1/h", "a private address"],
    ["https://192.168.1.1/h", "a private address"],
    ["https://169.254.169.254/latest/meta-data/", "a cloud metadata address"],
    ["https://100.64.0.1/h", "a carrier-grade NAT address"],
    ["https://[fd00::1]/h", "a unique-local address"],
    ["https://[::ffff:10.0.0.1]/h", "a private address"],
    ["https://127.0.0.1/h", "a loopback address"],
    ["https://[::1]/h", "a loopback address"],
    ["https://2130706433/h", "a loopback address"],
    ["https://0x7f.1/h", "a loopback address"],
    ["https://mixed.test/h", "mixed.test resolves to a private address"],
    ["https://metadata.test/h", "metadata.test resolves to a cloud metadata address"],
    ["https://v6private.test/h", "v6private.test resolves to a unique-local address"],
    ["https://loop.test/h", "loop.test resolves to a loopback address"],
    ["http://partner.test/h", "plain http is not allowed; use https"],
    ["ftp://partner.test/h", "scheme ftp is not allowed"],
  ])("refuses %s in production (%s)", async (url, reason) => {
    const err = await production.check(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressRefusedError);
    expect((err as EgressRefusedError).message).toContain(reason);
  });

  it("allows https to a host whose every address is public", async () => {
    const target = await production.check("https://partner.test/hooks");
    expect(target.addresses).toEqual(["93.184.215.14"]);
  });

  it("with the dev setting: http and https to loopback only; http to a public host is still refused", async () => {
    expect((await dev.check("http://127.0.0.1:9/h")).addresses).toEqual(["127.0.0.1"]);
    expect((await dev.check("http://[::1]:9/h")).addresses).toEqual(["::1"]);
    expect((await dev.check("http://loop.test:9/h")).addresses).toEqual(["127.0.0.1"]);
    const publicHttp = await dev.check("http://partner.test/h").catch((e: unknown) => e);
    expect((publicHttp as Error).message).toContain("plain http is allowed to loopback only");
    for (const url of [
      "https://10.0.0.1/",
      "https://169.254.169.254/",
      "https://[fd00::1]/",
      "http://192.168.1.1/",
    ]) {
      expect(await dev.check(url).catch((e: unknown) => e), url).toBeInstanceOf(EgressRefusedError);
    }
  });

  it("a name that does not resolve is a lookup failure, not a refusal", async () => {
    const err = await production.check("https://nowhere.test/").catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(EgressRefusedError);
    expect(failureCategory(err)).toBe("dns lookup failed");
  });
});

describe("guarded dispatcher: the connection goes to the address checked for it", () => {
  let server: Server;
  let port: number;
  const received: IncomingMessage[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      received.push(req);
      res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("connects to the resolved, checked address and keeps the host name in the request", async () => {
    const lookups: string[] = [];
    const guard = createEgressGuard({
      allowLoopbackHttp: true,
      resolve: async (h) => {
        lookups.push(h);
        return [{ address: "127.0.0.1", family: 4 }];
      },
    });
    const dispatcher = guardedDispatcher(guard, { timeoutMs: 2000 });
    const before = received.length;
    const connectsBefore = loopbackConnects;
    const res = await request(`http://receiver.test:${port}/hook`, {
      method: "POST",
      body: "{}",
      dispatcher,
    });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    expect(received.length).toBe(before + 1);
    expect(received.at(-1)?.headers.host).toBe(`receiver.test:${port}`);
    expect(lookups).toEqual(["receiver.test"]);
    // The wrapper that refuses other addresses saw this connection: it is in undici's path.
    expect(loopbackConnects).toBe(connectsBefore + 1);
    await dispatcher.close();
  });

  it("a name rebound between the check and the connection is refused at connect, before any socket", async () => {
    let calls = 0;
    const guard = createEgressGuard({
      allowLoopbackHttp: true,
      // First answer for the send-time check, then the rebound one for the connection.
      resolve: async () => [{ address: calls++ === 0 ? "127.0.0.1" : "10.0.0.1", family: 4 }],
    });
    const dispatcher = guardedDispatcher(guard, { timeoutMs: 2000 });
    const target = await guard.check(`http://rebind.test:${port}/hook`);
    const before = received.length;
    const err = await request(target.url, { method: "POST", body: "{}", dispatcher }).catch(
      (e: unknown) => e,
    );
    expect(failureCategory(err)).toBe("refused by egress policy");
    expect(received.length).toBe(before);
    expect(calls).toBe(2);
    await dispatcher.close();
  });

  it.each(["10.0.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "fd00::1"])(
    "a dispatcher asked for %s refuses before any socket exists",
    async (address) => {
      const guard = createEgressGuard({
        allowLoopbackHttp: true,
        resolve: fixed({ "inside.test": [address] }),
      });
      const dispatcher = guardedDispatcher(guard, { timeoutMs: 2000 });
      const literal = address.includes(":") ? `[${address}]` : address;
      for (const url of [`https://${literal}/h`, "https://inside.test/h"]) {
        const err = await request(url, { method: "POST", body: "{}", dispatcher }).catch((e: unknown) => e);
        expect(failureCategory(err), url).toBe("refused by egress policy");
      }
      await dispatcher.close();
    },
  );

  it("without the dev setting, even loopback is refused at connect", async () => {
    const guard = createEgressGuard({ allowLoopbackHttp: false, resolve: fixed({}) });
    const dispatcher = guardedDispatcher(guard, { timeoutMs: 2000 });
    const before = received.length;
    const err = await request(`https://127.0.0.1:${port}/`, { dispatcher }).catch((e: unknown) => e);
    expect(failureCategory(err)).toBe("refused by egress policy");
    expect(received.length).toBe(before);
    await dispatcher.close();
  });
});

describe("failure categories", () => {
  it("names the kind of failure, never the socket's text", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:4444"), { code: "ECONNREFUSED" });
    expect(failureCategory(refused)).toBe("connection refused");
    expect(failureCategory(Object.assign(new Error("x"), { name: "TimeoutError" }))).toBe("timeout");
    expect(failureCategory(Object.assign(new Error("x"), { code: "UND_ERR_HEADERS_TIMEOUT" }))).toBe(
      "timeout",
    );
    expect(failureCategory(Object.assign(new Error("x"), { code: "ERR_TLS_CERT_ALTNAME_INVALID" }))).toBe(
      "tls",
    );
    expect(failureCategory(Object.assign(new Error("x"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }))).toBe(
      "tls",
    );
    expect(failureCategory(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toBe("connection reset");
    expect(
      failureCategory(
        Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET", cause: refused }),
      ),
    ).toBe("connection refused");
    expect(failureCategory(new Error("something odd at 10.1.2.3:22"))).toBe("connection failed");
    expect(httpStatusCategory(500)).toBe("http 500");
    expect(httpStatusCategory(302)).toBe("http 302 (redirects are not followed)");
  });
});
