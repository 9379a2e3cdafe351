/**
 * Verification of a compact JWS (RFC 7515 §5.2) with node:crypto, synchronously: the ID tokens of
 * OIDC (SPEC §4 step 3) and Cloudflare Access assertions (SPEC §5).
 *
 * jose 6 verifies through WebCrypto, one asynchronous job per signature (about 200 µs of CPU per
 * sign-in); `crypto.verify` on a cached KeyObject does the same check in about 40 µs
 * (bench/jws-cpu.ts, bench/README.md item 16). One function per step:
 *
 *   splitCompact        exactly three base64url parts (strict alphabet, no padding, canonical)
 *   parseHeader         the protected header decodes to a JSON object with a string `alg`;
 *                       refuses `crit` (RFC 7515 §4.1.11: we understand no extension), `b64`
 *                       (RFC 7797), and key-carrying members `jku`/`jwk`/`x5u`/`x5c`/`x5t`
 *                       (RFC 7515 §4.1.2–4.1.6: a key named by the token itself proves nothing;
 *                       the key only ever comes from the caller's resolver)
 *   checkAlgorithm      `alg` in the caller's pinned list, and one we implement (never `none`,
 *                       never HMAC: a public key would be the HMAC secret)
 *   checkKey            the resolved key fits the alg: RSA ≥ 2048 bits for RS and PS, the curve of
 *                       the alg for ES (P-256/P-384/P-521), Ed25519/Ed448 for EdDSA
 *   verifySignature     `crypto.verify`: PKCS#1 v1.5, RSA-PSS (salt = digest length, MGF1 with the
 *                       same hash, RFC 7518 §3.5), ECDSA as R‖S of the exact length (RFC 7518
 *                       §3.4, `dsaEncoding: "ieee-p1363"`), EdDSA (RFC 8037 §3.1)
 *   parsePayload        the payload is UTF-8 JSON and an object
 *
 * Every refusal is a JwsError with a machine-readable `code`; callers map codes to their causes.
 * Messages never contain the token or a claim's value.
 */
import { constants, type KeyObject, verify } from "node:crypto";

export type JwsErrorCode =
  /** Not three base64url parts, or a part is not canonical base64url. */
  | "format"
  /** The protected header is not a JSON object. */
  | "header"
  /** The header has no string `alg`. */
  | "alg_missing"
  /** The header has `crit`: an extension we would have to understand (RFC 7515 §4.1.11). */
  | "crit"
  /** The header has `b64` (RFC 7797 unencoded payload). */
  | "b64"
  /** The header names or embeds a key (`jku`, `jwk`, `x5u`, `x5c`, `x5t`, `x5t#S256`). */
  | "embedded_key"
  /** The `alg` is not one of the caller's pinned algorithms (or not one we implement). */
  | "alg_not_allowed"
  /** The resolved key's type or curve does not fit the `alg`. */
  | "key_mismatch"
  /** An RSA key shorter than 2048 bits. */
  | "weak_key"
  /** The signature does not verify (or has the wrong length or encoding). */
  | "signature"
  /** The payload is not a UTF-8 JSON object. */
  | "payload";

