/**
 * Sessions (SPEC §2), by hand: an opaque 256-bit token in an HttpOnly, SameSite=Lax cookie
 * (`__Host-` and Secure on HTTPS: http/cookies.ts); the database keeps only its SHA-256. Idle
 * expiry slides forward (written at most once a minute), absolute expiry never moves. Revoked by sign-out, deactivation and
 * password change (users.ts deletes the rows).
 */
import type { QueryCreator } from "kysely";
import { type AuditEntry, auditRow } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import { randomToken as newToken, sha256Hex as tokenHash } from "../crypto/tokens.js";
import type { Db } from "../db/database.js";
import type { Database } from "../db/schema.js";

const TOUCH_INTERVAL_MS = 60_000;

export interface ValidSession {
  id: string;
  userId: string;
  agencyId: string;
  method: string;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
}

/**
 * Stores a new session and returns its token. With `auditEntry`, the entry is written by the same
 * statement (a data-modifying WITH query): one round trip, and never a session without its record.
 */
export async function createSession(
  ctx: AppContext,
  input: { userId: string; agencyId: string; method: string; ip: string | null; userAgent: string | null },
  auditEntry?: AuditEntry,
): Promise<{ token: string; absoluteExpiresAt: Date }> {
  const token = newToken();
  const now = ctx.now();
  const absoluteExpiresAt = new Date(now.getTime() + ctx.config.sessionAbsoluteHours * 3_600_000);
  const insertSession = (db: QueryCreator<Database>) =>
    db.insertInto("sessions").values({
      id: tokenHash(token),
      user_id: input.userId,
      agency_id: input.agencyId,
      method: input.method,
      last_seen_at: now,
      idle_expires_at: new Date(now.getTime() + ctx.config.sessionIdleMinutes * 60_000),
      absolute_expires_at: absoluteExpiresAt,
      ip: input.ip,
      user_agent: input.userAgent?.slice(0, 512) ?? null,
    });
  if (auditEntry) {
    await ctx.db
      .with("new_session", (db) => insertSession(db))
      .insertInto("audit_log")
      .values(auditRow(auditEntry))
      .execute();
  } else {
    await insertSession(ctx.db).execute();
  }
  return { token, absoluteExpiresAt };
}

/** The session for a cookie token, or null when unknown or expired (an expired row is removed). */
export async function validateSession(ctx: AppContext, token: string): Promise<ValidSession | null> {
  const id = tokenHash(token);
  const row = await ctx.db
    .selectFrom("sessions")
    .select([
      "id",
      "user_id",
      "agency_id",
      "method",
      "last_seen_at",
      "idle_expires_at",
      "absolute_expires_at",
    ])
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) return null;
  const now = ctx.now();
  if (row.idle_expires_at <= now || row.absolute_expires_at <= now) {
    await ctx.db.deleteFrom("sessions").where("id", "=", id).execute();
    return null;
  }
  if (now.getTime() - row.last_seen_at.getTime() > TOUCH_INTERVAL_MS) {
    await ctx.db
      .updateTable("sessions")
      .set({
        last_seen_at: now,
        idle_expires_at: new Date(now.getTime() + ctx.config.sessionIdleMinutes * 60_000),
      })
      .where("id", "=", id)
      .execute();
  }
  return {
    id,
    userId: row.user_id,
    agencyId: row.agency_id,
    method: row.method,
    idleExpiresAt: row.idle_expires_at,
    absoluteExpiresAt: row.absolute_expires_at,
  };
}

export async function revokeSession(db: Db, token: string): Promise<void> {
  await db.deleteFrom("sessions").where("id", "=", tokenHash(token)).execute();
}

export async function revokeUserSessions(db: Db, userId: string): Promise<void> {
  await db.deleteFrom("sessions").where("user_id", "=", userId).execute();
}
