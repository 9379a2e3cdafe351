/**
 * The SSO browser binding cookie (login CSRF: RFC 9700 §4.7.1; OIDC Core §15.5.2).
 *
 * Every flow start (login, admin test, Google) mints a fresh value on the server
 * (`issueBrowserBinding`: random + MAC under the state secret) and binds its state to it; a value
 * already in the browser is never reused, so one planted there (from a related domain, or by an
 * attacker who knows it) binds nothing. The cookie keeps the values of the browser's last
 * MAX_PENDING_FLOWS starts, `.`-separated, so several tabs can have flows in flight at once; an
 * entry the server did not mint is dropped when read. A callback whose state matched consumes its
 * entry: a state is usable once per browser, the other tabs' flows stay usable.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../context.js";
import { clearCookie, readCookie, setCookie } from "../http/cookies.js";
import { isIssuedBrowserBinding, issueBrowserBinding } from "./state.js";

/** How many flows one browser may have in flight (oldest dropped first). */
export const MAX_PENDING_FLOWS = 5;
/** The cookie outlives the state (10 minutes) a little. */
export const BINDING_TTL_SECONDS = 15 * 60;

const SEPARATOR = ".";

/** The browser's binding values that this server issued (newest first). */
export function browserBindings(ctx: AppContext, request: FastifyRequest): string[] {
  const raw = readCookie(request, "binding");
  if (!raw || raw.length > 64 * MAX_PENDING_FLOWS) return [];
  return raw
    .split(SEPARATOR)
    .filter((value) => isIssuedBrowserBinding(ctx.stateKeys, value))
    .slice(0, MAX_PENDING_FLOWS);
}

/** A fresh binding value for a flow starting now, added to the browser's cookie. */
export function startBrowserBinding(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): string {
  const value = issueBrowserBinding(ctx.stateKeys);
  const kept = browserBindings(ctx, request).slice(0, MAX_PENDING_FLOWS - 1);
  setCookie(reply, request, "binding", [value, ...kept].join(SEPARATOR), BINDING_TTL_SECONDS);
  return value;
}

/** Removes a used value from the browser's cookie (the callback of its flow arrived). */
export function consumeBrowserBinding(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  used: string,
): void {
  const left = browserBindings(ctx, request).filter((value) => value !== used);
  if (left.length === 0) clearCookie(reply, request, "binding");
  else setCookie(reply, request, "binding", left.join(SEPARATOR), BINDING_TTL_SECONDS);
}
