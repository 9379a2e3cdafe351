/**
 * Where every first factor ends: password, Google, OIDC SSO and Cloudflare Access all call
 * `completeSignIn`. It applies the rules that hold for every method — the account is active,
 * an analyst has a sub-account (SPEC §1), 2FA comes before any session (SPEC §6) — then either
 * starts a session (rotating away any session the browser already had) or a pending 2FA step.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Agency } from "../agencies/agencies.js";
import { type AuditEntry, audit } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import { inTransaction } from "../db/transaction.js";
import { clearCookie, readCookie, setCookie } from "../http/cookies.js";
import { createChallenge, MFA_TTL_SECONDS } from "../mfa/challenges.js";
import { getUser, type User } from "../users/users.js";
import { createSession, revokeSession } from "./sessions.js";

export type SignInMethod = "password" | "break-glass" | "google" | "sso" | "cloudflare";

export type SignInOutcome =
  | { kind: "session"; user: User }
  | { kind: "mfa" }
  | { kind: "enroll" }
  | { kind: "refused"; code: "not_authorized"; cause: string };

export interface SignInInput {
  agency: Agency;
  userId: string;
  /** The user as just read by the caller (saves reading it again); read by id when absent. */
  user?: User;
  method: SignInMethod;
  returnTo?: string | null;
  /** Extra audit details (connection id, …): never secrets. */
  details?: Record<string, unknown>;
}

/** SPEC §1: deactivated users and analysts without a sub-account may not sign in. */
export function authorizationProblem(user: User): string | null {
  if (!user.active) return "user is deactivated";
  if (user.role === "analyst" && user.subAccountIds.length === 0) return "analyst has no sub-account";
  return null;
}

/** Starts a session for the user, replacing any session this browser already had. */
export async function startSession(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  user: User,
  method: string,
  signInRecord: AuditEntry,
): Promise<void> {
  const previous = readCookie(request, "session");
  const open = (tx: AppContext) =>
    createSession(
      tx,
      {
        userId: user.id,
        agencyId: user.agencyId,
        method,
        ip: request.ip,
        userAgent: request.headers["user-agent"] ?? null,
      },
      signInRecord,
    );
  // The new session and its sign-in record are one statement; with an old session to end, the
  // three commit together or not at all.
  const { token } = previous
    ? await inTransaction(ctx, async (tx) => {
        await revokeSession(tx.db, previous);
        return open(tx);
      })
    : await open(ctx);
  setCookie(reply, request, "session", token, ctx.config.sessionAbsoluteHours * 3600);
  clearCookie(reply, request, "mfa");
}

/**
 * Clears every sign-in cookie of this browser: the session and the pending 2FA sign-in. Whatever
 * ends a browser's session with the browser present (sign-out) calls this, so a half-finished
 * second factor never outlives the sign-out.
 */
export function clearSignInCookies(reply: FastifyReply, request: FastifyRequest): void {
  clearCookie(reply, request, "session");
  clearCookie(reply, request, "mfa");
}

export async function completeSignIn(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  input: SignInInput,
): Promise<SignInOutcome> {
  const user = input.user ?? (await getUser(ctx.db, input.agency.id, input.userId));
  const actor = { type: "user" as const, id: user.id, label: user.email };
  const base = { agencyId: input.agency.id, actor, target: { type: "user", id: user.id }, ip: request.ip };
  const details = { method: input.method, ...input.details };

  const problem = authorizationProblem(user);
  if (problem) {
    ctx.metrics.signIn(input.method, "refused");
    await audit(ctx.db, {
      ...base,
      action: "auth.sign_in",
      outcome: "failure",
      details: { ...details, cause: problem },
    });
    return { kind: "refused", code: "not_authorized", cause: problem };
  }

  const needsEnrollment = !user.twoFactorEnabled && input.agency.require2fa;
  if (user.twoFactorEnabled || needsEnrollment) {
    const purpose = user.twoFactorEnabled ? "verify" : "enroll";
    // The pending sign-in and its audit record commit together.
    const token = await inTransaction(ctx, async (tx) => {
      const created = await createChallenge(tx, {
        userId: user.id,
        agencyId: input.agency.id,
        method: input.method,
        purpose,
        returnTo: input.returnTo ?? null,
      });
      await audit(tx.db, { ...base, action: "auth.first_factor", details: { ...details, next: purpose } });
      return created;
    });
    setCookie(reply, request, "mfa", token, MFA_TTL_SECONDS);
    ctx.metrics.signIn(input.method, "mfa_required");
    return purpose === "verify" ? { kind: "mfa" } : { kind: "enroll" };
  }

  await startSession(ctx, request, reply, user, input.method, { ...base, action: "auth.sign_in", details });
  ctx.metrics.signIn(input.method, "success");
  return { kind: "session", user };
}
