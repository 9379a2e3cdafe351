/**
 * Private integration tokens (SPEC §8): created by an agency admin (or the CLI), shown once,
 * stored as a SHA-256 hash, scoped, revocable, last use recorded. One service behind the admin
 * API, the CLI and the provisioning API's authentication.
 *
 * A token is `pit_` + 43 base64url characters (32 random bytes, 256 bits). The stored `prefix`
 * (`pit_` + the first 8 random characters) lets an admin recognise a token in the list without
 * it being usable.
 */
import { randomUUID } from "node:crypto";
import { randomToken, sha256Hex } from "../crypto/tokens.js";
import type { Db } from "../db/database.js";
import { AppError, badRequest, notFound } from "../http/errors.js";

export const TOKEN_PREFIX = "pit_";
export const TOKEN_PATTERN = /^pit_[A-Za-z0-9_-]{43}$/;
export const SCOPES = ["users.readonly", "users.write"] as const;
export type Scope = (typeof SCOPES)[number];

/** `last_used_at` is written at most once per this interval per token (spares a write per call). */
export const LAST_USED_RESOLUTION_MS = 60_000;

export interface IntegrationToken {
  id: string;
  agencyId: string;
  name: string;
  scopes: Scope[];
  prefix: string;
  createdBy: { id: string; email: string } | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** The API shape (docs/api-contract.md, `GET /api/admin/tokens`). */
export function tokenApi(t: IntegrationToken) {
  return {
    id: t.id,
    name: t.name,
    scopes: t.scopes,
    prefix: t.prefix,
    createdBy: t.createdBy,
    createdAt: t.createdAt.toISOString(),
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  };
}

/** Does a token with `granted` scopes hold `needed`? `users.write` implies `users.readonly`. */
export function hasScope(granted: readonly string[], needed: Scope): boolean {
  if (granted.includes(needed)) return true;
  return needed === "users.readonly" && granted.includes("users.write");
}

/** Validates and canonicalises a scope list (known scopes, at least one, no duplicates, stable order). */
export function normalizeScopes(value: unknown): Scope[] {
  const list = typeof value === "string" ? value.split(",").map((s) => s.trim()) : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw badRequest(`scopes must name at least one of ${SCOPES.join(", ")}`, "scopes");
  }
  for (const s of list) {
    if (!SCOPES.includes(s as Scope)) {
      throw badRequest(`scopes: unknown scope "${String(s)}" (known: ${SCOPES.join(", ")})`, "scopes");
    }
  }
  return SCOPES.filter((s) => list.includes(s));
}

function normalizeTokenName(value: unknown): string {
  const name = typeof value === "string" ? value.trim() : "";
  if (!name || name.length > 100) throw badRequest("name is required (at most 100 characters)", "name");
  return name;
}

const SELECT = [
  "integration_tokens.id",
  "integration_tokens.agency_id",
  "integration_tokens.name",
  "integration_tokens.scopes",
  "integration_tokens.prefix",
  "integration_tokens.created_at",
  "integration_tokens.last_used_at",
  "integration_tokens.revoked_at",
  "users.id as creator_id",
  "users.email as creator_email",
] as const;

type Row = {
  id: string;
  agency_id: string;
  name: string;
  scopes: string[];
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  creator_id: string | null;
  creator_email: string | null;
};

