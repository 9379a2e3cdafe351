/**
 * Stateless OAuth 2.0 `state` token for the SSO flow (SPEC §4 step 2, "seed 003").
 *
 * Nothing about a flow is stored server-side, so any node can finish a flow another node started.
 * The token carries everything the callback needs:
 *
 *   connection id, purpose (`login` | `test`), test id, returnTo, issue time (ms), a random id,
 *   the OIDC `nonce` (OIDC Core §3.1.2.1), the PKCE `code_verifier` (RFC 7636 §4.1) and a hash of
 *   the browser-binding value.
 *
 * Design choice — everything is encrypted, then MACed:
 *   The nonce and code verifier must not be readable from the URL (the state travels through the
 *   IdP, browser history and proxy logs; a readable verifier would defeat PKCE, RFC 7636 §1). They
 *   could live in the binding cookie instead, but then one cookie per flow would be needed. Instead
 *   the whole payload is sealed with AES-256-GCM, and the cookie only holds one random id per
 *   browser, so one browser can have several flows in flight (two tabs, a login and a test).
 *   - keys: HKDF-SHA-256 (RFC 5869) from the state secret, one for encryption, one for the MAC;
 *   - token: `s1.<base64url(iv || ciphertext || gcm tag)>.<base64url(HMAC-SHA-256(k_mac, "s1.<blob>"))>`;
 *   - verification: the HMAC (RFC 2104) is checked first, in constant time, before decrypting or
 *     parsing anything (encrypt-then-MAC); HMAC-SHA-256 is the signature seed 003 asks for.
 *
 * Browser binding (login CSRF, RFC 9700 §4.7; OIDC Core §15.5.2 "binding to the user agent"):
 *   the caller keeps one random value per browser in a short-lived HttpOnly cookie (reusing it when
 *   present) and passes it to createState/verifyState. The state stores SHA-256(value); a state
 *   captured by another browser fails with `browser_mismatch`.
 *
 * Lifetime: 10 minutes from issue; a token claiming to be issued more than 60 s in the future is
 * refused. Failure reasons go to the audit log only; the user sees `sso_failed` (SPEC §4 step 7).
 *
 * `isSafeReturnTo` implements "returnTo accepts same-site relative paths only" (SPEC §4 step 2;
 * open-redirect guidance of RFC 9700 §4.11).
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { hmacSha256, randomToken, timingSafeEqualStr } from "../crypto/tokens.js";

export type StatePurpose = "login" | "test";

export interface StateInput {
  connectionId: string;
  purpose: StatePurpose;
  /** Required when `purpose` is `test`, absent otherwise. */
  testId?: string;
  /** A path accepted by isSafeReturnTo. */
  returnTo?: string;
  /** OIDC `nonce` sent in the authorization request. */
  nonce: string;
  /** PKCE `code_verifier` whose S256 challenge was sent in the authorization request. */
  codeVerifier: string;
  /** The per-browser random value also set in the binding cookie. */
  browserBinding: string;
}

export interface StatePayload {
  connectionId: string;
  purpose: StatePurpose;
  testId?: string;
  returnTo?: string;
  nonce: string;
  codeVerifier: string;
  /** Issue time, ms since the epoch. */
  issuedAt: number;
  /** Random id of this state (unique per flow; usable as a correlation id in the audit log). */
  id: string;
}

export type StateFailureReason = "malformed" | "bad_signature" | "expired" | "future" | "browser_mismatch";

export type StateVerification =
  | { ok: true; payload: StatePayload }
  | { ok: false; reason: StateFailureReason };

/** A state is valid for 10 minutes (SPEC §4 step 2). */
export const STATE_MAX_AGE_MS = 10 * 60_000;
/** Tolerated clock skew between cluster nodes for tokens that look issued in the future. */
export const STATE_MAX_FUTURE_SKEW_MS = 60_000;
/** Longest returnTo accepted. */
export const RETURN_TO_MAX_LENGTH = 2048;

const TOKEN_PREFIX = "s1";
const MIN_SECRET_BYTES = 32;
const MAX_TOKEN_LENGTH = 8192;
const MAX_FIELD_LENGTH = 512;
const MIN_BINDING_LENGTH = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HKDF_SALT = "copilot-sso/state/v1";
const BASE64URL = /^[A-Za-z0-9_-]+$/;

interface StateKeys {
  encKey: Buffer;
  macKey: Buffer;
}

/** Wire form of the payload (short keys keep the URL short). */
interface WirePayload {
  c: string;
  p: StatePurpose;
  x?: string;
  r?: string;
  n: string;
  v: string;
  t: number;
  j: string;
  b: string;
}

const derivedKeys = new Map<string, StateKeys>();

/**
 * HKDF-SHA-256 (RFC 5869) of the state secret into independent encryption and MAC keys, derived
 * once per secret string (the configured secret is a string; derivation is a fixed function of it).
 */
