/**
 * Sessions that Cloudflare Access started (SPEC §5: Cloudflare adds its assertion to EVERY request).
 *
 * Such a session lives only while Access still vouches for the same person: every request of the
 * session must carry a valid assertion (header, or the `CF_Authorization` cookie) for the session's
 * user, checked against the agency's enabled Cloudflare connection. No assertion, a refused one,
 * another person's, or no enabled connection any more → the session ends (fail closed). So a person
 * removed from the Access policy, or signed out of Access, is out of CoPilot at their next request.
 *
 * A verified assertion is remembered (SHA-256 of the token, per connection version) until its
 * `exp`: Cloudflare sends the same token for the life of the Access session, so a request usually
 * costs a hash and a map lookup, not a signature verification.
 */
import type { FastifyRequest } from "fastify";
import type { Agency } from "../agencies/agencies.js";
import type { AppContext } from "../context.js";
import { sha256Hex } from "../crypto/tokens.js";
import type { User } from "../users/users.js";
import {
  ASSERTION_COOKIE,
  ASSERTION_HEADER,
  CLOCK_SKEW_SECONDS,
  CloudflareAssertionError,
  unverifiedAudiences,
  verifyAccessAssertion,
} from "./cloudflare.js";
import { agencyConnections } from "./connections.js";
import { mapIdentity } from "./resolve-user.js";

export interface Assertion {
  token: string;
  source: "header" | "cookie";
}

/** The assertion Cloudflare added: the header first, the `CF_Authorization` cookie otherwise. */
export function readAssertion(request: FastifyRequest): Assertion | null {
  const raw = request.headers[ASSERTION_HEADER];
  const header = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (header) return { token: header, source: "header" };
  const cookie = request.cookies[ASSERTION_COOKIE]?.trim();
  if (cookie) return { token: cookie, source: "cookie" };
  return null;
}

/** The agency's enabled Cloudflare connection; with several, the one whose AUD tag the assertion names. */
export async function enabledConnection(ctx: AppContext, agency: Agency, token: string | null) {
  const rows = (await agencyConnections(ctx, agency.id)).filter(
    (r) => r.type === "cloudflare-access" && r.enabled,
  );
  if (rows.length <= 1 || !token) return rows[0] ?? null;
  const named = new Set(unverifiedAudiences(token));
  return rows.find((r) => r.audience !== null && named.has(r.audience)) ?? rows[0] ?? null;
}

export interface Vouched {
  /** `exp` of the assertion, seconds. */
  exp: number;
  remoteId: string | null;
  email: string | null;
}

const MAX_REMEMBERED = 10_000;

/**
 * Verified assertions by connection version and token hash, until their exp: one memo per
 * application context (ctx.cloudflareMemo), never shared by two apps in one process.
 */
export type CloudflareMemo = Map<string, Vouched>;

export function createCloudflareMemo(): CloudflareMemo {
  return new Map();
}

/** Who a verified assertion vouches for, as the connection's mapping reads it. */
async function vouchedBy(
  ctx: AppContext,
  row: Awaited<ReturnType<typeof enabledConnection>> & object,
  token: string,
): Promise<Vouched> {
  const key = `${row.id}:${row.config_version}:${sha256Hex(token)}`;
  const nowSeconds = Math.floor(ctx.now().getTime() / 1000);
  const remembered = ctx.cloudflareMemo;
  const hit = remembered.get(key);
  if (hit && hit.exp + CLOCK_SKEW_SECONDS > nowSeconds) return hit;
  remembered.delete(key);
  const claims = await verifyAccessAssertion(ctx, row, token);
  const mapped = mapIdentity(claims, row.mapping);
  const vouched: Vouched = {
    exp: Number(claims.exp),
    remoteId: mapped.ok ? mapped.identity.remoteId : null,
    email: mapped.ok ? (mapped.identity.email?.toLowerCase() ?? null) : null,
  };
  if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value as string);
  remembered.set(key, vouched);
  return vouched;
}

/**
 * Why this request may NOT continue the Cloudflare-started session of `user`, or null when Access
 * still vouches for that user. The cause is for the audit log (no token, no claim value).
 */
export async function cloudflareSessionProblem(
  ctx: AppContext,
  request: FastifyRequest,
  agency: Agency,
  user: User,
): Promise<string | null> {
  const assertion = readAssertion(request);
  if (!assertion) return "the request carried no Cloudflare Access assertion";
  const row = await enabledConnection(ctx, agency, assertion.token);
  if (!row) return "the agency has no enabled Cloudflare Access connection any more";
  const connection = `${row.id}:${row.config_version}`;
  const last = lastPassed.get(user);
  if (
    last?.token === assertion.token &&
    last.connection === connection &&
    last.exp + CLOCK_SKEW_SECONDS > Math.floor(ctx.now().getTime() / 1000)
  ) {
    return null;
  }
  let vouched: Vouched;
  try {
    vouched = await vouchedBy(ctx, row, assertion.token);
  } catch (err) {
    const check = err instanceof CloudflareAssertionError ? err.check : "signature";
    return `the request's Cloudflare Access assertion was refused (${check} check)`;
  }
  const sameEmail = vouched.email !== null && vouched.email === user.email.toLowerCase();
  // The Remote ID counts only through this connection's own link (README "SSO links").
  if (!sameEmail) {
    const link =
      vouched.remoteId === null
        ? undefined
        : await ctx.db
            .selectFrom("sso_identities")
            .select("user_id")
            .where("connection_id", "=", row.id)
            .where("remote_id", "=", vouched.remoteId)
            .executeTakeFirst();
    if (link?.user_id !== user.id) return "the Cloudflare Access assertion names another person";
  }
  lastPassed.set(user, {
    token: assertion.token,
    connection: `${row.id}:${row.config_version}`,
    exp: vouched.exp,
  });
  return null;
}

/**
 * The assertion that last passed for a user as the session read cache holds it (a frozen object
 * that lives a few seconds): Access sends the same token for the life of its session, so the next
 * request with that very token, under the same connection version and before its exp, needs no
 * hash or lookup. Kept only as long as that cache entry, never in the long-lived memo above.
 */
const lastPassed = new WeakMap<User, { token: string; connection: string; exp: number }>();