function toToken(r: Row): IntegrationToken {
  return {
    id: r.id,
    agencyId: r.agency_id,
    name: r.name,
    scopes: normalizeStoredScopes(r.scopes),
    prefix: r.prefix,
    createdBy: r.creator_id && r.creator_email ? { id: r.creator_id, email: r.creator_email } : null,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

/** jsonb may come back parsed (pg, PGlite) or, defensively, as text. */
function normalizeStoredScopes(value: unknown): Scope[] {
  const list = typeof value === "string" ? (JSON.parse(value) as unknown) : value;
  return Array.isArray(list) ? SCOPES.filter((s) => list.includes(s)) : [];
}

function baseQuery(db: Db) {
  return db
    .selectFrom("integration_tokens")
    .leftJoin("users", "users.id", "integration_tokens.created_by")
    .select(SELECT);
}

export async function getToken(db: Db, agencyId: string, id: string): Promise<IntegrationToken> {
  const row = await baseQuery(db)
    .where("integration_tokens.agency_id", "=", agencyId)
    .where("integration_tokens.id", "=", id)
    .executeTakeFirst();
  if (!row) throw notFound("Token not found");
  return toToken(row);
}

/** The agency's tokens, newest first, revoked ones included (the page shows them muted). */
export async function listTokens(db: Db, agencyId: string): Promise<IntegrationToken[]> {
  const rows = await baseQuery(db)
    .where("integration_tokens.agency_id", "=", agencyId)
    .orderBy("integration_tokens.created_at", "desc")
    .orderBy("integration_tokens.id")
    .execute();
  return rows.map(toToken);
}

/**
 * Creates a token and returns it with its secret: the only time the secret exists outside the
 * caller's hands. Active token names are unique per agency, so the audit log's label for a token
 * names one token.
 */
export async function createToken(
  db: Db,
  input: { agencyId: string; name: unknown; scopes: unknown; createdBy: string | null },
): Promise<{ token: IntegrationToken; secret: string }> {
  const name = normalizeTokenName(input.name);
  const scopes = normalizeScopes(input.scopes);
  const taken = await db
    .selectFrom("integration_tokens")
    .select("id")
    .where("agency_id", "=", input.agencyId)
    .where("revoked_at", "is", null)
    .where((eb) => eb(eb.fn("lower", ["name"]), "=", name.toLowerCase()))
    .executeTakeFirst();
  if (taken) {
    throw new AppError(409, "name_taken", "An active token with this name already exists", "name");
  }
  const random = randomToken(32);
  const secret = `${TOKEN_PREFIX}${random}`;
  const id = randomUUID();
  await db
    .insertInto("integration_tokens")
    .values({
      id,
      agency_id: input.agencyId,
      name,
      token_hash: sha256Hex(secret),
      prefix: `${TOKEN_PREFIX}${random.slice(0, 8)}`,
      scopes: JSON.stringify(scopes),
      created_by: input.createdBy,
    })
    .execute();
  return { token: await getToken(db, input.agencyId, id), secret };
}

/** Revokes a token (idempotent: a revoked token keeps its first revocation time). */
export async function revokeToken(
  db: Db,
  agencyId: string,
  id: string,
  now: Date,
): Promise<{ token: IntegrationToken; changed: boolean }> {
  const res = await db
    .updateTable("integration_tokens")
    .set({ revoked_at: now })
    .where("agency_id", "=", agencyId)
    .where("id", "=", id)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return { token: await getToken(db, agencyId, id), changed: Number(res.numUpdatedRows) > 0 };
}

export interface AuthenticatedToken {
  id: string;
  agencyId: string;
  name: string;
  scopes: Scope[];
}

export type Authentication =
  | { ok: true; token: AuthenticatedToken }
  | { ok: false; reason: "malformed" | "unknown" | "revoked"; token?: AuthenticatedToken };

/**
 * Finds the token behind a presented secret (by its hash: the lookup compares hashes, so it leaks
 * nothing about a stored secret) and records its use at most once per LAST_USED_RESOLUTION_MS.
 */
export async function authenticateToken(db: Db, secret: string, now: Date): Promise<Authentication> {
  if (!TOKEN_PATTERN.test(secret)) return { ok: false, reason: "malformed" };
  const row = await db
    .selectFrom("integration_tokens")
    .select(["id", "agency_id", "name", "scopes", "last_used_at", "revoked_at"])
    .where("token_hash", "=", sha256Hex(secret))
    .executeTakeFirst();
  if (!row) return { ok: false, reason: "unknown" };
  const token = {
    id: row.id,
    agencyId: row.agency_id,
    name: row.name,
    scopes: normalizeStoredScopes(row.scopes),
  };
  if (row.revoked_at !== null) return { ok: false, reason: "revoked", token };
  if (!row.last_used_at || now.getTime() - row.last_used_at.getTime() >= LAST_USED_RESOLUTION_MS) {
    // Conditional, so concurrent calls of one token on several nodes write once per interval.
    const threshold = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
    await db
      .updateTable("integration_tokens")
      .set({ last_used_at: now })
      .where("id", "=", row.id)
      .where((eb) => eb.or([eb("last_used_at", "is", null), eb("last_used_at", "<=", threshold)]))
      .execute();
  }
  return { ok: true, token };
}
