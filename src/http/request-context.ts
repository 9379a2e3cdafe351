/**
 * Per-request context: the agency of the Host header (SPEC §1 tenancy) and the signed-in user.
 * Guards are preHandlers a route opts into; nothing global decides who may do what.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { type Agency, findAgencyByDomain } from "../agencies/agencies.js";
import { audit } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import { sha256Hex as tokenHash } from "../crypto/tokens.js";
import { readCachesOf } from "../db/read-cache.js";
import { revokeSession, type ValidSession, validateSession } from "../sessions/sessions.js";
import { authorizationProblem } from "../sessions/sign-in.js";
import { cloudflareSessionProblem } from "../sso/cloudflare-session.js";
import { getUser, type User } from "../users/users.js";
import { readCookie } from "./cookies.js";
import { AppError, forbidden, notFound, unauthorized } from "./errors.js";

declare module "fastify" {
  interface FastifyRequest {
    agency: Agency | null;
    auth: { user: User; session: ValidSession } | null;
  }
}

/** The origin this request reached us on: the agency's origin when the host is its domain. */
/** What the session guards hand a handler: the request's agency and its signed-in user. */
export interface SignedIn {
  agency: Agency;
  user: User;
  session: ValidSession;
}

export function requestOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/**
 * Values handed out by the read caches are shared by every request until the cache drops them: they
 * are frozen, so that code changing one in place fails at once instead of leaking the change into
 * other requests (and into anything memoised per value, such as /api/auth/me's body).
 */
function frozen<T>(value: T): T {
  return value === null || typeof value !== "object" ? value : Object.freeze(value);
}

export function makeGuards(ctx: AppContext) {
  const caches = readCachesOf(ctx.db);
  const agencies = caches.create<Agency | null>(["agencies"]);
  const sessions = caches.create<{ session: ValidSession; user: User }>(["sessions", "users", "memberships"]);

  /** Resolves the agency from the Host header (whitelabel domain, port ignored). */
  async function resolveAgency(request: FastifyRequest): Promise<Agency | null> {
    const host = request.hostname.toLowerCase();
    return agencies.through(host, async () => frozen(await findAgencyByDomain(ctx.db, host)));
  }

  /** The request's agency, or 404 (thrown at once: the session guards' hot path awaits nothing for it). */
  function agencyOf(request: FastifyRequest): Agency {
    if (!request.agency) throw notFound("No agency is configured for this host");
    return request.agency;
  }

  async function requireAgency(request: FastifyRequest): Promise<Agency> {
    return agencyOf(request);
  }

  async function loadSession(request: FastifyRequest): Promise<void> {
    if (request.auth !== null) return;
    const token = readCookie(request, "session");
    const agency = request.agency;
    if (!token || !agency) return;
    const key = tokenHash(token);
    const now = ctx.now();
    // A cached session past its idle or absolute expiry goes back to the database (which slides
    // the idle expiry of a live session, and removes an expired one). A live cached one is used as
    // it is (one lookup, no await: this runs on every authenticated request).
    let cached = sessions.get(key);
    if (cached && (cached.session.idleExpiresAt <= now || cached.session.absoluteExpiresAt <= now)) {
      sessions.delete(key);
      cached = undefined;
    }
    const entry =
      cached ??
      (await sessions.through(key, async () => {
        const session = await validateSession(ctx, token);
        if (!session) return undefined;
        // A user that is gone ends the session; a database that is gone is an outage (503), not a sign-out.
        const user = await getUser(ctx.db, session.agencyId, session.userId).catch((err: unknown) => {
          if (err instanceof AppError) return null;
          throw err;
        });
        if (!user) return undefined;
        Object.freeze(user.subAccountIds);
        return { session: frozen(session), user: frozen(user) };
      }));
    if (!entry) return;
    const { session, user } = entry;
    // Deactivated, or an analyst without a sub-account (SPEC §1): no longer signed in.
    if (session.agencyId !== agency.id || authorizationProblem(user)) return;
    if (session.method === "cloudflare") {
      const problem = await cloudflareSessionProblem(ctx, request, agency, user);
      if (problem) {
        await endSession(request, token, session, user, problem);
        return;
      }
    }
    request.auth = { user, session };
  }

  /** A session that may not continue: it is revoked (not merely skipped) and the reason audited. */
  async function endSession(
    request: FastifyRequest,
    token: string,
    session: ValidSession,
    user: User,
    cause: string,
  ): Promise<void> {
    await revokeSession(ctx.db, token);
    request.log.info({ sessionMethod: session.method, cause }, "session ended");
    await audit(ctx.db, {
      agencyId: session.agencyId,
      action: "auth.session_end",
      outcome: "failure",
      actor: { type: "user", id: user.id, label: user.email },
      target: { type: "user", id: user.id },
      ip: request.ip,
      details: { method: session.method, cause },
    });
  }

  /**
   * The signed-in user of the request's agency, or 401. As a preHandler it guards a route; called
   * again from the handler (it is idempotent: the session is loaded once per request) it hands the
   * handler the typed values instead of a `request.auth!` assertion.
   */
  async function requireSession(request: FastifyRequest, _reply?: FastifyReply): Promise<SignedIn> {
    const agency = agencyOf(request);
    if (request.auth === null) await loadSession(request);
    if (!request.auth) throw unauthorized();
    return { agency, user: request.auth.user, session: request.auth.session };
  }

  /** As requireSession, and the user is an admin of the agency (else 403). */
  async function requireAdmin(request: FastifyRequest, reply?: FastifyReply): Promise<SignedIn> {
    const signedIn = await requireSession(request, reply);
    if (signedIn.user.role !== "admin") throw forbidden("Only agency admins can do this");
    return signedIn;
  }

  return { resolveAgency, requireAgency, loadSession, requireSession, requireAdmin };
}

export type Guards = ReturnType<typeof makeGuards>;
