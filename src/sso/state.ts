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
 *   the whole payload is sealed with AES-256-GCM, and the cookie only holds a short binding value
 *   per recent flow, so one browser can have several flows in flight (two tabs, a login and a test).
 *   - keys: HKDF-SHA-256 (RFC 5869) from the state secret: encryption, state MAC, binding MAC;
 *   - token: `s1.<base64url(iv || ciphertext || gcm tag)>.<base64url(HMAC-SHA-256(k_mac, "s1.<blob>"))>`;
 *   - verification: the HMAC (RFC 2104) is checked first, in constant time, before decrypting or
 *     parsing anything (encrypt-then-MAC); HMAC-SHA-256 is the signature seed 003 asks for.
 *
 * Browser binding (login CSRF, RFC 9700 §4.7; OIDC Core §15.5.2 "binding to the user agent"):
 *   every flow start gets a fresh value minted here (`issueBrowserBinding`): 16 random bytes and
 *   a MAC over them under a key derived from the state secret, so a value the server did not issue
 *   (one planted in the browser, or chosen by an attacker) is never bound to nor accepted. The
 *   caller keeps the values of the browser's recent starts in a short-lived HttpOnly cookie
 *   (sso/binding.ts) and passes them to verifyState. The state stores SHA-256(value); a state
 *   captured by another browser fails with `browser_mismatch`.
 *
 * Lifetime: 10 minutes from issue; a token claiming to be issued more than 60 s in the future is
 * refused. Failure reasons go to the audit log only; the user sees `sso_failed` (SPEC §4 step 7).
 *
 * `returnTo` must already be normalised by the shared rule (shared/return-to.ts, SPEC §4 step 2).
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { hmacSha256, randomToken, timingSafeEqualStr } from "../crypto/tokens.js";
import { isNormalReturnTo } from "../shared/return-to.js";

export type StatePurpose = "login" | "test";

/** What the flow is for: a sign-in (with where to land) or a test (with its record's id). */
export type StateFlow =
  | {
      purpose: "login" /** A normalised path from safeReturnTo (shared/return-to.ts). */;
      returnTo?: string;
      testId?: never;
    }
  | { purpose: "test"; testId: string; returnTo?: never };

export type StateInput = StateFlow & {
  connectionId: string;
  /** OIDC `nonce` sent in the authorization request. */
  nonce: string;
  /** PKCE `code_verifier` whose S256 challenge was sent in the authorization request. */
  codeVerifier: string;
  /** This flow's value from issueBrowserBinding, also kept in the browser's binding cookie. */
  browserBinding: string;
};

export type StatePayload = StateFlow & {
  connectionId: string;
  nonce: string;
  codeVerifier: string;
  /** Issue time, ms since the epoch. */
  issuedAt: number;
  /** Random id of this state (unique per flow; usable as a correlation id in the audit log). */
  id: string;
};

export type StateFailureReason = "malformed" | "bad_signature" | "expired" | "future" | "browser_mismatch";

export type StateVerification =
  | {
      ok: true;
      payload: StatePayload /** The binding value the state was bound to. */;
      browserBinding: string;
    }
  | { ok: false; reason: StateFailureReason };

/** A state is valid for 10 minutes (SPEC §4 step 2). */
export const STATE_MAX_AGE_MS = 10 * 60_000;
/** Tolerated clock skew between cluster nodes for tokens that look issued in the future. */
export const STATE_MAX_FUTURE_SKEW_MS = 60_000;

const TOKEN_PREFIX = "s1";
const MIN_SECRET_BYTES = 32;
const MAX_TOKEN_LENGTH = 8192;
const MAX_FIELD_LENGTH = 512;
const BINDING_RANDOM_BYTES = 16;
const BINDING_MAC_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HKDF_SALT = "copilot-sso/state/v1";
const BASE64URL = /^[A-Za-z0-9_-]+$/;

