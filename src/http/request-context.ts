/**
 * Per-request context: the agency of the Host header (SPEC §1 tenancy) and the signed-in user.
 * Guards are preHandlers a route opts into; nothing global decides who may do what.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { type Agency, findAgencyByDomain } from "../agencies/agencies.js";
import type { AppContext } from "../context.js";
import { SESSION_COOKIE, type ValidSession, validateSession } from "../sessions/sessions.js";
import { getUser, type User } from "../users/users.js";
import { forbidden, notFound, unauthorized } from "./errors.js";

declare module "fastify" {
  interface FastifyRequest {
    agency: Agency | null;
    auth: { user: User; session: ValidSession } | null;
  }
}

/** Resolves the agency from the Host header (whitelabel domain, port ignored). */
export async function resolveAgency(ctx: AppContext, request: FastifyRequest): Promise<Agency | null> {
  return findAgencyByDomain(ctx.db, request.hostname.toLowerCase());
}

/** The origin this request reached us on: the agency's origin when the host is its domain. */
export function requestOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

export function makeGuards(ctx: AppContext) {
  async function requireAgency(request: FastifyRequest): Promise<Agency> {
    if (!request.agency) throw notFound("No agency is configured for this host");
    return request.agency;
  }

  async function loadSession(request: FastifyRequest): Promise<void> {
    if (request.auth !== null) return;
    const token = request.cookies[SESSION_COOKIE];
    const agency = request.agency;
    if (!token || !agency) return;
    const session = await validateSession(ctx, token);
    if (!session || session.agencyId !== agency.id) return;
    const user = await getUser(ctx.db, agency.id, session.userId).catch(() => null);
    if (!user?.active) return;
    request.auth = { user, session };
  }

  async function requireSession(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    await requireAgency(request);
    await loadSession(request);
    if (!request.auth) throw unauthorized();
  }

  async function requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    await requireSession(request, reply);
    if (request.auth?.user.role !== "admin") throw forbidden("Only agency admins can do this");
  }

  return { requireAgency, loadSession, requireSession, requireAdmin };
}

export type Guards = ReturnType<typeof makeGuards>;
