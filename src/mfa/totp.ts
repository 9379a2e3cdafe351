/**
 * TOTP (RFC 6238 over RFC 4226 HOTP), by hand with node:crypto: HMAC-SHA-1, 6 digits, 30-second
 * steps from the Unix epoch, ±1 step of clock drift (SPEC §6). The clock is always passed in
 * (the caller gives `ctx.now()`), and matching returns the time STEP a code belongs to, so the
 * caller can remember it and refuse any code of that step or earlier (no replay).
 *
 * Secrets are 20 random bytes (160 bits, RFC 4226 §4), shown to people and authenticator apps in
 * RFC 4648 base32 without padding.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Steps of drift accepted on either side of the current one. */
export const TOTP_WINDOW = 1;
export const TOTP_ISSUER = "CoPilot";
const SECRET_BYTES = 20;

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=-]/g, "").toUpperCase();
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of clean) {
    const value = BASE32.indexOf(char);
    if (value < 0) throw new Error("not a base32 string");
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 255);
      bits -= 8;
    }
    buffer &= (1 << bits) - 1;
  }
  return Buffer.from(out);
}

/** A new random secret, base32. */
export function generateTotpSecret(): string {
  return base32Encode(randomBytes(SECRET_BYTES));
}

/** RFC 4226 §5.3: the `TOTP_DIGITS`-digit HOTP value of `counter`. */
export function hotp(key: Uint8Array, counter: number): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac("sha1", key).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** TOTP_DIGITS).padStart(TOTP_DIGITS, "0");
}

/** The RFC 6238 time step of an instant. */
export function timeStep(at: Date): number {
  return Math.floor(at.getTime() / 1000 / TOTP_PERIOD_SECONDS);
}

/** Digits only, spaces removed: `"123 456"` → `"123456"`; null when it cannot be a code. */
export function normalizeTotpCode(code: string): string | null {
  const digits = code.replace(/\s+/g, "");
  return new RegExp(`^\\d{${TOTP_DIGITS}}$`).test(digits) ? digits : null;
}

/**
 * The time steps (ascending) within ±TOTP_WINDOW of `at` whose code is `code`. Usually none or
 * one; every candidate is compared (in constant time) so the answer takes as long either way.
 */
export function matchingSteps(secret: string, code: string, at: Date): number[] {
  const digits = normalizeTotpCode(code);
  const key = base32Decode(secret);
  const current = timeStep(at);
  const matches: number[] = [];
  for (let step = current - TOTP_WINDOW; step <= current + TOTP_WINDOW; step++) {
    const expected = Buffer.from(hotp(key, step));
    const given = Buffer.from(digits ?? "x".repeat(TOTP_DIGITS));
    if (timingSafeEqual(expected, given) && digits !== null) matches.push(step);
  }
  return matches;
}

/** The `otpauth://` URI authenticator apps scan (Key Uri Format): issuer CoPilot, account = email. */
export function otpauthUri(secret: string, accountName: string): string {
  const label = `${encodeURIComponent(TOTP_ISSUER)}:${encodeURIComponent(accountName)}`;
  const params = new URLSearchParams({
    secret,
    issuer: TOTP_ISSUER,
    algorithm: "SHA1",
    digits: String(TOTP_DIGITS),
    period: String(TOTP_PERIOD_SECONDS),
  });
  return `otpauth://totp/${label}?${params.toString()}`;
}
