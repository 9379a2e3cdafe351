/**
 * What every feature plugin receives: configuration, the database, the clock, and the
 * cross-cutting services. `createContext` is used by the server and by the tests alike.
 */
import type { Selectable } from "kysely";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { createSecretBox, parseEncryptionKeys, type SecretBox } from "./crypto/secret-box.js";
import type { Db } from "./db/database.js";
import type { ReadCache } from "./db/read-cache.js";
import type { SsoConnectionsTable } from "./db/schema.js";
import { Metrics } from "./http/metrics.js";
import { createLogger } from "./logger.js";
import { createSafeFetch, type SafeFetch } from "./net/safe-fetch.js";
import { type CloudflareMemo, createCloudflareMemo } from "./sso/cloudflare-session.js";
import { createConnectionsCache } from "./sso/connections.js";
import { createJwksCache, type JwksCache } from "./sso/jwks.js";
import { createProviderCache, type ProviderCache } from "./sso/oidc.js";
import { StateKeyring } from "./sso/state.js";

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
  // The caches below belong to this context (never to a module): two apps in one process share none.
  /** Discovered OIDC providers per connection version, for an hour of ctx.now. */
  providers: ProviderCache;
  /** The keys derived from SSO_STATE_SECRET (state tokens, browser-binding values). */
  stateKeys: StateKeyring;
  /** Verified Cloudflare Access assertions until their exp. */
  cloudflareMemo: CloudflareMemo;
  /** The agencies' SSO connections, cleared by every write to sso_connections. */
  connectionsCache: ReadCache<Selectable<SsoConnectionsTable>[]>;
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
    providers: createProviderCache(),
    stateKeys: new StateKeyring(config.ssoStateSecret),
    cloudflareMemo: createCloudflareMemo(),
    connectionsCache: createConnectionsCache(db, () => now()),
  };
}
