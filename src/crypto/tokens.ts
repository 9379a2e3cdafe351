/**
 * Small, dependency-free primitives for opaque tokens.
 *
 * - randomToken:         CSPRNG bytes, base64url (RFC 4648 §5) without padding.
 * - sha256Hex:           SHA-256 (FIPS 180-4), lower-case hex.
 * - hmacSha256:          HMAC-SHA-256 (RFC 2104).
 * - timingSafeEqualStr:  constant-time string comparison that does not leak the length.
 *
 * Opaque secrets (session tokens, integration tokens, backup codes) are stored as sha256Hex of the
 * token (SPEC §2, §6, §8); they are high-entropy, so a plain hash is the right primitive (no salt,
 * no KDF).
 */
import { createHmac, hash, randomBytes, timingSafeEqual } from "node:crypto";

/** Largest random token this helper hands out; more is never needed and guards against typos. */
const MAX_TOKEN_BYTES = 1024;

/**
 * Returns `bytes` bytes from the CSPRNG encoded as base64url without padding (RFC 4648 §5).
 * 32 bytes (256 bits) by default, which gives a 43-character token.
 */
export function randomToken(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_TOKEN_BYTES) {
    throw new RangeError(`randomToken: bytes must be an integer between 1 and ${MAX_TOKEN_BYTES}`);
  }
  return randomBytes(bytes).toString("base64url");
}

/** SHA-256 (FIPS 180-4) of a UTF-8 string or raw bytes, as lower-case hex. */
export function sha256Hex(input: string | Uint8Array): string {
  // One-shot crypto.hash (Node ≥ 20.12): no Hash object per call — this runs on every request.
  return hash("sha256", input, "hex");
}

/** HMAC-SHA-256 (RFC 2104) of `data` under `key`; strings are taken as UTF-8. */
export function hmacSha256(key: string | Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/**
 * Compares two strings in constant time.
 *
 * Both sides are hashed first so that the comparison always runs over 32 bytes: neither the
 * content nor the length of the expected value leaks through timing.
 */
export function timingSafeEqualStr(a: string, b: string): boolean {
  const digestA = hash("sha256", a, "buffer");
  const digestB = hash("sha256", b, "buffer");
  return timingSafeEqual(digestA, digestB);
}