interface StateKeys {
  encKey: Buffer;
  macKey: Buffer;
  /** MAC key of the browser-binding values. */
  bindingKey: Buffer;
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

/**
 * The keys derived from one state secret, derived once (on first use) and kept by the
 * application context (ctx.stateKeys), never in a module-level cache: two apps in one process
 * with different secrets share nothing.
 */
export class StateKeyring {
  #keys: StateKeys | undefined;
  constructor(readonly secret: string | Uint8Array) {}
  get keys(): StateKeys {
    this.#keys ??= deriveKeysOnce(this.secret);
    return this.#keys;
  }
}

/** A state secret, or the keyring of one (what the server passes: derived once per context). */
export type StateSecret = string | Uint8Array | StateKeyring;

/** HKDF-SHA-256 (RFC 5869) of the state secret into independent encryption and MAC keys. */
function deriveKeys(secret: StateSecret): StateKeys {
  return secret instanceof StateKeyring ? secret.keys : deriveKeysOnce(secret);
}

function deriveKeysOnce(secret: string | Uint8Array): StateKeys {
  const ikm = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
  if (ikm.length < MIN_SECRET_BYTES) {
    throw new Error(`SSO state secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  const derive = (info: string) => Buffer.from(hkdfSync("sha256", ikm, HKDF_SALT, info, 32));
  return {
    encKey: derive("state-encryption"),
    macKey: derive("state-mac"),
    bindingKey: derive("browser-binding"),
  };
}

/** SHA-256 of the browser-binding value, base64url: what the state stores instead of the value. */
function bindingHash(browserBinding: string): string {
  return createHash("sha256").update(browserBinding, "utf8").digest("base64url");
}

/**
 * A fresh browser-binding value: base64url(16 random bytes || first 16 bytes of
 * HMAC-SHA-256(k_binding, random)), 43 characters. Only this server can mint one.
 */
export function issueBrowserBinding(secret: StateSecret): string {
  const { bindingKey } = deriveKeys(secret);
  const random = randomBytes(BINDING_RANDOM_BYTES);
  const mac = hmacSha256(bindingKey, random).subarray(0, BINDING_MAC_BYTES);
  return Buffer.concat([random, mac]).toString("base64url");
}

/** True when `value` is a binding value minted by issueBrowserBinding under this secret. */
export function isIssuedBrowserBinding(secret: StateSecret, value: unknown): value is string {
  if (typeof value !== "string" || value.length !== 43 || !BASE64URL.test(value)) return false;
  const { bindingKey } = deriveKeys(secret);
  const bytes = Buffer.from(value, "base64url");
  if (bytes.length !== BINDING_RANDOM_BYTES + BINDING_MAC_BYTES) return false;
  const random = bytes.subarray(0, BINDING_RANDOM_BYTES);
  const expected = hmacSha256(bindingKey, random).subarray(0, BINDING_MAC_BYTES).toString("base64url");
  return timingSafeEqualStr(expected, bytes.subarray(BINDING_RANDOM_BYTES).toString("base64url"));
}

/** True for a non-empty string of at most `max` characters. */
function isShortString(value: unknown, max = MAX_FIELD_LENGTH): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= max;
}

/** Checks the caller's input; these are programming errors, so they throw. */
function assertValidInput(secret: StateSecret, input: StateInput): void {
  if (!isShortString(input.connectionId)) throw new TypeError("state: connectionId is required");
  if (input.purpose !== "login" && input.purpose !== "test") throw new TypeError("state: bad purpose");
  if (input.purpose === "test" && !isShortString(input.testId)) {
    throw new TypeError("state: testId is required for a test");
  }
  if (input.purpose === "login" && input.testId !== undefined) {
    throw new TypeError("state: testId is only for tests");
  }
  if (input.returnTo !== undefined && !isNormalReturnTo(input.returnTo)) {
    throw new TypeError("state: returnTo is not a normalised same-origin path");
  }
  if (!isShortString(input.nonce)) throw new TypeError("state: nonce is required");
  if (!isShortString(input.codeVerifier)) throw new TypeError("state: codeVerifier is required");
  if (!isIssuedBrowserBinding(secret, input.browserBinding)) {
    throw new TypeError("state: browserBinding must be a value from issueBrowserBinding");
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
  if (w.r !== undefined && !isNormalReturnTo(w.r)) return undefined;
  const common = { connectionId: w.c, nonce: w.n, codeVerifier: w.v, issuedAt: w.t, id: w.j };
  const payload: StatePayload =
    w.p === "test"
      ? { ...common, purpose: "test", testId: w.x as string }
      : { ...common, purpose: "login", ...(typeof w.r === "string" ? { returnTo: w.r } : {}) };
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
export function createState(secret: StateSecret, input: StateInput, now: number = Date.now()): string {
  const keys = deriveKeys(secret);
  assertValidInput(secret, input);
  const signedText = `${TOKEN_PREFIX}.${seal(keys.encKey, toWire(input, now)).toString("base64url")}`;
  return `${signedText}.${sign(keys.macKey, signedText)}`;
}

/**
 * Verifies a state token (SPEC §4 step 2): shape, HMAC in constant time, age (≤ 10 min, ≤ 60 s
 * in the future), then the browser binding: one of the browser's binding values (the cookie keeps
 * those of its recent flow starts) must be the state's and issued by this server. Never throws for
 * a bad token; throws only on a short secret (configuration error).
 */
export function verifyState(
  secret: StateSecret,
  token: string,
  binding: { browserBinding: string | readonly string[] | undefined },
  now: number = Date.now(),
): StateVerification {
  const opened = openToken(secret, token, now);
  if (!opened.ok) return opened;
  const { payload, binding: boundHash } = opened;
  const candidates =
    typeof binding.browserBinding === "string" ? [binding.browserBinding] : binding.browserBinding;
  const matched = candidates?.find(
    (value) => isIssuedBrowserBinding(secret, value) && timingSafeEqualStr(bindingHash(value), boundHash),
  );
  if (matched === undefined) return fail("browser_mismatch");
  return { ok: true, payload, browserBinding: matched };
}

/**
 * The payload of a state token that is genuine and within its age, WITHOUT the browser binding:
 * for a step where the browser's cookies cannot arrive (SAML's cross-site ACS POST, SPEC §12),
 * which reads what the flow expects and settles nothing; the binding is checked after, on the
 * same-origin request that settles the flow (verifyState).
 */
export function peekState(
  secret: StateSecret,
  token: string,
  now: number = Date.now(),
): { ok: true; payload: StatePayload } | { ok: false; reason: StateFailureReason } {
  const opened = openToken(secret, token, now);
  return opened.ok ? { ok: true, payload: opened.payload } : opened;
}

function openToken(
  secret: StateSecret,
  token: string,
  now: number,
): { ok: true; payload: StatePayload; binding: string } | { ok: false; reason: StateFailureReason } {
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
  return { ok: true, payload, binding: decoded.binding };
}

function fail(reason: StateFailureReason): { ok: false; reason: StateFailureReason } {
  return { ok: false, reason };
}
