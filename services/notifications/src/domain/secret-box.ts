import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

/**
 * Webhook signing secrets at rest: AES-256-GCM under a key from the
 * configuration (NOTIFICATIONS_SECRET_KEY, 32 bytes base64). A sealed value
 * is "v1.<key id>.<iv>.<ciphertext>.<tag>" (base64url); the key id (a hash
 * of the key, not the key) makes a wrong key a named error instead of a
 * failed tag check. The subscription id is the additional data, so a sealed
 * secret copied onto another row does not open.
 */

const VERSION = "v1";

export class SecretKeyError extends Error {
  override name = "SecretKeyError";
}

export interface SecretBox {
  readonly keyId: string;
  seal(plaintext: string, subscriptionId: string): string;
  open(sealed: string, subscriptionId: string): string;
}

/** Whether a stored value is sealed (as opposed to a plaintext secret from before encryption). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(`${VERSION}.`);
}

export function parseSecretKey(text: string): Buffer {
  const key = Buffer.from(text.trim(), "base64");
  if (key.length !== 32) {
    throw new SecretKeyError(
      "NOTIFICATIONS_SECRET_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32)",
    );
  }
  return key;
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new SecretKeyError("the secret key must be 32 bytes");
  const keyId = createHash("sha256")
    .update("accord-webhook-secret-key")
    .update(key)
    .digest("base64url")
    .slice(0, 8);
  return {
    keyId,
    seal(plaintext, subscriptionId) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      cipher.setAAD(Buffer.from(subscriptionId));
      const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, keyId, iv, ciphertext, tag]
        .map((p) => (typeof p === "string" ? p : p.toString("base64url")))
        .join(".");
    },
    open(sealed, subscriptionId) {
      const [version, id, iv, ciphertext, tag] = sealed.split(".");
      if (version !== VERSION || !id || !iv || ciphertext === undefined || !tag) {
        throw new SecretKeyError("not a sealed secret");
      }
      if (id !== keyId) throw new SecretKeyError(`sealed under key ${id}, configured key is ${keyId}`);
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
      decipher.setAAD(Buffer.from(subscriptionId));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([
        decipher.update(Buffer.from(ciphertext, "base64url")),
        decipher.final(),
      ]).toString("utf8");
    },
  };
}