export class JwsError extends Error {
  override readonly name = "JwsError";
  constructor(
    readonly code: JwsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A JWS protected header after parseHeader: a JSON object with a string `alg`. */
export interface JwsHeader {
  alg: string;
  kid?: unknown;
  typ?: unknown;
  [member: string]: unknown;
}

/** The three parts of a compact JWS, as received (RFC 7515 §7.1). */
export interface CompactParts {
  header: string;
  payload: string;
  signature: string;
}

/** Every signature algorithm we verify (RFC 7518 §3.1, RFC 8037 §3.1); never `none`, never HS*. */
export const SUPPORTED_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;
export type JwsAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

/** RFC 7518 §3.1: the JWK `kty` an algorithm's key has. */
export function keyTypeOf(alg: string): "RSA" | "EC" | "OKP" | undefined {
  if (/^(?:RS|PS)(?:256|384|512)$/.test(alg)) return "RSA";
  if (/^ES(?:256|384|512)$/.test(alg)) return "EC";
  if (alg === "EdDSA") return "OKP";
  return undefined;
}

/** RFC 7518 §3.4: the JWK `crv` of an ECDSA algorithm; EdDSA's are Ed25519 and Ed448 (RFC 8037). */
export const CURVES: Readonly<Record<string, readonly string[]>> = {
  ES256: ["P-256"],
  ES384: ["P-384"],
  ES512: ["P-521"],
  EdDSA: ["Ed25519", "Ed448"],
};

/** Minimum RSA modulus (RFC 7518 §3.3 and §3.5: 2048 bits or larger MUST be used). */
export const MIN_RSA_BITS = 2048;

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** Refuses invalid UTF-8 (RFC 7515 §5.2 steps 3 and 7: the header and the JWT payload are UTF-8). */
const UTF8 = new TextDecoder("utf-8", { fatal: true });
const KEY_MEMBERS = ["jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256"];

/** ECDSA: the OpenSSL curve name and the R‖S length in bytes (RFC 7518 §3.4). */
const ECDSA: Record<string, { curve: string; bytes: number; hash: string }> = {
  ES256: { curve: "prime256v1", bytes: 64, hash: "sha256" },
  ES384: { curve: "secp384r1", bytes: 96, hash: "sha384" },
  ES512: { curve: "secp521r1", bytes: 132, hash: "sha512" },
};

/** Strict base64url (RFC 7515 §2, RFC 4648 §5 without padding): refuses any other character and non-canonical forms. */
export function decodeBase64url(part: string, what: string): Buffer {
  if (!BASE64URL.test(part) || part.length % 4 === 1) {
    throw new JwsError("format", `the ${what} is not base64url`);
  }
  const bytes = Buffer.from(part, "base64url");
  // Trailing bits that are not zero would decode to the same bytes: refuse the other spellings.
  if (bytes.toString("base64url") !== part)
    throw new JwsError("format", `the ${what} is not canonical base64url`);
  return bytes;
}

/** RFC 7515 §7.1: exactly three parts separated by dots. */
export function splitCompact(token: string): CompactParts {
  const parts = token.split(".");
  if (parts.length !== 3) throw new JwsError("format", `a compact JWS has 3 parts, this one ${parts.length}`);
  // An empty signature (alg none's) is refused by the alg check, before any key is looked at.
  const [header, payload, signature] = parts as [string, string, string];
  return { header, payload, signature };
}

function parseJsonObject(bytes: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(UTF8.decode(bytes));
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** RFC 7515 §5.2 steps 2–5: the protected header as a JSON object, with the members we refuse refused. */
export function parseHeader(encoded: string): JwsHeader {
  const header = parseJsonObject(decodeBase64url(encoded, "JWS header"));
  if (!header) throw new JwsError("header", "the JWS header is not a JSON object");
  if (typeof header.alg !== "string") throw new JwsError("alg_missing", "the JWS header has no alg");
  if ("crit" in header) throw new JwsError("crit", "the JWS header has crit (no extension is understood)");
  if ("b64" in header)
    throw new JwsError("b64", "the JWS header has b64 (unencoded payloads are not accepted)");
  const embedded = KEY_MEMBERS.find((member) => member in header);
  if (embedded) throw new JwsError("embedded_key", `the JWS header carries a key source (${embedded})`);
  return header as JwsHeader;
}

/** The `alg` must be pinned by the caller and one we implement. */
export function checkAlgorithm(header: JwsHeader, algorithms: readonly string[]): JwsAlgorithm {
  const alg = header.alg;
  if (!algorithms.includes(alg) || !(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new JwsError(
      "alg_not_allowed",
      `algorithm ${alg.slice(0, 20)} is not allowed (allowed: ${algorithms.join(", ")})`,
    );
  }
  return alg as JwsAlgorithm;
}

/** The key fits the algorithm: its type, its curve, and for RSA at least 2048 bits. */
export function checkKey(alg: JwsAlgorithm, key: KeyObject): void {
  if (key.type !== "public") throw new JwsError("key_mismatch", "the key is not a public key");
  const type = key.asymmetricKeyType;
  const kty = keyTypeOf(alg);
  if (kty === "RSA") {
    if (type !== "rsa")
      throw new JwsError("key_mismatch", `${alg} needs an RSA key, not ${type ?? "unknown"}`);
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS)
      throw new JwsError("weak_key", `the RSA key has ${bits} bits, fewer than ${MIN_RSA_BITS}`);
    return;
  }
  if (kty === "EC") {
    const curve = type === "ec" ? key.asymmetricKeyDetails?.namedCurve : undefined;
    if (curve !== ECDSA[alg]?.curve) {
      throw new JwsError(
        "key_mismatch",
        `${alg} needs an EC key on ${CURVES[alg]?.[0]}, not ${curve ?? type ?? "unknown"}`,
      );
    }
    return;
  }
  if (type !== "ed25519" && type !== "ed448") {
    throw new JwsError("key_mismatch", `EdDSA needs an Ed25519 or Ed448 key, not ${type ?? "unknown"}`);
  }
}

/** RFC 7515 §5.2 step 8: the signature over `header.payload` (ASCII), with node:crypto. */
export function verifySignature(
  alg: JwsAlgorithm,
  key: KeyObject,
  signingInput: string,
  signature: Buffer,
): void {
  const data = Buffer.from(signingInput, "latin1");
  let valid: boolean;
  try {
    valid = verifyWith(alg, key, data, signature);
  } catch {
    valid = false; // OpenSSL refusing a malformed signature is a signature that does not verify
  }
  if (!valid) throw new JwsError("signature", "the JWS signature does not verify");
}

function verifyWith(alg: JwsAlgorithm, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  const bits = alg.slice(2);
  switch (alg) {
    case "RS256":
    case "RS384":
    case "RS512":
      return verify(`sha${bits}`, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    case "PS256":
    case "PS384":
    case "PS512":
      // RFC 7518 §3.5: MGF1 with the same hash (OpenSSL's default for PSS), salt as long as the digest.
      return verify(
        `sha${bits}`,
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 },
        signature,
      );
    case "ES256":
    case "ES384":
    case "ES512": {
      const { bytes, hash } = ECDSA[alg]!;
      if (signature.length !== bytes) return false; // R‖S of the exact length, never DER
      return verify(hash, data, { key, dsaEncoding: "ieee-p1363" }, signature);
    }
    case "EdDSA":
      return verify(null, data, key, signature);
  }
}

/** RFC 7515 §5.2 step 7 and RFC 7519 §7.2 step 10: the payload is a UTF-8 JSON object. */
export function parsePayload(encoded: string): Record<string, unknown> {
  const payload = parseJsonObject(decodeBase64url(encoded, "JWS payload"));
  if (!payload) throw new JwsError("payload", "the JWS payload is not a JSON object");
  return payload;
}

/** A token after the checks that need no key: its parts, its header and its pinned alg. */
export interface DecodedJws {
  parts: CompactParts;
  header: JwsHeader;
  alg: JwsAlgorithm;
}

/** The checks before a key is chosen: format, header, algorithm. */
export function decodeJws(token: string, algorithms: readonly string[]): DecodedJws {
  const parts = splitCompact(token);
  const header = parseHeader(parts.header);
  const alg = checkAlgorithm(header, algorithms);
  return { parts, header, alg };
}

/** The checks with the key chosen by the caller: key fit, signature, payload. Synchronous. */
export function verifyDecoded(decoded: DecodedJws, key: KeyObject): Record<string, unknown> {
  const { parts, alg } = decoded;
  checkKey(alg, key);
  // The signature is decoded (and its base64url checked) before it is used, after the payload's alphabet.
  if (!BASE64URL.test(parts.payload)) throw new JwsError("format", "the JWS payload is not base64url");
  verifySignature(
    alg,
    key,
    `${parts.header}.${parts.payload}`,
    decodeBase64url(parts.signature, "JWS signature"),
  );
  return parsePayload(parts.payload);
}

/** Picks the key for a header (the JWKS cache: by kid and a kty/crv that fits the alg). */
export type JwsKeyResolver = (header: JwsHeader, alg: JwsAlgorithm) => KeyObject | Promise<KeyObject>;

/**
 * RFC 7515 §5.2 in full: decode, pin the alg, resolve the key, verify, parse the payload.
 * Throws JwsError for the token's faults; errors of the resolver propagate unchanged.
 */
export async function verifyCompact(
  token: string,
  algorithms: readonly string[],
  resolveKey: JwsKeyResolver,
): Promise<{ header: JwsHeader; payload: Record<string, unknown> }> {
  const decoded = decodeJws(token, algorithms);
  const key = await resolveKey(decoded.header, decoded.alg);
  return { header: decoded.header, payload: verifyDecoded(decoded, key) };
}
