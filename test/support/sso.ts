// An SSO world for tests: a listening CoPilot with agency "acme" on acme.localhost, a signed-in
// admin browser, and helpers that drive the admin API and the browser flow against a real IdP.
import type { Logger } from "pino";
import { expect } from "vitest";
import { createTestApp, TEST_PASSWORD, type TestApp } from "./app.js";
import { Browser, type BrowserResponse, signInAtIdp } from "./browser.js";
import type { Storage } from "./db.js";
import { type Idp, type IdpAccount, type IdpOptions, startIdp, type TamperFn } from "./idp.js";

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

/** The fields of an OIDC connection that names the IdP's endpoints itself instead of a discovery URL. */
export function manualEndpoints(idp: Idp): Record<string, unknown> {
  return {
    discoveryUrl: null,
    issuer: idp.issuer,
    authorizationEndpoint: idp.endpoints.authorization,
    tokenEndpoint: idp.endpoints.token,
    userinfoEndpoint: idp.endpoints.userinfo,
    jwksUri: idp.endpoints.jwks,
  };
}

export interface SsoWorld {
  t: TestApp;
  origin: string;
  agencyId: string;
  subAccountId: string;
  admin: Browser;
  api(method: string, path: string, body?: unknown): Promise<BrowserResponse>;
  createConnection(body: Record<string, unknown>): Promise<{ id: string; body: Record<string, any> }>;
  /** Starts a generic OIDC test IdP with these accounts whose client redirects to this world's callback. */
  startIdp(accounts: IdpAccount[], options?: Omit<IdpOptions, "accounts" | "redirectUris">): Promise<Idp>;
  /**
   * Creates an OIDC connection ("Acme IdP", by discovery; `fields` replace or add to that body) to the
   * IdP and returns its id; with `enableAs`, then {@link SsoWorld.enable} with that login.
   */
  connectIdp(idp: Idp, options?: { enableAs?: string; fields?: Record<string, unknown> }): Promise<string>;
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
  /**
   * The browser (a fresh one by default) starts a sign-in through the connection and signs in at the
   * IdP as `login`, stopping before the callback: returns the callback URL (remembered), not requested.
   */
  toCallback(
    connectionId: string,
    login: string,
    browser?: Browser,
  ): Promise<{ callback: string; browser: Browser }>;
  auditFor(action: string): Promise<Array<Record<string, any>>>;
  /** The details of the newest failed SSO sign-in of the audit log (of any agency). */
  lastSignInFailure(): Promise<Record<string, unknown>>;
  /**
   * Values that must never reach the audit log: client secrets given to createConnection, and the
   * codes, states and tokens seen in flows (callbacks and the token responses of watched IdPs).
   */
  secrets: Set<string>;
  /** Records every token an IdP hands out (its `setTamper` keeps working, chained after it). */
  watch(idp: Idp): void;
  /** Records the code and state of a callback URL; returns the URL. */
  remember(callbackUrl: string): string;
  /** Fails when any audit row (of any agency) holds a recorded secret or anything shaped like a JWT. */
  expectAuditClean(): Promise<void>;
  close(): Promise<void>;
}

export async function createSsoWorld(
  storage: Storage,
  slug = "acme",
  env: Record<string, string> = {},
  options: { log?: Logger } = {},
): Promise<SsoWorld> {
  const t = await createTestApp(storage, env, { idpTimeoutMs: 1500, ...options });
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
    secrets: new Set<string>(),
    watch(idp) {
      const install = idp.setTamper.bind(idp);
      let inner: TamperFn | null = null;
      const record = (body: Record<string, unknown> | undefined) => {
        for (const k of ["access_token", "id_token", "refresh_token"]) {
          if (typeof body?.[k] === "string") world.secrets.add(body[k] as string);
        }
      };
      install(async (body, i) => {
        record(body);
        const out = inner ? ((await inner(body, i)) ?? body) : body;
        record(out);
        return out;
      });
      idp.setTamper = (fn) => {
        inner = fn;
      };
    },
    remember(callbackUrl) {
      const url = new URL(callbackUrl);
      for (const k of ["code", "state"]) {
        const v = url.searchParams.get(k);
        if (v && v.length >= 16) world.secrets.add(v);
      }
      return callbackUrl;
    },
    async expectAuditClean() {
      const rows = await t.ctx.db.selectFrom("audit_log").selectAll().execute();
      expect(rows.length).toBeGreaterThan(0);
      const text = JSON.stringify(rows);
      expect(text).not.toMatch(/eyJ[\w-]{8,}\.[\w-]{8,}\./); // a JWT (ID token, state JWS, …)
      for (const secret of world.secrets) {
        expect(text.includes(secret), `the audit log holds a secret (${secret.slice(0, 4)}…)`).toBe(false);
      }
    },
    async createConnection(body) {
      if (typeof body.clientSecret === "string") world.secrets.add(body.clientSecret);
      const res = await world.api("POST", "/api/admin/sso/connections", body);
      expect(res.status, res.body).toBe(201);
      const json = res.json<Record<string, any>>();
      return { id: json.connection.id, body: json };
    },
    startIdp: (accounts, idpOptions = {}) =>
      startIdp({ profile: "generic", ...idpOptions, redirectUris: [`${origin}/login/sso`], accounts }),
    async connectIdp(idp, { enableAs, fields = {} } = {}) {
      const { id } = await world.createConnection({
        type: "oidc",
        name: "Acme IdP",
        clientId: idp.clientId,
        clientSecret: idp.clientSecret,
        discoveryUrl: idp.discoveryUrl,
        ...fields,
      });
      if (enableAs !== undefined) await world.enable(id, enableAs);
      return id;
    },
    async runTest(connectionId, loginName) {
      const started = await world.api("POST", `/api/admin/sso/connections/${connectionId}/tests`);
      expect(started.status, started.body).toBe(201);
      const { authorizationUrl, test } = started.json<{ authorizationUrl: string; test: { id: string } }>();
      forgetIdpSession(admin);
      const back = await signInAtIdp(admin, authorizationUrl, loginName);
      world.remember(back.url);
      expect(back.status).toBe(302);
      expect(where(back)).toBe(`/settings/sso?test=${test.id}`);
      const res = await world.api("GET", `/api/admin/sso/tests/${test.id}`);
      expect(res.status, res.body).toBe(200);
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
      world.remember(res.url);
      return { res, browser };
    },
    async toCallback(connectionId, loginName, browser = new Browser()) {
      const res = await signInAtIdp(
        browser,
        `${origin}/login/sso/start?connection=${connectionId}`,
        loginName,
        {
          stopAtCallback: true,
        },
      );
      expect(res.location, res.body).toContain("/login/sso?");
      return { callback: world.remember(res.location!), browser };
    },
    async auditFor(action) {
      const res = await world.api("GET", `/api/admin/audit?action=${encodeURIComponent(action)}&pageSize=50`);
      return res.json<{ entries: Array<Record<string, any>> }>().entries;
    },
    async lastSignInFailure() {
      const row = await t.ctx.db
        .selectFrom("audit_log")
        .select(["details"])
        .where("action", "=", "sso.sign_in")
        .where("outcome", "=", "failure")
        .orderBy("id", "desc")
        .limit(1)
        .executeTakeFirstOrThrow();
      return row.details as Record<string, unknown>;
    },
    async close() {
      await admin.close();
      await t.close();
    },
  };
  return world;
}
