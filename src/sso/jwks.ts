/**
 * JWKS cache for ID token (SPEC §4 step 3) and Cloudflare Access assertion (SPEC §5) verification.
 *
 * One cache per process, keyed by JWKS URL:
 *
 *   - the key set is downloaded through the injected fetch (the SSRF-guarded fetch of SPEC §10)
 *     and parsed as a JWK Set (RFC 7517 §5);
 *   - members meant for encryption (`use: "enc"`, RFC 7517 §4.2) and members carrying private or
 *     symmetric key material are dropped; a remote key set only ever provides public keys;
 *   - each usable member becomes a node:crypto KeyObject once, when the set is downloaded (a member
 *     node:crypto cannot import is dropped), and is cached with the set;
 *   - key selection by `kid` and by a `kty` (and `crv`) compatible with the token's `alg` (RFC 7515
 *     §4.1.4, RFC 7518 §3.1), by the member's own `alg`, `use` and `key_ops` when it has them — the
 *     rules of jose's createLocalJWKSet; exactly one key must match;
 *   - a token naming an unknown `kid` triggers a refetch — key rotation (OIDC Core §10.1) — but at
 *     most once per `cooldownMs` per URL, so a flood of tokens with random kids cannot make us
 *     hammer the IdP; concurrent callers share one in-flight download;
 *   - a cached set older than `maxAgeMs` is refreshed on next use; if that refresh fails the old
 *     keys keep serving (the IdP being briefly down must not break sign-in), but with no cached
 *     key a failure throws: fail closed;
 *   - the cooldown runs from the start of the last refetch for an unknown `kid` that succeeded.
 *     A successful routine download (the first one, a `maxAge` refresh) does not start it: a
 *     rotation published right after such a download is followed by the first token signed with
 *     the new key, not refused for `cooldownMs`;
 *   - a failed download (of any kind) is retried after a short backoff, not after the cooldown:
 *     `retryMs` (1 s) after the failure, doubling with each further failure up to `cooldownMs`,
 *     back to nothing after a success. While the IdP is down a URL is tried at most once per
 *     backoff (no retry storm), and once it is back sign-ins work again within the backoff;
 *   - JwksUnavailableError's message says what went wrong with the last download (timeout, HTTP
 *     status, too large, not JSON, not a JWK Set): it becomes the audit cause of the sign-in.
 *
 * Algorithms are NOT decided here: callers pin them (jws.ts `verifyCompact(token, algorithms, …)`).
 * No key matching fails with jose's JWKSNoMatchingKey, a token without `kid` matching several keys
 * with JWKSMultipleMatchingKeys, an algorithm without a key type with JOSENotSupported (the error
 * classes callers and tests already know; jose verifies nothing here).
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { errors, type JWK, type JWTVerifyGetKey } from "jose";
import { describeFetchError } from "../net/safe-fetch.js";
import { CURVES, keyTypeOf } from "./jws.js";

/** What key selection reads of a JWS protected header. */
export interface KeyHint {
  kid?: unknown;
  alg?: unknown;
}

/** One usable member of a downloaded set, with its KeyObject made once. */
interface SetMember {
  jwk: JWK;
  key: KeyObject;
}

/** The subset of WHATWG fetch the cache uses; the safe fetch satisfies it. */
export type JwksFetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface JwksCacheOptions {
  fetch: JwksFetch;
  /**
   * Flood guard: after a refetch of one URL for an unknown kid, no other refetch for an unknown
   * kid starts for this long; also the longest wait between tries while downloads fail. Default 30 s.
   */
  cooldownMs?: number;
  /** First wait after a failed download before the next try; doubles per failure up to cooldownMs. Default 1 s. */
  retryMs?: number;
  /** Age after which a cached set is refreshed on use. Default 10 min. */
  maxAgeMs?: number;
  /** Clock in ms, injectable for tests. Default Date.now. */
  now?: () => number;
  /** Most URLs cached at once; the oldest entry is evicted beyond it. Default 1000. */
  maxEntries?: number;
}

export interface JwksCache {
  /** Resolves the public key for a JWS protected header; throws when none matches or no set is available. */
  getKey(jwksUri: string, protectedHeader: KeyHint): Promise<KeyObject>;
  /** A jose key resolver bound to one JWKS URL, for `jwtVerify(token, resolver, { algorithms })` (tests, tools). */
  keyResolver(jwksUri: string): JWTVerifyGetKey;
  /** Forgets a URL (e.g. after the connection's configuration changed); the next use downloads again. */
  invalidate(jwksUri: string): void;
}