function deriveKeys(secret: string | Uint8Array): StateKeys {
  if (typeof secret !== "string") return deriveKeysOnce(secret);
  let keys = derivedKeys.get(secret);
  if (!keys) {
    keys = deriveKeysOnce(secret);
    if (derivedKeys.size >= 16) derivedKeys.clear();
    derivedKeys.set(secret, keys);
  }
  return keys;
}

function deriveKeysOnce(secret: string | Uint8Array): StateKeys {
  const ikm = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
  if (ikm.length < MIN_SECRET_BYTES) {
    throw new Error(`SSO state secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  const derive = (info: string) => Buffer.from(hkdfSync("sha256", ikm, HKDF_SALT, info, 32));
  return { encKey: derive("state-encryption"), macKey: derive("state-mac") };
}

/** SHA-256 of the browser-binding value, base64url: what the state stores instead of the value. */
function bindingHash(browserBinding: string): string {
  return createHash("sha256").update(browserBinding, "utf8").digest("base64url");
}

/** True for a non-empty string of at most `max` characters. */
function isShortString(value: unknown, max = MAX_FIELD_LENGTH): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= max;
}

/** Checks the caller's input; these are programming errors, so they throw. */
function assertValidInput(input: StateInput): void {
  if (!isShortString(input.connectionId)) throw new TypeError("state: connectionId is required");
  if (input.purpose !== "login" && input.purpose !== "test") throw new TypeError("state: bad purpose");
  if (input.purpose === "test" && !isShortString(input.testId)) {
    throw new TypeError("state: testId is required for a test");
  }
  if (input.purpose === "login" && input.testId !== undefined) {
    throw new TypeError("state: testId is only for tests");
  }
  if (input.returnTo !== undefined && !isSafeReturnTo(input.returnTo)) {
    throw new TypeError("state: returnTo is not a same-site relative path");
  }
  if (!isShortString(input.nonce)) throw new TypeError("state: nonce is required");
  if (!isShortString(input.codeVerifier)) throw new TypeError("state: codeVerifier is required");
  if (!isShortString(input.browserBinding) || input.browserBinding.length < MIN_BINDING_LENGTH) {
    throw new TypeError(
      `state: browserBinding must be a random value of at least ${MIN_BINDING_LENGTH} characters`,
    );
  }
}

/** Maps the caller's input to the wire payload. */
function toWire(input: StateInput, now: number): WirePayload {
  const wire: WirePayload = {
    c: input.connectionId,
    p: input.purpose,
    n: input.nonce,
    v: input.codeVerifier,
    t: now,
    j: randomToken(16),
    b: bindingHash(input.browserBinding),
  };
  if (input.testId !== undefined) wire.x = input.testId;
  if (input.returnTo !== undefined) wire.r = input.returnTo;
  return wire;
}

/** Validates a decrypted wire payload; returns undefined for anything unexpected. */
function fromWire(value: unknown): { payload: StatePayload; binding: string } | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const w = value as Record<string, unknown>;
  if (!isShortString(w.c) || !isShortString(w.n) || !isShortString(w.v) || !isShortString(w.j))
    return undefined;
  if (!isShortString(w.b) || typeof w.t !== "number" || !Number.isSafeInteger(w.t)) return undefined;
  if (w.p !== "login" && w.p !== "test") return undefined;
  if (w.p === "test" ? !isShortString(w.x) : w.x !== undefined) return undefined;
  if (w.r !== undefined && (typeof w.r !== "string" || !isSafeReturnTo(w.r))) return undefined;
  const payload: StatePayload = {
    connectionId: w.c,
    purpose: w.p,
    nonce: w.n,
    codeVerifier: w.v,
    issuedAt: w.t,
    id: w.j,
  };
  if (typeof w.x === "string") payload.testId = w.x;
  if (typeof w.r === "string") payload.returnTo = w.r;
  return { payload, binding: w.b };
}

/** AES-256-GCM (NIST SP 800-38D) of the JSON payload: iv || ciphertext || tag. */
function seal(encKey: Buffer, wire: WirePayload): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", encKey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(TOKEN_PREFIX, "ascii"));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(wire), "utf8"), cipher.final()]);
  return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]);
}

/** Opens a sealed payload; undefined when it does not decrypt or is not JSON. */
function unseal(encKey: Buffer, blob: Buffer): unknown {
  if (blob.length < IV_BYTES + TAG_BYTES + 2) return undefined;
  const iv = blob.subarray(0, IV_BYTES);
  const tag = blob.subarray(blob.length - TAG_BYTES);
  const ciphertext = blob.subarray(IV_BYTES, blob.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv("aes-256-gcm", encKey, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(TOKEN_PREFIX, "ascii"));
    decipher.setAuthTag(tag);
    const json = Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}

/** HMAC-SHA-256 (RFC 2104) over the exact signed text "s1.<blob>", base64url. */
function sign(macKey: Buffer, signedText: string): string {
  return hmacSha256(macKey, signedText).toString("base64url");
}

/**
 * Issues a state token (SPEC §4 step 2). `now` is the issue time in ms (injectable for tests).
 * Throws on a short secret or invalid input — both are programming or configuration errors.
 */
export function createState(
  secret: string | Uint8Array,
  input: StateInput,
  now: number = Date.now(),
): string {
  const keys = deriveKeys(secret);
  assertValidInput(input);
  const signedText = `${TOKEN_PREFIX}.${seal(keys.encKey, toWire(input, now)).toString("base64url")}`;
  return `${signedText}.${sign(keys.macKey, signedText)}`;
}

/**
 * Verifies a state token (SPEC §4 step 2): shape, HMAC in constant time, age (≤ 10 min, ≤ 60 s
 * in the future), then the browser binding. Never throws for a bad token; throws only on a short
 * secret (configuration error).
 */
export function verifyState(
  secret: string | Uint8Array,
  token: string,
  binding: { browserBinding: string | undefined },
  now: number = Date.now(),
): StateVerification {
  const keys = deriveKeys(secret);
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) return fail("malformed");
  const parts = token.split(".");
  const [prefix, blobText, macText] = parts;
  if (parts.length !== 3 || prefix !== TOKEN_PREFIX || !blobText || !macText) return fail("malformed");
  if (!BASE64URL.test(blobText) || !BASE64URL.test(macText)) return fail("malformed");

  if (!timingSafeEqualStr(sign(keys.macKey, `${prefix}.${blobText}`), macText)) return fail("bad_signature");

  const decoded = fromWire(unseal(keys.encKey, Buffer.from(blobText, "base64url")));
  if (!decoded) return fail("malformed");

  const { payload } = decoded;
  if (payload.issuedAt - now > STATE_MAX_FUTURE_SKEW_MS) return fail("future");
  if (now - payload.issuedAt > STATE_MAX_AGE_MS) return fail("expired");

  const cookie = binding.browserBinding;
  if (
    typeof cookie !== "string" ||
    cookie === "" ||
    !timingSafeEqualStr(bindingHash(cookie), decoded.binding)
  ) {
    return fail("browser_mismatch");
  }
  return { ok: true, payload };
}

function fail(reason: StateFailureReason): StateVerification {
  return { ok: false, reason };
}

/**
 * Same-site relative path check for `returnTo` (SPEC §4 step 2; RFC 9700 §4.11 open redirectors).
 *
 * Accepts `/path?query#hash` only: a single leading `/` (not `//`), no backslash, no control
 * character or whitespace, at most 2048 characters, and resolving it against a dummy origin
 * (WHATWG URL) leaves the origin unchanged. Percent-decoding — repeated, and lenient like some
 * servers and proxies — must not reveal `//`, a backslash or a control character either, so
 * `/%2F%2Fevil.com`, `/%5Cevil.com` and `/%252F%252Fevil.com` are refused.
 */
export function isSafeReturnTo(path: string): boolean {
  if (typeof path !== "string" || path.length === 0 || path.length > RETURN_TO_MAX_LENGTH) return false;
  if (!path.startsWith("/") || hasCharIn(path, isRawForbidden)) return false;
  let current = path;
  for (let round = 0; round < 5; round++) {
    if (current.startsWith("//") || current.includes("\\") || hasCharIn(current, isControl)) return false;
    const decoded = percentDecodeBytes(current);
    if (decoded === current) return resolvesSameOrigin(path);
    current = decoded;
  }
  // Still changing after several decodings: nested encoding that nothing legitimate produces.
  return false;
}

/** True when some UTF-16 code unit of `value` satisfies `test`. */
function hasCharIn(value: string, test: (code: number) => boolean): boolean {
  for (let i = 0; i < value.length; i++) {
    if (test(value.charCodeAt(i))) return true;
  }
  return false;
}

/** C0 controls and DEL (RFC 3986 excludes them; browsers strip or reinterpret them). */
function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f;
}

/** Not allowed unencoded in a returnTo: controls, space, C1 controls, Unicode line separators. */
function isRawForbidden(code: number): boolean {
  return code <= 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
}

/**
 * Lenient percent-decoding (RFC 3986 §2.1): each valid `%XX` becomes the character with that
 * code, invalid sequences stay as they are. Multi-byte UTF-8 is not reassembled: it cannot hide an
 * ASCII `/`, `\` or control character, which is all the caller looks for.
 */
function percentDecodeBytes(value: string): string {
  return value.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

/** Resolving against a dummy origin must leave the origin unchanged (WHATWG URL parsing). */
function resolvesSameOrigin(path: string): boolean {
  const base = "http://x";
  try {
    return new URL(path, base).origin === base;
  } catch {
    return false;
  }
}
