/**
 * Secret box: authenticated encryption of short secrets at rest (SPEC §3 "Secrets").
 *
 * Used for IdP client secrets and TOTP secrets. Algorithm: AES-256-GCM (NIST SP 800-38D) with a
 * random 96-bit IV per message and a 128-bit tag.
 *
 * Key ring (SPEC §3 "Key rotation"): `ENCRYPTION_KEY` holds one or more comma-separated 32-byte
 * keys. The first key encrypts; any key decrypts. Every sealed value names its key by a short
 * fingerprint, so decryption picks the right key without trial decryption, and `needsRotation`
 * tells the `secrets rotate` command which rows to re-encrypt.
 *
 * Sealed format (ASCII, safe in a TEXT column):
 *
 *     v1.<keyId>.<iv>.<ciphertext||tag>
 *
 *   - keyId: first 8 hex characters of SHA-256(key) — a fingerprint, not secret-bearing;
 *   - iv, ciphertext||tag: base64url without padding (RFC 4648 §5).
 *
 * Additional authenticated data (GCM AAD) = "copilot-secret-box\0v1\0<keyId>\0<caller aad>".
 * The caller's AAD (e.g. the connection id) binds the ciphertext to its row: a sealed value
 * copied into another row does not decrypt. The version and key id are bound too.
 *
 * Errors never contain key material, plaintext or the sealed value.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

const VERSION = "v1";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_HEX_CHARS = 8;
const AAD_PREFIX = "copilot-secret-box";

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=?$/;
const BASE64URL_KEY = /^[A-Za-z0-9_-]{43}=?$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const KEY_ID = /^[0-9a-f]{8}$/;

export interface SecretBox {
  /** Seals `plain` under the first (primary) key; `aad` binds the result to a context such as a row id. */
  encrypt(plain: string, aad?: string): string;
  /** Opens a sealed value with whichever configured key sealed it; throws when tampered or mismatched. */
  decrypt(sealed: string, aad?: string): string;
  /** True when `sealed` was not produced by the primary key (or uses an older format). */
  needsRotation(sealed: string): boolean;
}

interface SealedParts {
  version: string;
  keyId: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/**
 * Parses `ENCRYPTION_KEY` (SPEC §3, §10): comma-separated keys, each 32 bytes written as 64 hex
 * characters or as 43/44 base64 / base64url characters. Throws an Error that names
 * `ENCRYPTION_KEY` and the 1-based position of the faulty entry, never its value.
 */
export function parseEncryptionKeys(value: string): Buffer[] {
  if (typeof value !== "string" || value.trim() === "") {
    throw new Error("ENCRYPTION_KEY is empty: expected one or more comma-separated 32-byte keys");
  }
  const entries = value.split(",").map((entry) => entry.trim());
  const keys = entries.map((entry, index) => decodeKeyEntry(entry, index + 1, entries.length));
  assertDistinctKeyIds(keys, "ENCRYPTION_KEY");
  return keys;
}

/** Decodes one `ENCRYPTION_KEY` entry; `position` is 1-based and used only in error messages. */
function decodeKeyEntry(entry: string, position: number, total: number): Buffer {
  const where = `ENCRYPTION_KEY entry ${position} of ${total}`;
  if (entry === "") {
    throw new Error(`${where} is empty`);
  }
  let key: Buffer | undefined;
  if (HEX_KEY.test(entry)) {
    key = Buffer.from(entry, "hex");
  } else if (isBase64Key(entry)) {
    // Node's base64 decoder reads both alphabets; the regexes above refuse a mix of the two.
    key = Buffer.from(entry, "base64");
  }
  if (key?.length !== KEY_BYTES) {
    throw new Error(
      `${where} is not a 32-byte key: expected 64 hex characters or 43/44 base64 / base64url characters`,
    );
  }
  return key;
}

/** True when `entry` is a 43/44-character base64 or base64url string (one alphabet, not mixed). */
function isBase64Key(entry: string): boolean {
  return BASE64_KEY.test(entry) || BASE64URL_KEY.test(entry);
}

/** Fingerprint that names a key inside sealed values: first 8 hex characters of SHA-256(key). */
function keyIdOf(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, KEY_ID_HEX_CHARS);
}

