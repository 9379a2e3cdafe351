/**
 * What every feature plugin receives: configuration, the database, the clock, and the
 * cross-cutting services. `createContext` is used by the server and by the tests alike.
 */
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { createSecretBox, parseEncryptionKeys, type SecretBox } from "./crypto/secret-box.js";
import type { Db } from "./db/database.js";
import { Metrics } from "./http/metrics.js";
import { createLogger } from "./logger.js";
import { createSafeFetch, type SafeFetch } from "./net/safe-fetch.js";
import { createJwksCache, type JwksCache } from "./sso/jwks.js";

export interface AppContext {
  config: Config;
  db: Db;
  /** The clock. Tests replace it to move time (session expiry, TOTP steps, state expiry). */
  now: () => Date;
  metrics: Metrics;
  log: Logger;
  /** AES-256-GCM for IdP client secrets and TOTP secrets (ENCRYPTION_KEY, several keys rotate). */
  secretBox: SecretBox;
  /** Every request to an admin-entered IdP URL goes through this SSRF-guarded fetch (SPEC §10). */
  idpFetch: SafeFetch;
  /** Public keys of IdPs (OIDC JWKS, Cloudflare Access certs), cached with a refetch cooldown. */
  jwks: JwksCache;
}

export function createContext(
  config: Config,
  db: Db,
  options: { now?: () => Date; log?: Logger; idpTimeoutMs?: number } = {},
): AppContext {
  const now = options.now ?? (() => new Date());
  const idpFetch = createSafeFetch({
    allowPrivate: config.allowPrivateIdpUrls,
    timeoutMs: options.idpTimeoutMs ?? 5000,
  });
  return {
    config,
    db,
    now,
    metrics: new Metrics(),
    log: options.log ?? createLogger(config.logLevel),
    secretBox: createSecretBox(parseEncryptionKeys(config.encryptionKey)),
    idpFetch,
    jwks: createJwksCache({ fetch: idpFetch, now: () => now().getTime() }),
  };
}
