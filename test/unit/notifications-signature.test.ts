import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signPayload, verifySignature } from "#services/notifications/src/domain/signature.ts";

const secret = "whsec_test";
const body = JSON.stringify({ eventId: "e-1", eventType: "accord.orders.v1.OrderConfirmed" });
const ts = 1_767_225_600;

describe("webhook signatures", () => {
  it("signs v1=<hex HMAC-SHA256 of '<timestamp>.<body>'>", () => {
    const expected = createHmac("sha256", secret).update(`${ts}.${body}`).digest("hex");
    expect(signPayload(secret, ts, body)).toBe(`v1=${expected}`);
  });

  it("verifies its own signature within the tolerance", () => {
    const header = signPayload(secret, ts, body);
    expect(verifySignature(secret, String(ts), body, header, 300, ts + 10)).toBe(true);
    expect(verifySignature(secret, ts, body, header, 300, ts - 10)).toBe(true);
  });

  it("fails on a tampered body, timestamp, signature or a wrong secret", () => {
    const header = signPayload(secret, ts, body);
    expect(verifySignature(secret, ts, body.replace("e-1", "e-2"), header, 300, ts)).toBe(false);
    expect(verifySignature(secret, ts + 1, body, header, 300, ts)).toBe(false);
    const flipped = header.slice(0, -1) + (header.endsWith("0") ? "1" : "0");
    expect(verifySignature(secret, ts, body, flipped, 300, ts)).toBe(false);
    expect(verifySignature("whsec_other", ts, body, header, 300, ts)).toBe(false);
  });

  it("fails when the timestamp is older (or newer) than the tolerance", () => {
    const header = signPayload(secret, ts, body);
    expect(verifySignature(secret, ts, body, header, 300, ts + 301)).toBe(false);
    expect(verifySignature(secret, ts, body, header, 300, ts - 301)).toBe(false);
  });

  it("fails on missing or malformed headers and timestamps", () => {
    const header = signPayload(secret, ts, body);
    expect(verifySignature(secret, ts, body, undefined, 300, ts)).toBe(false);
    expect(verifySignature(secret, ts, body, "", 300, ts)).toBe(false);
    expect(verifySignature(secret, ts, body, header.replace("v1=", "v0="), 300, ts)).toBe(false);
    expect(verifySignature(secret, ts, body, header.slice(3), 300, ts)).toBe(false);
    expect(verifySignature(secret, `${ts}.5`, body, header, 300, ts)).toBe(false);
    expect(verifySignature(secret, "abc", body, header, 300, ts)).toBe(false);
  });

  it("accepts any one valid signature of a comma-separated list (secret rotation)", () => {
    const header = `${signPayload("whsec_old", ts, body)}, ${signPayload(secret, ts, body)}`;
    expect(verifySignature(secret, ts, body, header, 300, ts)).toBe(true);
  });
});
