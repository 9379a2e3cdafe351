import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from "react";
import { safeReturnTo as sharedSafeReturnTo } from "../../src/shared/return-to.js";

/** A tiny history-based router: pushState/replaceState + popstate. */

const LOCATION_EVENT = "copilot:locationchange";

function subscribe(onChange: () => void): () => void {
  window.addEventListener("popstate", onChange);
  window.addEventListener(LOCATION_EVENT, onChange);
  return () => {
    window.removeEventListener("popstate", onChange);
    window.removeEventListener(LOCATION_EVENT, onChange);
  };
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

export interface Location {
  pathname: string;
  search: string;
  query: URLSearchParams;
}

export function useLocation(): Location {
  const href = useSyncExternalStore(subscribe, snapshot, snapshot);
  const url = new URL(href, window.location.origin);
  return { pathname: url.pathname, search: url.search, query: url.searchParams };
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === snapshot() && !options.replace) return;
  if (options.replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event(LOCATION_EVENT));
  if (!options.replace) window.scrollTo(0, 0);
}

/**
 * Where to go after sign-in: the server's rule (src/shared/return-to.ts), against this page's
 * origin — a normalised same-origin path, or null.
 */
export function safeReturnTo(value: string | null | undefined): string | null {
  return sharedSafeReturnTo(value, window.location.origin);
}

/** Builds a path with a query string, skipping empty values. */
export function withQuery(path: string, params: Record<string, string | number | null | undefined>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, String(value));
  }
  const qs = query.toString();
  return qs ? `${path}?${qs}` : path;
}

export const CLIENT_ROUTES = [
  "/",
  "/login",
  "/login/2fa",
  "/login/2fa/enroll",
  "/settings/sso",
  "/settings/users",
  "/settings/tokens",
  "/settings/audit",
  "/settings/security",
  "/account",
] as const;

export type ClientRoute = (typeof CLIENT_ROUTES)[number];

/** The page of one connection trace (SPEC §17): `/settings/sso/traces/<id>`. */
const TRACE_PREFIX = "/settings/sso/traces/";

export function tracePath(id: string): string {
  return `${TRACE_PREFIX}${encodeURIComponent(id)}`;
}

/** The trace id of a `/settings/sso/traces/<id>` path, else null. */
export function traceIdOf(pathname: string): string | null {
  if (!pathname.startsWith(TRACE_PREFIX)) return null;
  const rest = pathname.slice(TRACE_PREFIX.length);
  if (!rest || rest.includes("/")) return null;
  try {
    return decodeURIComponent(rest);
  } catch {
    return null;
  }
}

/** Goes to a path: client-side when the app renders it, a full page load otherwise. */
export function goTo(path: string): void {
  const pathname = new URL(path, window.location.origin).pathname;
  if ((CLIENT_ROUTES as readonly string[]).includes(pathname)) navigate(path);
  else window.location.assign(path);
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

export function Link({ to, onClick, target, ...rest }: LinkProps) {
  function handleClick(event: MouseEvent<HTMLAnchorElement>) {
    onClick?.(event);
    if (
      event.defaultPrevented ||
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey ||
      event.altKey ||
      (target && target !== "_self")
    ) {
      return;
    }
    event.preventDefault();
    navigate(to);
  }
  return <a href={to} target={target} onClick={handleClick} {...rest} />;
}
