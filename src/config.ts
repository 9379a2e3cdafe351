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
  trustProxy: boolean;
  logLevel: string;
  sessionIdleMinutes: number;
  sessionAbsoluteHours: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration error: ${problems.join("; ")}`);
  }
}

const GENERATED_SECRETS = ["JWT_SECRET", "SSO_STATE_SECRET", "ENCRYPTION_KEY"] as const;
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
    for (const name of missing) {
      if (name === "SSO_STATE_SECRET") continue;
      problems.push(`${name} is required when NODE_ENV=production`);
    }
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

  const sessionIdleMinutes = intVar(env, "SESSION_IDLE_MINUTES", 12 * 60, problems);
  const sessionAbsoluteHours = intVar(env, "SESSION_ABSOLUTE_HOURS", 7 * 24, problems);
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
    ssoStateSecret: secrets.SSO_STATE_SECRET || jwtSecret,
    encryptionKey: secrets.ENCRYPTION_KEY ?? "",
    googleClientId,
    googleClientSecret,
    googleDiscoveryUrl:
      env.GOOGLE_DISCOVERY_URL || "https://accounts.google.com/.well-known/openid-configuration",
    allowPrivateIdpUrls: env.ALLOW_PRIVATE_IDP_URLS === "true",
    trustProxy: env.TRUST_PROXY === "true",
    logLevel: env.LOG_LEVEL || (nodeEnv === "test" ? "silent" : "info"),
    sessionIdleMinutes,
    sessionAbsoluteHours,
  };
}
