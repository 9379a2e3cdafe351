/**
 * Configuration from the environment (SPEC §10).
 *
 * In development, missing secrets are generated once and kept in `DATA_DIR/secrets.json`
 * (mode 0600) so restarts keep sessions and encrypted data readable. With
 * `NODE_ENV=production` nothing is generated: the server refuses to start and names
 * every missing variable.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import path from "node:path";

export interface Config {
  env: "development" | "production" | "test";
  port: number;
  host: string;
  publicUrl: URL;
  databaseUrl: string | null;
  /** Named prepared statements on DATABASE_URL (off for a pooler that cannot keep them). */
  databasePreparedStatements: boolean;
  dataDir: string;
  jwtSecret: string;
  ssoStateSecret: string;
  encryptionKey: string;
  googleClientId: string | null;
  googleClientSecret: string | null;
  /** Google's discovery document (overridable for tests and egress proxies). */
  googleDiscoveryUrl: string;
  allowPrivateIdpUrls: boolean;
  /**
   * Which reverse proxies' `X-Forwarded-*` headers are believed (Fastify's `trustProxy`): none
   * (false), the last N hops (a number), or the listed proxy addresses/CIDRs. `true` (every hop,
   * so the client picks its own address) is accepted with a warning at start.
   */
  trustProxy: boolean | number | string[];
  logLevel: string;
  sessionIdleMinutes: number;
  sessionAbsoluteHours: number;
  /** DATABASE_URL pool: opening a connection, an idle connection's life, one statement (ms). */
  databaseConnectTimeoutMs: number;
  databaseIdleTimeoutMs: number;
  databaseStatementTimeoutMs: number;
  /** Shutdown: how long new requests are still served after the signal; the bound to exit. */
  shutdownDrainSeconds: number;
  shutdownTimeoutSeconds: number;
  /** /metrics: bearer token on the main port, and/or a separate (loopback) listener. */
  metricsToken: string | null;
  metricsPort: number | null;
  metricsHost: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration error: ${problems.join("; ")}`);
  }
}

/**
 * Secrets generated in development when unset. SSO_STATE_SECRET is not one of them: unset, it is
 * the effective JWT_SECRET (SPEC §4), so nodes given the same JWT_SECRET accept each other's SSO
 * callbacks whatever their DATA_DIR. A state secret stored by an older version is ignored.
 */
const GENERATED_SECRETS = ["JWT_SECRET", "ENCRYPTION_KEY"] as const;
type GeneratedSecret = (typeof GENERATED_SECRETS)[number];

function generateSecret(name: GeneratedSecret): string {
  // ENCRYPTION_KEY is an AES-256 key: exactly 32 bytes, base64url.
  return randomBytes(name === "ENCRYPTION_KEY" ? 32 : 48).toString("base64url");
}

/** Reads (or creates once) the development secrets file in DATA_DIR. */
function developmentSecrets(dataDir: string): Record<GeneratedSecret, string> {
  const file = path.join(dataDir, "secrets.json");
  let stored: Partial<Record<GeneratedSecret, string>> = {};
  if (existsSync(file)) stored = JSON.parse(readFileSync(file, "utf8"));
  let changed = false;
  for (const name of GENERATED_SECRETS) {
    if (!stored[name]) {
      stored[name] = generateSecret(name);
      changed = true;
    }
  }
  if (changed) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  }
  return stored as Record<GeneratedSecret, string>;
}

/** proxy-addr's names for address ranges, accepted in a TRUST_PROXY list. */
const PROXY_RANGES = new Set(["loopback", "linklocal", "uniquelocal"]);

/** TRUST_PROXY: unset/false, true (warned), a hop count, or a comma-separated list of addresses/CIDRs. */
function trustProxyVar(env: NodeJS.ProcessEnv, problems: string[]): boolean | number | string[] {
  const raw = (env.TRUST_PROXY ?? "").trim();
  if (raw === "" || raw.toLowerCase() === "false") return false;
  if (raw.toLowerCase() === "true") return true;
  if (/^\d+$/.test(raw)) return Number(raw) === 0 ? false : Number(raw);
  const list = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((entry) => {
    if (PROXY_RANGES.has(entry)) return false;
    const [address, prefix, ...rest] = entry.split("/");
    const version = isIP(address ?? "");
    if (version === 0 || rest.length > 0) return true;
    if (prefix === undefined) return false;
    return !/^\d{1,3}$/.test(prefix) || Number(prefix) > (version === 4 ? 32 : 128);
  });
  if (bad.length > 0 || list.length === 0) {
    problems.push(
      `TRUST_PROXY must be false, a hop count (e.g. 1) or a comma-separated list of proxy addresses or CIDRs (e.g. 10.0.0.0/8,127.0.0.1); not understood: ${bad.join(", ").slice(0, 100) || raw.slice(0, 20)}`,
    );
    return false;
  }
  return list;
}

function intVar(env: NodeJS.ProcessEnv, name: string, fallback: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    problems.push(`${name} must be a positive whole number`);
    return fallback;
  }
  return n;
}

function wholeVar(env: NodeJS.ProcessEnv, name: string, fallback: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    problems.push(`${name} must be a whole number (0 or more)`);
    return fallback;
  }
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const nodeEnv =
    env.NODE_ENV === "production" ? "production" : env.NODE_ENV === "test" ? "test" : "development";
  const port = intVar(env, "PORT", 3000, problems);
  const dataDir = path.resolve(env.DATA_DIR || "./data");

  let publicUrl: URL;
  try {
    publicUrl = new URL(env.PUBLIC_URL || `http://localhost:${port}`);
    if (publicUrl.protocol !== "http:" && publicUrl.protocol !== "https:") throw new Error("scheme");
  } catch {
    problems.push("PUBLIC_URL must be an http(s) URL such as https://copilot.example.com");
    publicUrl = new URL(`http://localhost:${port}`);
  }

  const secrets: Partial<Record<GeneratedSecret, string>> = {};
  const missing = GENERATED_SECRETS.filter((name) => !env[name]);
  if (nodeEnv === "production") {
    // SSO_STATE_SECRET falls back to JWT_SECRET (seed 003), so it is only missing when both are.
    for (const name of missing) problems.push(`${name} is required when NODE_ENV=production`);
    for (const name of GENERATED_SECRETS) secrets[name] = env[name];
  } else {
    const dev = missing.length > 0 ? developmentSecrets(dataDir) : undefined;
    for (const name of GENERATED_SECRETS) secrets[name] = env[name] || dev?.[name];
  }

  const googleClientId = env.GOOGLE_CLIENT_ID || null;
  const googleClientSecret = env.GOOGLE_CLIENT_SECRET || null;
  if (Boolean(googleClientId) !== Boolean(googleClientSecret)) {
    problems.push("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET must be set together");
  }

  const prepared = (env.DATABASE_PREPARED_STATEMENTS || "true").toLowerCase();
  if (prepared !== "true" && prepared !== "false") {
    problems.push(`DATABASE_PREPARED_STATEMENTS must be true or false (got "${prepared.slice(0, 20)}")`);
  }

  const trustProxy = trustProxyVar(env, problems);
  const sessionIdleMinutes = intVar(env, "SESSION_IDLE_MINUTES", 12 * 60, problems);
  const sessionAbsoluteHours = intVar(env, "SESSION_ABSOLUTE_HOURS", 7 * 24, problems);
  const databaseConnectTimeoutMs = intVar(env, "DATABASE_CONNECT_TIMEOUT_MS", 5000, problems);
  const databaseIdleTimeoutMs = intVar(env, "DATABASE_IDLE_TIMEOUT_MS", 30_000, problems);
  const databaseStatementTimeoutMs = intVar(env, "DATABASE_STATEMENT_TIMEOUT_MS", 15_000, problems);
  const shutdownDrainSeconds = wholeVar(env, "SHUTDOWN_DRAIN_SECONDS", 5, problems);
  const shutdownTimeoutSeconds = intVar(env, "SHUTDOWN_TIMEOUT_SECONDS", 10, problems);
  if (shutdownDrainSeconds >= shutdownTimeoutSeconds) {
    problems.push("SHUTDOWN_DRAIN_SECONDS must be shorter than SHUTDOWN_TIMEOUT_SECONDS");
  }
  const metricsPort = env.METRICS_PORT ? intVar(env, "METRICS_PORT", 0, problems) : null;
  if (metricsPort !== null && metricsPort === port) problems.push("METRICS_PORT must differ from PORT");
  const metricsToken = env.METRICS_TOKEN || null;
  if (metricsToken !== null && metricsToken.length < 16) {
    problems.push("METRICS_TOKEN must be at least 16 characters");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const jwtSecret = secrets.JWT_SECRET ?? "";
  return {
    env: nodeEnv,
    port,
    host: env.HOST || "0.0.0.0",
    publicUrl,
    databaseUrl: env.DATABASE_URL || null,
    databasePreparedStatements: prepared !== "false",
    dataDir,
    jwtSecret,
    ssoStateSecret: env.SSO_STATE_SECRET || jwtSecret,
    encryptionKey: secrets.ENCRYPTION_KEY ?? "",
    googleClientId,
    googleClientSecret,
    googleDiscoveryUrl:
      env.GOOGLE_DISCOVERY_URL || "https://accounts.google.com/.well-known/openid-configuration",
    allowPrivateIdpUrls: env.ALLOW_PRIVATE_IDP_URLS === "true",
    trustProxy,
    logLevel: env.LOG_LEVEL || (nodeEnv === "test" ? "silent" : "info"),
    sessionIdleMinutes,
    sessionAbsoluteHours,
    databaseConnectTimeoutMs,
    databaseIdleTimeoutMs,
    databaseStatementTimeoutMs,
    shutdownDrainSeconds,
    shutdownTimeoutSeconds,
    metricsToken,
    metricsPort,
    metricsHost: env.METRICS_HOST || "127.0.0.1",
  };
}