/** Refuses a key ring in which two keys share a fingerprint (a duplicated key, or a collision). */
function assertDistinctKeyIds(keys: Buffer[], label: string): void {
  const seen = new Map<string, number>();
  keys.forEach((key, index) => {
    const id = keyIdOf(key);
    const previous = seen.get(id);
    if (previous !== undefined) {
      throw new Error(`${label} entries ${previous + 1} and ${index + 1} are the same key`);
    }
    seen.set(id, index);
  });
}

/** GCM additional authenticated data: binds format version, key id and the caller's context. */
function aadFor(keyId: string, aad: string | undefined): Buffer {
  return Buffer.from(`${AAD_PREFIX}\0${VERSION}\0${keyId}\0${aad ?? ""}`, "utf8");
}

/** Splits a sealed value into its parts; throws on anything that is not the v1 shape. */
function parseSealed(sealed: string): SealedParts {
  if (typeof sealed !== "string") {
    throw new Error("sealed secret is malformed");
  }
  const parts = sealed.split(".");
  const [version, keyId, ivText, bodyText] = parts;
  if (parts.length !== 4 || version === undefined || keyId === undefined) {
    throw new Error("sealed secret is malformed");
  }
  if (version !== VERSION) {
    throw new Error("sealed secret uses an unsupported format version");
  }
  if (!KEY_ID.test(keyId) || !ivText || !bodyText || !BASE64URL.test(ivText) || !BASE64URL.test(bodyText)) {
    throw new Error("sealed secret is malformed");
  }
  const iv = Buffer.from(ivText, "base64url");
  const body = Buffer.from(bodyText, "base64url");
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) {
    throw new Error("sealed secret is malformed");
  }
  return {
    version,
    keyId,
    iv,
    ciphertext: body.subarray(0, body.length - TAG_BYTES),
    tag: body.subarray(body.length - TAG_BYTES),
  };
}

/**
 * Builds a secret box over a key ring (NIST SP 800-38D AES-256-GCM). `keys[0]` encrypts; every key
 * decrypts. Keys are copied, so later mutation of the caller's buffers has no effect.
 */
export function createSecretBox(keys: Buffer[]): SecretBox {
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error("secret box needs at least one key");
  }
  keys.forEach((key, index) => {
    if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
      throw new Error(`secret box key ${index + 1} is not 32 bytes`);
    }
  });
  assertDistinctKeyIds(keys, "secret box key ring");

  const ring = new Map<string, Buffer>(keys.map((key) => [keyIdOf(key), Buffer.from(key)]));
  const primaryId = keyIdOf(keys[0]!);
  const primaryKey = ring.get(primaryId)!;

  function encrypt(plain: string, aad?: string): string {
    if (typeof plain !== "string") {
      throw new TypeError("secret box encrypts strings only");
    }
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", primaryKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aadFor(primaryId, aad));
    const ciphertext = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    const body = Buffer.concat([ciphertext, cipher.getAuthTag()]);
    return [VERSION, primaryId, iv.toString("base64url"), body.toString("base64url")].join(".");
  }

  function decrypt(sealed: string, aad?: string): string {
    const parts = parseSealed(sealed);
    const key = ring.get(parts.keyId);
    if (!key) {
      throw new Error("sealed secret was encrypted with a key that is not in ENCRYPTION_KEY");
    }
    const decipher = createDecipheriv("aes-256-gcm", key, parts.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aadFor(parts.keyId, aad));
    decipher.setAuthTag(parts.tag);
    try {
      return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]).toString("utf8");
    } catch {
      throw new Error("sealed secret failed authentication (tampered, or bound to another context)");
    }
  }

  function needsRotation(sealed: string): boolean {
    const parts = parseSealed(sealed);
    return parts.version !== VERSION || parts.keyId !== primaryId;
  }

  return { encrypt, decrypt, needsRotation };
}
