/**
 * CoPilot's own browser cookies — the session, the pending 2FA sign-in and the SSO browser
 * binding — named, set, read and cleared in one place, by the request's scheme:
 *
 *   - https: `__Host-copilot_session`, `__Host-copilot_mfa`, `__Host-copilot_sso`. The `__Host-`
 *     prefix (RFC 6265bis §4.1.3.2) makes browsers accept the cookie only when it is Secure, has
 *     Path=/ and no Domain, and only from a secure origin: no other host of the same site (a
 *     sibling subdomain, a plain-http page) can set or overwrite it. Only the prefixed name is
 *     read, so a same-named cookie planted without the prefix is ignored.
 *   - http (development on localhost): the prefix needs Secure, so the names stay unprefixed.
 *
 * All are HttpOnly and SameSite=Lax (SPEC §2). "https" is Fastify's `request.protocol`: the
 * socket's TLS, or `X-Forwarded-Proto` from a trusted proxy (TRUST_PROXY).
 */
import type { FastifyReply, FastifyRequest } from "fastify";

export type CookieKind = "session" | "mfa" | "binding";

/** The names on plain http; https adds the `__Host-` prefix. */
export const COOKIE_BASE_NAMES: Readonly<Record<CookieKind, string>> = Object.freeze({
  session: "copilot_session",
  mfa: "copilot_mfa",
  binding: "copilot_sso",
});

const HOST_PREFIX = "__Host-";

export function isHttps(request: FastifyRequest): boolean {
  return request.protocol === "https";
}

/** The cookie's name for a scheme: the one function every reference to a cookie name goes through. */
export function cookieName(kind: CookieKind, https: boolean): string {
  return https ? `${HOST_PREFIX}${COOKIE_BASE_NAMES[kind]}` : COOKIE_BASE_NAMES[kind];
}

/** The cookie's name for this request's scheme. */
export function requestCookieName(request: FastifyRequest, kind: CookieKind): string {
  return cookieName(kind, isHttps(request));
}

/** The cookie's value sent with this request (under this scheme's name only). */
export function readCookie(request: FastifyRequest, kind: CookieKind): string | undefined {
  return request.cookies[requestCookieName(request, kind)];
}

export function setCookie(
  reply: FastifyReply,
  request: FastifyRequest,
  kind: CookieKind,
  value: string,
  maxAgeSeconds: number,
): void {
  const https = isHttps(request);
  reply.setCookie(cookieName(kind, https), value, {
    path: "/",
    httpOnly: true,
    sameSite: "lax",
    secure: https,
    maxAge: maxAgeSeconds,
  });
}

export function clearCookie(reply: FastifyReply, request: FastifyRequest, kind: CookieKind): void {
  const https = isHttps(request);
  reply.clearCookie(cookieName(kind, https), { path: "/", httpOnly: true, sameSite: "lax", secure: https });
}
