import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, REDACTION_BOUNDS, redactForLog, redactString } from "#lib/observability/logger.ts";

// A real token shape (header.payload.signature, base64url) without being a token of anyone's.
const JWT =
  "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Im9yZGVycyJ9.c2lnbmF0dXJlLW5vdC1yZWFs";

/** A logger writing to memory, and the lines it wrote, parsed. */
function capture() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const logger = createLogger("redaction-test", "info", sink);
  return {
    logger,
    lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    raw: () => lines.join("\n"),
  };
}

describe("redactString: by pattern, wherever it appears", () => {
  it.each([
    [`Bearer ${JWT}`, "Bearer [redacted]"],
    [`authorization: bearer abc.def-ghi`, "authorization: bearer [redacted]"],
    ["Basic YWxpY2U6YWxpY2U=", "Basic [redacted]"],
    [`token was ${JWT} here`, "token was [jwt] here"],
    ["mail ada.lovelace+shop@example.co.uk now", "mail [email] now"],
    ["amqp://accord:hunter2@127.0.0.1:5672/vhost", "amqp://accord:[redacted]@127.0.0.1:5672/vhost"],
    [
      "grant_type=client_credentials&client_secret=dev-secret-orders&scope=x",
      "grant_type=client_credentials&client_secret=[redacted]&scope=x",
    ],
    ["GET /cb?code=1&access_token=abc123", "GET /cb?code=1&access_token=[redacted]"],
  ])("%s", (input, expected) => {
    expect(redactString(input)).toBe(expected);
  });

  it("leaves ordinary text, ids and trace ids as they are", () => {
    const text =
      "order 4f7c2a8e-1b2c-4d5e-8f90-a1b2c3d4e5f6 trace 0af7651916cd43dd8448eb211c80319c confirmed";
    expect(redactString(text)).toBe(text);
  });

  it("cuts a very long string", () => {
    const out = redactString("x".repeat(REDACTION_BOUNDS.chars + 10));
    expect(out.length).toBeLessThan(REDACTION_BOUNDS.chars + 40);
    expect(out).toContain("10 more chars");
  });
});

describe("redactForLog: by key and by pattern at any depth", () => {
  it("masks secrets by key name, address fields by key, emails and tokens inside values, deep down", () => {
    const input = {
      order: {
        customerEmail: "alice@example.com",
        shippingAddress: { recipientName: "Alice", line1: "Teststrasse 1", city: "Berlin" },
        lines: [{ sku: "BOOK-001", note: `ask bob@example.org, he has ${JWT}` }],
      },
      request: { headers: { Authorization: `Bearer ${JWT}`, "x-api-key": "k-123", cookie: "sid=1" } },
      config: {
        KAFKA_PASSWORD: "dev-kafka-orders",
        AUTH_CLIENT_SECRET: "dev-secret-orders",
        webhookSigningSecret: "s",
      },
      a: { b: { c: { d: { e: { password: "pw", text: "to carol@example.net" } } } } },
    };
    const out = redactForLog(input) as typeof input;
    expect(out.order.customerEmail).toBe("[email]");
    expect(out.order.shippingAddress).toBe("[redacted]");
    expect(out.order.lines[0]?.note).toBe("ask [email], he has [jwt]");
    expect(out.order.lines[0]?.sku).toBe("BOOK-001");
    expect(out.request.headers).toEqual({
      Authorization: "[redacted]",
      "x-api-key": "[redacted]",
      cookie: "[redacted]",
    });
    expect(out.config).toEqual({
      KAFKA_PASSWORD: "[redacted]",
      AUTH_CLIENT_SECRET: "[redacted]",
      webhookSigningSecret: "[redacted]",
    });
    expect(out.a.b.c.d.e).toEqual({ password: "[redacted]", text: "to [email]" });
    // The caller's object is not changed.
    expect(input.order.customerEmail).toBe("alice@example.com");
  });

  it("address fields one by one, but a socket error's address (an IP) stays", () => {
    expect(redactForLog({ postalCode: "10115", street: "Main St 1", countryCode: "DE" })).toEqual({
      postalCode: "[redacted]",
      street: "[redacted]",
      countryCode: "DE",
    });
    expect(redactForLog({ code: "ECONNREFUSED", address: "127.0.0.1", port: 5432 })).toEqual({
      code: "ECONNREFUSED",
      address: "127.0.0.1",
      port: 5432,
    });
    expect(redactForLog({ address: "Teststrasse 1, 10115 Berlin" })).toEqual({ address: "[redacted]" });
  });

  it("errors are serialized with their cause chain and masked inside", () => {
    const cause = new Error(`token endpoint said no for ${JWT}`);
    const error = new Error("login failed for alice@example.com", { cause });
    const out = redactForLog({ err: error }) as {
      err: { message: string; stack: string; cause: { message: string } };
    };
    // pino's error serializer appends the causes' messages.
    expect(out.err.message).toBe("login failed for [email]: token endpoint said no for [jwt]");
    expect(out.err.stack).not.toContain("alice@example.com");
    expect(out.err.stack).toContain("caused by: Error: token endpoint said no for [jwt]");
    expect(out.err.stack).not.toContain(JWT);
  });

  it("is bounded: past the depth the rest is cut, never logged as it is; cycles end", () => {
    let deep: Record<string, unknown> = { leak: "mallory@example.com" };
    for (let i = 0; i < REDACTION_BOUNDS.depth + 5; i++) deep = { next: deep };
    const text = JSON.stringify(redactForLog(deep));
    expect(text).toContain("[too deep]");
    expect(text).not.toContain("mallory");

    const cyclic: Record<string, unknown> = { name: "x" };
    cyclic.self = cyclic;
    expect(redactForLog(cyclic)).toEqual({ name: "x", self: "[circular]" });

    const long = Array.from({ length: REDACTION_BOUNDS.items + 5 }, (_, i) => i);
    const cut = redactForLog(long) as unknown[];
    expect(cut).toHaveLength(REDACTION_BOUNDS.items + 1);
    expect(cut.at(-1)).toBe("[5 more items]");
  });

  it("returns what has nothing to mask as it is (no copy)", () => {
    const clean = { orderId: "o-1", lines: [{ sku: "BOOK-001", quantity: 2 }], total: 1999n };
    expect(redactForLog(clean)).toBe(clean);
  });
});

describe("createLogger writes masked lines", () => {
  it("masks the merged object, the message, an error logged alone and a child's bindings", () => {
    const { logger, lines, raw } = capture();
    logger.info({ user: { email: "alice@example.com", session: { refreshToken: "r-1" } } }, "signed in");
    logger.warn("header was %s", `Bearer ${JWT}`);
    logger.error(new Error(`cannot reach smtp for bob@example.org`));
    logger
      .child({ subscription: { url: "https://u:pw@hooks.example/x", signingSecret: "whsec" } })
      .info("posted");
    const [first, second, third, fourth] = lines();
    expect(first).toMatchObject({
      user: { email: "[email]", session: { refreshToken: "[redacted]" } },
      msg: "signed in",
      service: "redaction-test",
    });
    expect(second?.msg).toBe("header was Bearer [redacted]");
    expect(third).toMatchObject({
      msg: "cannot reach smtp for [email]",
      err: { type: "Error", message: "cannot reach smtp for [email]" },
    });
    expect(fourth).toMatchObject({
      subscription: { url: "https://u:[redacted]@hooks.example/x", signingSecret: "[redacted]" },
    });
    for (const secret of ["alice@example.com", "bob@example.org", JWT, "r-1", "whsec", ":pw@"]) {
      expect(raw()).not.toContain(secret);
    }
  });
});
