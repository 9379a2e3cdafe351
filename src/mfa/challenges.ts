/**
 * Pending second-factor sign-ins (SPEC §6): the first factor yields a short-lived pending-2FA
 * token, never a session. The cookie holds a random token; the database keeps its hash, the
 * user, the first-factor method, the attempts left and where to go afterwards. The token is
 * good for nothing but the 2FA routes.
 */
import type { FastifyRequest } from "fastify";
import type { AppContext } from "../context.js";
import { randomToken as newToken, sha256Hex as tokenHash } from "../crypto/tokens.js";
import { readCookie } from "../http/cookies.js";

export const MFA_TTL_SECONDS = 5 * 60;
export const MFA_MAX_ATTEMPTS = 5;

export interface Challenge {
  id: string;
  userId: string;
  agencyId: string;
  method: string;
  purpose: "verify" | "enroll";
  returnTo: string | null;
  attempts: number;
}

export async function createChallenge(
  ctx: AppContext,
  input: {
    userId: string;
    agencyId: string;
    method: string;
    purpose: "verify" | "enroll";
    returnTo: string | null;
  },
): Promise<string> {
  const token = newToken();
  // One pending sign-in per user at a time: a new first factor replaces an older challenge.
  await ctx.db.deleteFrom("mfa_challenges").where("user_id", "=", input.userId).execute();
  await ctx.db
    .insertInto("mfa_challenges")
    .values({
      id: tokenHash(token),
      user_id: input.userId,
      agency_id: input.agencyId,
      method: input.method,
      purpose: input.purpose,
      return_to: input.returnTo,
      expires_at: new Date(ctx.now().getTime() + MFA_TTL_SECONDS * 1000),
    })
    .execute();
  return token;
}

/** The live challenge behind the request's pending-2FA cookie, bound to the host's agency. */
export async function currentChallenge(ctx: AppContext, request: FastifyRequest): Promise<Challenge | null> {
  const token = readCookie(request, "mfa");
  if (!token || !request.agency) return null;
  const row = await ctx.db
    .selectFrom("mfa_challenges")
    .selectAll()
    .where("id", "=", tokenHash(token))
    .executeTakeFirst();
  if (!row || row.agency_id !== request.agency.id) return null;
  if (row.expires_at <= ctx.now()) {
    await ctx.db.deleteFrom("mfa_challenges").where("id", "=", row.id).execute();
    return null;
  }
  // Every attempt is reserved (possibly still being checked): the last wrong one removes it.
  if (row.attempts >= MFA_MAX_ATTEMPTS) return null;
  return {
    id: row.id,
    userId: row.user_id,
    agencyId: row.agency_id,
    method: row.method,
    purpose: row.purpose,
    returnTo: row.return_to,
    attempts: row.attempts,
  };
}

/**
 * Ends a pending sign-in. True when this call removed it: a challenge turns into at most one
 * session, even when two requests complete it at the same time.
 */
export async function endChallenge(ctx: AppContext, id: string): Promise<boolean> {
  const res = await ctx.db.deleteFrom("mfa_challenges").where("id", "=", id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/**
 * Cancels the pending sign-in behind the request's pending-2FA cookie (sign-out of that browser):
 * the stored challenge is removed, so the cookie cannot finish it later even if a copy of it
 * survives the browser clearing it. Returns what was cancelled, or null when there was nothing.
 */
export async function cancelChallenge(
  ctx: AppContext,
  request: FastifyRequest,
): Promise<{ userId: string; agencyId: string; method: string; purpose: "verify" | "enroll" } | null> {
  const token = readCookie(request, "mfa");
  if (!token) return null;
  const row = await ctx.db
    .deleteFrom("mfa_challenges")
    .where("id", "=", tokenHash(token))
    .returning(["user_id", "agency_id", "method", "purpose"])
    .executeTakeFirst();
  return row
    ? { userId: row.user_id, agencyId: row.agency_id, method: row.method, purpose: row.purpose }
    : null;
}

/**
 * Reserves one code attempt on the pending sign-in BEFORE the code is checked: one conditional
 * UPDATE that counts it and returns the attempts made, this one included — or null when none is
 * left (or the pending sign-in is gone or expired). Of a burst of parallel codes, at most
 * MFA_MAX_ATTEMPTS are ever checked (SPEC §6: 5 wrong codes end the pending sign-in).
 */
export async function reserveAttempt(ctx: AppContext, id: string): Promise<number | null> {
  const row = await ctx.db
    .updateTable("mfa_challenges")
    .set((eb) => ({ attempts: eb("attempts", "+", 1) }))
    .where("id", "=", id)
    .where("attempts", "<", MFA_MAX_ATTEMPTS)
    .where("expires_at", ">", ctx.now())
    .returning("attempts")
    .executeTakeFirst();
  return row ? row.attempts : null;
}

/**
 * A reserved attempt (the `attempts`-th) was a wrong code: the MFA_MAX_ATTEMPTS-th ends the
 * pending sign-in. Returns the attempts left (0: it is gone).
 */
export async function recordFailedAttempt(ctx: AppContext, id: string, attempts: number): Promise<number> {
  if (attempts >= MFA_MAX_ATTEMPTS) {
    await endChallenge(ctx, id);
    return 0;
  }
  return MFA_MAX_ATTEMPTS - attempts;
}
