import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Webhook signatures. The signed string is "<timestamp>.<body>", so a
 * captured request cannot be replayed later with a new timestamp; the header
 * is "v1=<hex HMAC-SHA256>", versioned so the scheme can change without
 * breaking receivers. Pure functions (the clock is a parameter).
 */

export const SIGNATURE_HEADER = "accord-signature";
export const TIMESTAMP_HEADER = "accord-timestamp";
export const EVENT_ID_HEADER = "accord-event-id";
const VERSION = "v1";

/** The accord-signature header value for a body sent at timestamp (unix seconds). */
export function signPayload(secret: string, timestamp: number, body: string): string {
  return `${VERSION}=${hmacHex(secret, timestamp, body)}`;
}

function hmacHex(secret: string, timestamp: number | string, body: string): string {
  return createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

/**
 * True when header carries a valid v1 signature of body at timestamp and the
 * timestamp is within toleranceSeconds of now. The header may list several
 * signatures separated by commas (secret rotation); one valid one suffices.
 */
export function verifySignature(
  secret: string,
  timestamp: string | number,
  body: string,
  header: string | undefined,
  toleranceSeconds: number,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): boolean {
  if (!header || secret === "") return false;
  const ts = typeof timestamp === "number" ? timestamp : Number(timestamp);
  if (!Number.isSafeInteger(ts) || String(ts) !== String(timestamp).trim()) return false;
  if (Math.abs(nowSeconds - ts) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, ts, body), "hex");
  for (const part of header.split(",")) {
    const [version, value] = part.trim().split("=", 2);
    if (version !== VERSION || !value || !/^[0-9a-f]{64}$/i.test(value)) continue;
    // Constant time: a byte-by-byte compare would leak the signature's prefix.
    if (timingSafeEqual(Buffer.from(value, "hex"), expected)) return true;
  }
  return false;
}