/** Thrown when no key set could be obtained for a URL (fail closed). Names the host only. */
export class JwksUnavailableError extends Error {
  override readonly name = "JwksUnavailableError";
  readonly code = "jwks_unavailable";
}

interface CacheEntry {
  /** The usable members of the last successfully downloaded set. */
  keys?: SetMember[];
  /** When `keys` was downloaded (ms). */
  fetchedAt: number;
  /** When the last refetch for an unknown kid began (ms); failed ones do not count. */
  cooldownFrom?: number;
  /** Downloads failed in a row (0 after a success). */
  failures: number;
  /** No download starts before this (ms), after a failure. */
  retryAt?: number;
  /** Why the last download failed, kept as the cause of JwksUnavailableError. */
  lastError?: unknown;
  /** The download in flight, shared by concurrent callers. */
  inflight?: Promise<void>;
}

/** JWK members that only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4.1). */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];

/**
 * Creates the cache. See the module header for the policy; every option has a default except fetch.
 */
export function createJwksCache(options: JwksCacheOptions): JwksCache {
  const fetchImpl = options.fetch;
  const cooldownMs = options.cooldownMs ?? 30_000;
  const retryMs = Math.min(options.retryMs ?? 1_000, cooldownMs);
  const maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 1000;
  const entries = new Map<string, CacheEntry>();

  /** The entry of a URL, created empty on first use (evicting the oldest beyond maxEntries). */
  function entryFor(uri: string): CacheEntry {
    let entry = entries.get(uri);
    if (!entry) {
      if (entries.size >= maxEntries) {
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
      entry = { fetchedAt: Number.NEGATIVE_INFINITY, failures: 0 };
      entries.set(uri, entry);
    }
    return entry;
  }

  /**
   * True when a download may start: no failure backoff runs, and — for a refetch for an unknown
   * kid — no cooldown of the last such refetch either.
   */
  function mayDownload(entry: CacheEntry, reason: "routine" | "unknownKid"): boolean {
    if (entry.retryAt !== undefined && now() < entry.retryAt) return false;
    if (reason === "routine") return true;
    return entry.cooldownFrom === undefined || now() - entry.cooldownFrom >= cooldownMs;
  }

  /**
   * Downloads the set when the backoff and cooldown allow it, or joins the download in flight.
   * `unknownKid`: this download is a refetch for a kid the cached set lacks, which starts the
   * cooldown if it succeeds. Never throws: a failure is recorded on the entry (and sets the next
   * try after the backoff) and the previous keys stay.
   */
  function refresh(uri: string, entry: CacheEntry, reason: "routine" | "unknownKid"): Promise<void> {
    if (entry.inflight) return entry.inflight;
    if (!mayDownload(entry, reason)) return Promise.resolve();
    const startedAt = now();
    const previousCooldown = entry.cooldownFrom;
    // Set at the start: concurrent unknown kids wait for this download, not start another.
    if (reason === "unknownKid") entry.cooldownFrom = startedAt;
    entry.inflight = downloadKeySet(fetchImpl, uri)
      .then((keys) => {
        entry.keys = keys;
        entry.fetchedAt = now();
        entry.lastError = undefined;
        entry.failures = 0;
        entry.retryAt = undefined;
      })
      .catch((error: unknown) => {
        entry.lastError = error;
        entry.failures++;
        entry.retryAt = now() + Math.min(cooldownMs, retryMs * 2 ** Math.min(entry.failures - 1, 30));
        // A failed refetch found no rotation: the next unknown kid may try again after the backoff.
        if (reason === "unknownKid") entry.cooldownFrom = previousCooldown;
      })
      .finally(() => {
        entry.inflight = undefined;
      });
    return entry.inflight;
  }

  async function getKey(jwksUri: string, protectedHeader: KeyHint): Promise<KeyObject> {
    const entry = entryFor(jwksUri);
    // Set when this call itself waited for a download: a refetch right after it would get the same set.
    let justDownloaded = false;
    if (!entry.keys || now() - entry.fetchedAt >= maxAgeMs) {
      const before = entry.fetchedAt;
      await refresh(jwksUri, entry, "routine");
      justDownloaded = entry.fetchedAt !== before;
    }
    const keys = entry.keys;
    if (!keys) {
      const why = entry.lastError === undefined ? "no download yet" : describeFetchError(entry.lastError);
      throw new JwksUnavailableError(`the JWKS of ${hostOf(jwksUri)} could not be downloaded (${why})`, {
        cause: entry.lastError,
      });
    }
    try {
      return selectKey(keys, protectedHeader);
    } catch (error) {
      if (
        !(error instanceof errors.JWKSNoMatchingKey) ||
        justDownloaded ||
        (!entry.inflight && !mayDownload(entry, "unknownKid"))
      )
        throw error;
    }
    // Unknown kid: the IdP may have rotated its keys (OIDC Core §10.1). One refetch per cooldown.
    await refresh(jwksUri, entry, "unknownKid");
    return selectKey(entry.keys ?? keys, protectedHeader);
  }

  function keyResolver(jwksUri: string): JWTVerifyGetKey {
    return (protectedHeader) => getKey(jwksUri, protectedHeader);
  }

  function invalidate(jwksUri: string): void {
    entries.delete(jwksUri);
  }

  return { getKey, keyResolver, invalidate };
}

/**
 * GETs a JWK Set (RFC 7517 §5) and builds a selector over its usable members. Throws on a non-200
 * status, a body that is not JSON, or a document without a `keys` array.
 */
async function downloadKeySet(fetchImpl: JwksFetch, uri: string): Promise<SetMember[]> {
  const response = await fetchImpl(uri, {
    method: "GET",
    headers: { accept: "application/jwk-set+json, application/json" },
  });
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`the JWKS endpoint of ${hostOf(uri)} answered HTTP ${response.status}`);
  }
  let document: unknown;
  try {
    document = await response.json();
  } catch {
    throw new Error(`the JWKS endpoint of ${hostOf(uri)} did not return JSON`);
  }
  return usableKeySet(document, uri).flatMap((jwk): SetMember[] => {
    try {
      return [{ jwk, key: createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }) }];
    } catch {
      return []; // a member node:crypto cannot import can verify nothing
    }
  });
}

