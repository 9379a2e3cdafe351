// Shared steps of the Cloudflare Access suites: a connection on a fake team domain, its §7 test
// run from the admin's browser, and sign-in attempts through GET /login/sso/cloudflare.
import { expect } from "vitest";
import type { TestView } from "../../src/sso/tests.js";
import { Browser, type BrowserResponse } from "../support/browser.js";
import type { FakeCloudflareAccess } from "../support/cloudflare.js";
import { type SsoWorld, where } from "../support/sso.js";

export const LOGIN_PATH = "/login/sso/cloudflare";
export const FAILED = "/login?error=cloudflare_failed";

/** Claims of a person at Cloudflare Access: a stable `sub` per email (the Remote ID). */
export function person(email: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { email, sub: `cf-${email}`, ...extra };
}

/** Seconds since the epoch on the app's clock (tests move it). */
export function nowSeconds(w: SsoWorld): number {
  return Math.floor(w.t.ctx.now().getTime() / 1000);
}

export async function createCloudflareConnection(w: SsoWorld, cf: FakeCloudflareAccess) {
  const { id, body } = await w.createConnection({
    type: "cloudflare-access",
    name: "Cloudflare Access",
    teamDomain: cf.teamDomain,
    audience: cf.audTag,
  });
  expect(body.connection).toMatchObject({
    type: "cloudflare-access",
    teamDomain: cf.teamDomain,
    hasSecret: false,
  });
  return { id, body };
}

/** Starts a §7 test; returns its id and the URL the admin's browser is sent to. */
export async function startTest(w: SsoWorld, connectionId: string) {
  const started = await w.api("POST", `/api/admin/sso/connections/${connectionId}/tests`);
  expect(started.status, started.body).toBe(201);
  const { authorizationUrl, test } = started.json<{ authorizationUrl: string; test: { id: string } }>();
  expect(authorizationUrl).toBe(`${LOGIN_PATH}?test=${test.id}`);
  return { testId: test.id, url: new URL(authorizationUrl, w.origin).href };
}

export async function getTest(w: SsoWorld, testId: string) {
  const res = await w.api("GET", `/api/admin/sso/tests/${testId}`);
  expect(res.status).toBe(200);
  return res.json<{ test: TestView }>().test;
}

/** Runs a test from the admin's browser behind Access, with `token` as the assertion (or none). */
export async function runTest(w: SsoWorld, connectionId: string, token: string | null) {
  const { testId, url } = await startTest(w, connectionId);
  const res = await w.admin.get(url, { headers: token ? { "cf-access-jwt-assertion": token } : {} });
  expect(res.status).toBe(302);
  expect(where(res)).toBe(`/settings/sso?test=${testId}`);
  return getTest(w, testId);
}

/** Passed test → connection enabled → the agency's SSO on. */
export async function enableWithTest(w: SsoWorld, connectionId: string, token: string) {
  const test = await runTest(w, connectionId, token);
  expect(test.status, JSON.stringify(test)).toBe("passed");
  const enabled = await w.api("PUT", `/api/admin/sso/connections/${connectionId}/enabled`, { enabled: true });
  expect(enabled.status, enabled.body).toBe(200);
  const settings = await w.api("PUT", "/api/admin/sso/settings", { enabled: true });
  expect(settings.status, settings.body).toBe(200);
  return test;
}

export interface AttemptOptions {
  /** Sent as the `CF_Authorization` cookie. */
  cookie?: string;
  accept?: string;
  query?: string;
  browser?: Browser;
}

/** A fresh browser behind Access: GET /login/sso/cloudflare with `token` in the header (or none). */
export async function attempt(
  w: SsoWorld,
  token: string | null,
  options: AttemptOptions = {},
): Promise<{ res: BrowserResponse; browser: Browser }> {
  const browser = options.browser ?? new Browser();
  if (options.cookie !== undefined)
    browser.jar.setCookie(w.origin, `CF_Authorization=${options.cookie}; Path=/`);
  const headers: Record<string, string> = {};
  if (token !== null) headers["cf-access-jwt-assertion"] = token;
  if (options.accept) headers.accept = options.accept;
  const res = await browser.get(`${w.origin}${LOGIN_PATH}${options.query ?? ""}`, { headers });
  if (token !== null) behindAccess.set(browser, token);
  return { res, browser };
}

/** The assertion Cloudflare keeps adding to every request of a browser behind Access (SPEC §5). */
const behindAccess = new WeakMap<Browser, string>();

/** The header Cloudflare adds to this browser's requests (none for a browser not behind Access). */
export function accessHeaders(browser: Browser): Record<string, string> {
  const token = behindAccess.get(browser);
  return token ? { "cf-access-jwt-assertion": token } : {};
}

export async function expectSignedIn(w: SsoWorld, browser: Browser, email: string) {
  const me = await browser.get(`${w.origin}/api/auth/me`, { headers: accessHeaders(browser) });
  expect(me.status, me.body).toBe(200);
  expect(me.json<{ user: { email: string } }>().user.email).toBe(email);
}

export async function expectNoSession(w: SsoWorld, browser: Browser) {
  expect(browser.jar.get(w.origin, "copilot_session")).toBeUndefined();
  const me = await browser.get(`${w.origin}/api/auth/me`, { headers: accessHeaders(browser) });
  expect(me.status).toBe(401);
}

/** The id of the newest audit entry of an action (to spot the entry an attempt adds). */
export async function newestAuditId(w: SsoWorld, action: string): Promise<unknown> {
  return (await w.auditFor(action))[0]?.id ?? null;
}

/** The one entry an attempt added, newer than `before`. */
export async function newAuditEntry(w: SsoWorld, action: string, before: unknown) {
  const entries = await w.auditFor(action);
  const entry = entries[0];
  expect(entry, `no ${action} audit entry`).toBeDefined();
  expect(entry!.id).not.toBe(before);
  return entry!;
}
