// An SSO world for tests: a listening CoPilot with agency "acme" on acme.localhost, a signed-in
// admin browser, and helpers that drive the admin API and the browser flow against a real IdP.
import { expect } from "vitest";
import { createTestApp, TEST_PASSWORD, type TestApp } from "./app.js";
import { Browser, type BrowserResponse, signInAtIdp } from "./browser.js";
import type { Storage } from "./db.js";

/** The path and query a redirect points to. */
export function where(res: BrowserResponse): string {
  if (!res.location) return `(no redirect: ${res.status})`;
  const url = new URL(res.location, "http://placeholder");
  return url.pathname + url.search;
}

/** Signs the browser out of the loopback IdPs (their cookies live on 127.0.0.1). */
export function forgetIdpSession(browser: Browser): void {
  for (const c of browser.jar.all()) if (c.domain === "127.0.0.1") browser.jar.delete(c.name, c.domain);
}

export interface SsoWorld {
  t: TestApp;
  origin: string;
  agencyId: string;
  subAccountId: string;
  admin: Browser;
  api(method: string, path: string, body?: unknown): Promise<BrowserResponse>;
  createConnection(body: Record<string, unknown>): Promise<{ id: string; body: Record<string, any> }>;
  /** Start a test, sign in at the IdP as `login`, return the finished test. */
  runTest(connectionId: string, login: string): Promise<Record<string, any>>;
  /** Passed test → connection enabled → SSO enabled. */
  enable(connectionId: string, login: string): Promise<void>;
  /** A fresh browser signs in through the connection; returns the callback response and the browser. */
  signIn(
    connectionId: string,
    login: string,
    browser?: Browser,
  ): Promise<{ res: BrowserResponse; browser: Browser }>;
  auditFor(action: string): Promise<Array<Record<string, any>>>;
  close(): Promise<void>;
}

export async function createSsoWorld(storage: Storage, slug = "acme"): Promise<SsoWorld> {
  const t = await createTestApp(storage, {}, { idpTimeoutMs: 1500 });
  const base = await t.listen();
  const port = new URL(base).port;
  const origin = `http://${slug}.localhost:${port}`;
  const agency = await t.seedAgency({ slug, domain: `${slug}.localhost` });
  const subAccountId = await t.seedSubAccount(agency.id, "Main");
  await t.seedUser(agency.id, { email: `admin@${slug}.test`, role: "admin" });
  const admin = new Browser();
  const login = await admin.postJson(`${origin}/api/auth/login`, {
    email: `admin@${slug}.test`,
    password: TEST_PASSWORD,
  });
  expect(login.status).toBe(200);

  const world: SsoWorld = {
    t,
    origin,
    agencyId: agency.id,
    subAccountId,
    admin,
    api: (method, path, body) => admin.postJson(`${origin}${path}`, body, { method }),
    async createConnection(body) {
      const res = await world.api("POST", "/api/admin/sso/connections", body);
      expect(res.status, res.body).toBe(201);
      const json = res.json<Record<string, any>>();
      return { id: json.connection.id, body: json };
    },
    async runTest(connectionId, loginName) {
      const started = await world.api("POST", `/api/admin/sso/connections/${connectionId}/tests`);
      expect(started.status, started.body).toBe(201);
      const { authorizationUrl, test } = started.json<{ authorizationUrl: string; test: { id: string } }>();
      forgetIdpSession(admin);
      const back = await signInAtIdp(admin, authorizationUrl, loginName);
      expect(back.status).toBe(302);
      expect(where(back)).toBe(`/settings/sso?test=${test.id}`);
      const res = await world.api("GET", `/api/admin/sso/tests/${test.id}`);
      return res.json<{ test: Record<string, any> }>().test;
    },
    async enable(connectionId, loginName) {
      const test = await world.runTest(connectionId, loginName);
      expect(test.status, JSON.stringify(test)).toBe("passed");
      expect(
        (await world.api("PUT", `/api/admin/sso/connections/${connectionId}/enabled`, { enabled: true }))
          .status,
      ).toBe(200);
      expect((await world.api("PUT", "/api/admin/sso/settings", { enabled: true })).status).toBe(200);
    },
    async signIn(connectionId, loginName, browser = new Browser()) {
      forgetIdpSession(browser);
      const res = await signInAtIdp(
        browser,
        `${origin}/login/sso/start?connection=${connectionId}`,
        loginName,
      );
      return { res, browser };
    },
    async auditFor(action) {
      const res = await world.api("GET", `/api/admin/audit?action=${encodeURIComponent(action)}&pageSize=50`);
      return res.json<{ entries: Array<Record<string, any>> }>().entries;
    },
    async close() {
      await admin.close();
      await t.close();
    },
  };
  return world;
}