/**
 * The one member that may verify a token with this header: same `kty` as the alg's (and a curve
 * of the alg), the header's `kid` when it has one, and the member's own `alg`, `use` and `key_ops`
 * when present. None → JWKSNoMatchingKey (the caller may refetch); several → JWKSMultipleMatchingKeys.
 */
function selectKey(members: SetMember[], header: KeyHint): KeyObject {
  const alg = typeof header.alg === "string" ? header.alg : "";
  const kty = keyTypeOf(alg);
  if (!kty) throw new errors.JOSENotSupported('Unsupported "alg" value for a JSON Web Key Set');
  const curves = CURVES[alg];
  const kid = typeof header.kid === "string" ? header.kid : undefined;
  const matches = members.filter(({ jwk }) => {
    if (jwk.kty !== kty) return false;
    if (kid !== undefined && jwk.kid !== kid) return false;
    if (typeof jwk.alg === "string" && jwk.alg !== alg) return false;
    if (typeof jwk.use === "string" && jwk.use !== "sig") return false;
    if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes("verify")) return false;
    if (curves && !curves.includes(jwk.crv ?? "")) return false;
    return true;
  });
  if (matches.length === 0) throw new errors.JWKSNoMatchingKey();
  if (matches.length > 1) throw new errors.JWKSMultipleMatchingKeys();
  return matches[0]!.key;
}

/**
 * Keeps the members of a JWK Set that can verify signatures: objects with a string `kty`, not
 * marked `use: "enc"`, without private or symmetric key material.
 */
function usableKeySet(document: unknown, uri: string): JWK[] {
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (typeof document !== "object" || document === null || !Array.isArray(keys)) {
    throw new Error(`the JWKS endpoint of ${hostOf(uri)} did not return a JWK Set`);
  }
  const usable = keys.filter((key: unknown): key is JWK => {
    if (typeof key !== "object" || key === null || Array.isArray(key)) return false;
    const jwk = key as Record<string, unknown>;
    if (typeof jwk.kty !== "string" || jwk.kty === "oct") return false;
    if (jwk.use === "enc") return false;
    return !PRIVATE_MEMBERS.some((member) => member in jwk);
  });
  return usable;
}

/** Host of a URL for messages (never the path or query); "JWKS URL" when unparsable. */
function hostOf(uri: string): string {
  try {
    return new URL(uri).host;
  } catch {
    return "JWKS URL";
  }
}
