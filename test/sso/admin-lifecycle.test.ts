// The SSO admin API (SPEC §3, §7, §11): connection validation, secrets, prerequisites, the
// test → enable → hide other methods → edit → expired cycle, deletion, the allowed-emails list,
// and one agency never reaching (or signing anyone in through) another agency's connection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agency } from "../../src/agencies/agencies.js";
import { prerequisiteProblems } from "../../src/sso/connections.js";
import { KINDS, kindDescriptions } from "../../src/sso/kinds/index.js";
import type { KindDescription } from "../../src/sso/kinds/wizard.js";
import { TEST_PASSWORD } from "../support/app.js";
import { Browser, signInAtIdp } from "../support/browser.js";
import { storages } from "../support/db.js";
import { type Idp, startIdp } from "../support/idp.js";
import { createSsoWorld, manualEndpoints, type SsoWorld, where } from "../support/sso.js";

describe.each(storages())("SSO administration (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let port: string;
  const conn = (extra: Record<string, unknown> = {}) => ({
    type: "oidc",
    name: "Acme IdP",
    clientId: idp.clientId,
    clientSecret: idp.clientSecret,
    discoveryUrl: idp.discoveryUrl,
    ...extra,
  });
  const settings = async () => (await w.api("GET", "/api/admin/sso")).json<any>().settings;
  const methods = async () => (await w.api("GET", "/api/auth/methods")).json<any>();

  /** Signs in with a password from a fresh browser. */
  async function passwordLogin(email: string, extra: Record<string, unknown> = {}) {
    const browser = new Browser();
    const res = await browser.postJson(`${w.origin}/api/auth/login`, {
      email,
      password: TEST_PASSWORD,
      ...extra,
    });
    await browser.close();
    return res;
  }

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    port = new URL(w.origin).port;
    idp = await startIdp({
      profile: "generic",
      redirectUris: [`${w.origin}/login/sso`],
      accounts: [
        { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true } },
        { sub: "user-noemail", claims: { name: "No Email" } },
      ],
    });
    w.watch(idp);
    await w.t.seedUser(w.agencyId, { email: "alice@acme.test", role: "admin" });
    await w.t.seedUser(w.agencyId, {
      email: "ann@acme.test",
      role: "analyst",
      subAccountIds: [w.subAccountId],
    });
  });
  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  describe("connection validation (422 naming the field)", () => {
    const invalid: Array<[string, Record<string, unknown>, string, RegExp?]> = [
      ["a missing clientId", { clientId: null }, "clientId"],
      ["a missing clientSecret", { clientSecret: undefined }, "clientSecret"],
      [
        "both a discovery URL and endpoints",
        { authorizationEndpoint: "http://127.0.0.1:1/auth" },
        "authorizationEndpoint",
      ],
      [
        "manual endpoints without jwksUri",
        {
          discoveryUrl: null,
          issuer: "http://127.0.0.1:1",
          authorizationEndpoint: "http://127.0.0.1:1/auth",
          tokenEndpoint: "http://127.0.0.1:1/token",
        },
        "jwksUri",
      ],
      ["no discovery URL and no endpoints", { discoveryUrl: null }, "discoveryUrl"],
      ["scopes without openid", { scopes: ["profile", "email"] }, "scopes", /must contain openid/],
      [
        "offline_access",
        { scopes: ["openid", "offline_access"] },
        "scopes",
        /offline_access is not supported/,
      ],
      ["a field of another type (teamDomain)", { teamDomain: "acme.cloudflareaccess.com" }, "teamDomain"],
      [
        "a field of another type (azureTenantId)",
        { azureTenantId: "6d3c6b0e-4f2a-4c8e-9a51-2b7f0c1d9e84" },
        "azureTenantId",
      ],
      ["an unknown field", { colour: "blue" }, "colour"],
      ["an empty Remote ID mapping", { mapping: { remoteIdField: "" } }, "mapping.remoteIdField"],
      ["no email nor id mapping", { mapping: { emailField: null } }, "mapping.emailField"],
      [
        "an unsupported auth method",
        { tokenEndpointAuthMethod: "private_key_jwt" },
        "tokenEndpointAuthMethod",
      ],
      ["a discovery URL that is not a URL", { discoveryUrl: "idp.example.com" }, "discoveryUrl"],
      ["an unknown type", { type: "ws-fed" }, "type"],
    ];
    it.each(invalid)("refuses %s", async (_name, patch, field, message) => {
      const res = await w.api("POST", "/api/admin/sso/connections", conn(patch));
      expect(res.status, res.body).toBe(422);
      const error = res.json<any>().error;
      expect(error.field).toBe(field);
      if (message) expect(error.message).toMatch(message);
    });

    it("refuses googleHostedDomain on an azure connection", async () => {
      const res = await w.api("POST", "/api/admin/sso/connections", {
        type: "azure",
        name: "x",
        clientId: "x",
        clientSecret: "y",
        azureTenantId: "6d3c6b0e-4f2a-4c8e-9a51-2b7f0c1d9e84",
        googleHostedDomain: "acme.example",
      });
      expect(res.status).toBe(422);
      expect(res.json<any>().error.field).toBe("googleHostedDomain");
    });

    it("accepts another redirect URL with a warning, and defaults it to the agency origin", async () => {
      const res = await w.api(
        "POST",
        "/api/admin/sso/connections",
        conn({ redirectUrl: "https://login.acme.example/callback" }),
      );
      expect(res.status).toBe(201);
      const body = res.json<any>();
      expect(body.connection.redirectUrl).toBe("https://login.acme.example/callback");
      expect(body.warnings).toHaveLength(1);
      expect(body.warnings[0]).toContain(`http://acme.localhost:${port}/login/sso`);
      const sso = (await w.api("GET", "/api/admin/sso")).json<any>();
      expect(sso.defaultRedirectUrl).toBe(`http://acme.localhost:${port}/login/sso`);
      expect((await w.api("DELETE", `/api/admin/sso/connections/${body.connection.id}`)).status).toBe(204);
    });

    it("refuses the cloud metadata address even where private IdP URLs are allowed", async () => {
      const { id } = await w.createConnection(
        conn({ discoveryUrl: "http://169.254.169.254/.well-known/openid-configuration" }),
      );
      const res = await w.api("POST", `/api/admin/sso/connections/${id}/tests`);
      expect(res.status).toBe(502);
      const test = (await w.api("GET", `/api/admin/sso/tests/${res.json<any>().error.testId}`)).json<any>()
        .test;
      expect(test).toMatchObject({ status: "failed", errorCode: "test_start_failed" });
      expect(test.diagnostic.detail).toContain("169.254.169.254 resolves to a blocked address");
      expect((await w.api("DELETE", `/api/admin/sso/connections/${id}`)).status).toBe(204);
    });

    it("works with manual endpoints instead of a discovery URL", async () => {
      const { id, body } = await w.createConnection(conn({ name: "Manual", ...manualEndpoints(idp) }));
      expect(body.connection.discoveryUrl).toBeNull();
      const test = await w.runTest(id, "user-alice");
      expect(test.status, JSON.stringify(test)).toBe("passed");
      expect((await w.api("DELETE", `/api/admin/sso/connections/${id}`)).status).toBe(204);
    });
  });

  describe("the setup wizard's description (GET /api/admin/sso/kinds)", () => {
    it("lists the five kinds with their steps, presets and fields, whole", async () => {
      const res = await w.api("GET", "/api/admin/sso/kinds");
      expect(res.status, res.body).toBe(200);
      const { kinds } = res.json<{ kinds: KindDescription[] }>();
      expect(kinds.map((k) => [k.type, k.label, k.steps.map((s) => s.title)])).toEqual([
        ["oidc", "OpenID Connect", ["Client ID & Secret", "OIDC Configuration", "User Details Mapping"]],
        ["azure", "Azure Entra ID", ["Client ID & Secret", "OIDC Configuration", "User Details Mapping"]],
        ["google", "Google", ["Client ID & Secret", "OIDC Configuration", "User Details Mapping"]],
        ["cloudflare-access", "Cloudflare Access", ["Team domain & Audience", "User Details Mapping"]],
        ["saml", "SAML 2.0", ["Connection", "SAML configuration", "User Details Mapping"]],
      ]);
      expect(kinds.flatMap((k) => k.presets.map((p) => p.label))).toEqual([
        "Generic OIDC",
        "Auth0",
        "Okta",
        "Azure Entra ID",
        "Google",
        "Cloudflare Access",
        "SAML 2.0",
        "Microsoft Entra ID (SAML)",
        "Okta (SAML)",
        "Google Workspace (SAML)",
      ]);
      const oidc = kinds[0]!;
      expect(oidc.steps[1]?.choice).toMatchObject({ name: "useConfigUrl", label: "Use OIDC Config URL" });
      expect(oidc.steps[1]?.fields.map((f) => [f.name, f.when ?? null])).toEqual([
        ["discoveryUrl", "yes"],
        ["issuer", "no"],
        ["authorizationEndpoint", "no"],
        ["tokenEndpoint", "no"],
        ["userinfoEndpoint", "no"],
        ["jwksUri", "no"],
        ["scopes", null],
        ["redirectUrl", null],
        ["tokenEndpointAuthMethod", null],
      ]);
      expect(kinds[1]?.steps[1]?.fields[0]?.derive).toEqual({
        from: "azureTenantId",
        template: "https://login.microsoftonline.com/TENANT_ID/v2.0/.well-known/openid-configuration",
        slot: "TENANT_ID",
      });
      for (const kind of kinds) {
        // Every field the wizard sends is one the kind takes; its mapping defaults are the kind's.
        const taken: string[] = ["name", ...KINDS[kind.type as keyof typeof KINDS].fields];
        for (const step of kind.steps) {
          for (const field of step.fields.filter((f) => f.input !== "fixed")) {
            expect(taken, `${kind.type}: ${field.name}`).toContain(field.name.split(".")[0]);
          }
        }
        expect(kind.defaultMapping).toEqual(KINDS[kind.type as keyof typeof KINDS].defaultMapping);
      }
      // The response schema keeps every property of the description (nothing is dropped on the way).
      expect(kinds).toEqual(JSON.parse(JSON.stringify(kindDescriptions())));
    });

    it("is for admins: an analyst gets 403, no session 401", async () => {
      const analyst = new Browser();
      const login = await analyst.postJson(`${w.origin}/api/auth/login`, {
        email: "ann@acme.test",
        password: TEST_PASSWORD,
      });
      expect(login.status, login.body).toBe(200);
      expect((await analyst.request("GET", `${w.origin}/api/admin/sso/kinds`)).status).toBe(403);
      await analyst.close();
      const anonymous = new Browser();
      expect((await anonymous.request("GET", `${w.origin}/api/admin/sso/kinds`)).status).toBe(401);
      await anonymous.close();
    });
  });

  describe("prerequisites (pro plan, whitelabel domain)", () => {
    it("answers 409 with the reason for a starter agency, and shows it in GET /api/admin/sso", async () => {
      const starter = await w.t.seedAgency({ slug: "small", domain: "small.localhost", plan: "starter" });
      await w.t.seedUser(starter.id, { email: "admin@small.test", role: "admin" });
      const origin = `http://small.localhost:${port}`;
      const admin = new Browser();
      expect(
        (
          await admin.postJson(`${origin}/api/auth/login`, {
            email: "admin@small.test",
            password: TEST_PASSWORD,
          })
        ).status,
      ).toBe(200);
      const post = await admin.postJson(`${origin}/api/admin/sso/connections`, conn());
      expect(post.status).toBe(409);
      expect(post.json<any>().error.message).toBe("Your agency must be on the Pro plan to use SSO.");
      const sso = (await admin.get(`${origin}/api/admin/sso`)).json<any>();
      expect(sso.prerequisites).toEqual({
        met: false,
        reasons: ["Your agency must be on the Pro plan to use SSO."],
      });
      const enable = await admin.postJson(
        `${origin}/api/admin/sso/settings`,
        { enabled: true },
        { method: "PUT" },
      );
      expect(enable.status).toBe(409);
      await admin.close();
    });

    it("names a missing whitelabel domain", () => {
      // Without a domain no host reaches the agency's admin API; the same check serves both.
      const reasons = prerequisiteProblems({ plan: "pro", domain: null } as Agency);
      expect(reasons).toEqual(["A whitelabel domain must be configured before SSO can be set up."]);
      expect(prerequisiteProblems({ plan: "starter", domain: null } as Agency)).toHaveLength(2);
    });
  });

  describe("test → enable → hide other methods → edit → expired → delete", () => {
    let id: string;

    it("cannot enable before a passed test, nor after a failed one", async () => {
      ({ id } = await w.createConnection(conn()));
      const before = await w.api("PUT", `/api/admin/sso/connections/${id}/enabled`, { enabled: true });
      expect(before.status).toBe(409);
      expect(before.json<any>().error.code).toBe("test_required");
      const failed = await w.runTest(id, "user-noemail");
      expect(failed.status).toBe("failed");
      expect((await w.api("PUT", `/api/admin/sso/connections/${id}/enabled`, { enabled: true })).status).toBe(
        409,
      );
      expect((await w.api("PUT", "/api/admin/sso/settings", { enabled: true })).status).toBe(409);
    });

    it("refuses to hide other methods while SSO is off", async () => {
      const res = await w.api("PUT", "/api/admin/sso/settings", { hideOtherLoginMethods: true });
      expect(res.status).toBe(409);
      expect(res.json<any>().error.field).toBe("hideOtherLoginMethods");
    });

    it("enables after a passed test, then SSO, then hides other methods", async () => {
      const test = await w.runTest(id, "user-alice");
      expect(test.status).toBe("passed");
      expect(test.startedBy.email).toBe("admin@acme.test");
      const tests = (await w.api("GET", `/api/admin/sso/connections/${id}/tests`)).json<any>().tests;
      expect(tests.map((t: { status: string }) => t.status)).toEqual(["passed", "failed"]);
      const enabled = await w.api("PUT", `/api/admin/sso/connections/${id}/enabled`, { enabled: true });
      expect(enabled.status).toBe(200);
      expect(enabled.json<any>().connection.enabled).toBe(true);
      expect((await w.api("PUT", "/api/admin/sso/settings", { enabled: true })).status).toBe(200);
      const hide = await w.api("PUT", "/api/admin/sso/settings", { hideOtherLoginMethods: true });
      expect(hide.json<any>().settings).toEqual({
        enabled: true,
        hideOtherLoginMethods: true,
        provisioning: "existing-users",
      });
      const m = await methods();
      expect(m).toMatchObject({ password: false, google: false, hideOtherLoginMethods: true });
      expect(m.sso).toEqual([{ id, name: "Acme IdP", type: "oidc" }]);
    });

    it("refuses password sign-in to analysts and audits the break-glass of admins", async () => {
      const analyst = await passwordLogin("ann@acme.test");
      expect(analyst.status).toBe(403);
      // Break-glass is for admins: anyone else is answered like a wrong password (nothing confirmed).
      expect((await passwordLogin("ann@acme.test", { breakGlass: true })).status).toBe(401);
      expect((await passwordLogin("admin@acme.test")).status).toBe(403);
      const glass = await passwordLogin("admin@acme.test", { breakGlass: true });
      expect(glass.status).toBe(200);
      const entries = await w.auditFor("auth.break_glass");
      expect(entries).toHaveLength(1);
      expect(entries[0]!.actor.label).toBe("admin@acme.test");
      // SSO itself still works.
      const { res } = await w.signIn(id, "user-alice");
      expect(where(res)).toBe("/");
    });

    it("keeps tests and the enabled state when a PUT changes nothing", async () => {
      const current = (await w.api("GET", `/api/admin/sso/connections/${id}`)).json<any>().connection;
      // Without the secret (kept), and with the same secret again.
      for (const body of [{ ...conn(), clientSecret: undefined }, conn()]) {
        const res = await w.api("PUT", `/api/admin/sso/connections/${id}`, body);
        expect(res.status).toBe(200);
        expect(res.json<any>().connection).toMatchObject({
          enabled: true,
          configVersion: current.configVersion,
          latestTest: { status: "passed" },
        });
      }
      expect((await settings()).hideOtherLoginMethods).toBe(true);
    });

    it("expires the tests of an edited connection, disables it and turns SSO off", async () => {
      const res = await w.api("PUT", `/api/admin/sso/connections/${id}`, {
        ...conn({ name: "Acme IdP (edited)", scopes: ["openid", "email"] }),
        clientSecret: undefined,
      });
      expect(res.status, res.body).toBe(200);
      const { connection } = res.json<any>();
      expect(connection).toMatchObject({
        enabled: false,
        hasSecret: true,
        latestTest: { status: "expired" },
      });
      const tests = (await w.api("GET", `/api/admin/sso/connections/${id}/tests`)).json<any>().tests;
      expect(new Set(tests.map((t: { status: string }) => t.status))).toEqual(new Set(["expired"]));
      expect(await settings()).toEqual({
        enabled: false,
        hideOtherLoginMethods: false,
        provisioning: "existing-users",
      });
      expect(await methods()).toMatchObject({ password: true, sso: [], hideOtherLoginMethods: false });
      expect((await passwordLogin("ann@acme.test")).status).toBe(200);
      const start = await new Browser().get(`${w.origin}/login/sso/start?connection=${id}`);
      expect(where(start)).toBe("/login?error=sso_failed");
    });

    it("cannot be enabled with only expired tests", async () => {
      const res = await w.api("PUT", `/api/admin/sso/connections/${id}/enabled`, { enabled: true });
      expect(res.status).toBe(409);
    });

    it("kept the secret through the edit: a new test passes and users sign in", async () => {
      const row = await w.t.ctx.db
        .selectFrom("sso_connections")
        .select("client_secret_enc")
        .where("id", "=", id)
        .executeTakeFirstOrThrow();
      expect(row.client_secret_enc).not.toContain(idp.clientSecret);
      await w.enable(id, "user-alice");
      const { res } = await w.signIn(id, "user-alice");
      expect(where(res)).toBe("/");
    });

    it("keeps SSO on while another enabled connection remains", async () => {
      const other = await w.createConnection(conn({ name: "Second" }));
      await w.enable(other.id, "user-alice");
      expect((await w.api("PUT", "/api/admin/sso/settings", { hideOtherLoginMethods: true })).status).toBe(
        200,
      );
      expect(
        (await w.api("PUT", `/api/admin/sso/connections/${other.id}`, conn({ name: "Second (edited)" })))
          .status,
      ).toBe(200);
      expect(await settings()).toMatchObject({ enabled: true, hideOtherLoginMethods: true });
      expect((await w.api("DELETE", `/api/admin/sso/connections/${other.id}`)).status).toBe(204);
      expect(await settings()).toMatchObject({ enabled: true, hideOtherLoginMethods: true });
    });

    it("resets the settings when the last connection is deleted", async () => {
      expect((await w.api("DELETE", `/api/admin/sso/connections/${id}`)).status).toBe(204);
      const sso = (await w.api("GET", "/api/admin/sso")).json<any>();
      expect(sso.connections).toEqual([]);
      expect(sso.settings).toMatchObject({ enabled: false, hideOtherLoginMethods: false });
      const [deleted] = await w.auditFor("sso.connection.delete");
      expect(deleted!.details.settingsReset).toBe(true);
      expect((await w.api("GET", `/api/admin/sso/connections/${id}`)).status).toBe(404);
      expect(
        await w.t.ctx.db.selectFrom("sso_tests").select("id").where("connection_id", "=", id).execute(),
      ).toEqual([]);
    });
  });

  describe("the allowed-emails list", () => {
    it("adds (role analyst by default), refuses duplicates, lists and deletes", async () => {
      const add = await w.api("POST", "/api/admin/sso/allowed-emails", { email: "Bob@Acme.test" });
      expect(add.status).toBe(201);
      const entry = add.json<any>().allowedEmail;
      expect(entry).toMatchObject({ email: "Bob@Acme.test", role: "analyst" });
      expect(Number.isNaN(Date.parse(entry.createdAt))).toBe(false);
      const dup = await w.api("POST", "/api/admin/sso/allowed-emails", {
        email: "bob@acme.test",
        role: "admin",
      });
      expect(dup.status).toBe(409);
      expect(dup.json<any>().error.field).toBe("email");
      expect((await w.api("POST", "/api/admin/sso/allowed-emails", { email: "not-an-email" })).status).toBe(
        422,
      );
      expect(
        (await w.api("POST", "/api/admin/sso/allowed-emails", { email: "c@acme.test", role: "owner" }))
          .status,
      ).toBe(422);
      const admin = await w.api("POST", "/api/admin/sso/allowed-emails", {
        email: "carol@acme.test",
        role: "admin",
      });
      expect(admin.json<any>().allowedEmail.role).toBe("admin");
      const list = (await w.api("GET", "/api/admin/sso/allowed-emails")).json<any>().allowedEmails;
      expect(list.map((e: { email: string }) => e.email).sort()).toEqual([
        "Bob@Acme.test",
        "carol@acme.test",
      ]);
      expect((await w.api("DELETE", `/api/admin/sso/allowed-emails/${entry.id}`)).status).toBe(204);
      expect((await w.api("DELETE", `/api/admin/sso/allowed-emails/${entry.id}`)).status).toBe(404);
      const after = (await w.api("GET", "/api/admin/sso/allowed-emails")).json<any>().allowedEmails;
      expect(after.map((e: { email: string }) => e.email)).toEqual(["carol@acme.test"]);
      const [removed] = await w.auditFor("sso.allowed_email.remove");
      expect(removed).toMatchObject({
        target: { type: "allowed_email", id: entry.id },
        details: { email: "Bob@Acme.test" },
      });
    });

    it("deletes a sub-account the same way: 204 audited with what was removed, then 404", async () => {
      const created = await w.api("POST", "/api/admin/sub-accounts", { name: "Short-lived" });
      expect(created.status, created.body).toBe(201);
      const { id } = created.json<any>().subAccount;
      expect((await w.api("DELETE", `/api/admin/sub-accounts/${id}`)).status).toBe(204);
      const again = await w.api("DELETE", `/api/admin/sub-accounts/${id}`);
      expect(again.status).toBe(404);
      expect(again.json<any>().error).toEqual({ code: "not_found", message: "Sub-account not found" });
      const [removed] = await w.auditFor("sub_account.delete");
      expect(removed).toMatchObject({
        target: { type: "sub_account", id },
        details: { name: "Short-lived" },
      });
    });
  });

  describe("isolation between agencies", () => {
    let connectionId: string;
    let testId: string;
    let allowedId: string;
    let beta: Browser;
    let betaOrigin: string;

    beforeAll(async () => {
      const created = await w.createConnection(conn({ name: "Acme only" }));
      connectionId = created.id;
      await w.enable(connectionId, "user-alice");
      testId = (await w.api("GET", `/api/admin/sso/connections/${connectionId}/tests`)).json<any>().tests[0]
        .id;
      allowedId = (await w.api("GET", "/api/admin/sso/allowed-emails")).json<any>().allowedEmails[0].id;
      const agency = await w.t.seedAgency({ slug: "beta", domain: "beta.localhost" });
      await w.t.seedUser(agency.id, { email: "admin@beta.test", role: "admin" });
      // Beta has the same person, so a cross-agency sign-in would have someone to sign in.
      await w.t.seedUser(agency.id, { email: "alice@acme.test", role: "admin" });
      betaOrigin = `http://beta.localhost:${port}`;
      beta = new Browser();
      expect(
        (
          await beta.postJson(`${betaOrigin}/api/auth/login`, {
            email: "admin@beta.test",
            password: TEST_PASSWORD,
          })
        ).status,
      ).toBe(200);
    });
    afterAll(async () => {
      await beta?.close();
    });

    it("answers 404 to another agency's admin on every route", async () => {
      const call = (method: string, path: string, body?: unknown) =>
        beta.postJson(`${betaOrigin}${path}`, body, { method });
      const base = `/api/admin/sso/connections/${connectionId}`;
      const responses = await Promise.all([
        call("GET", base),
        call("PUT", base, conn({ name: "Hijacked" })),
        call("POST", `${base}/tests`),
        call("GET", `${base}/tests`),
        call("PUT", `${base}/enabled`, { enabled: false }),
        call("GET", `/api/admin/sso/tests/${testId}`),
        call("DELETE", `/api/admin/sso/allowed-emails/${allowedId}`),
        call("DELETE", `/api/admin/sub-accounts/${w.subAccountId}`),
        call("DELETE", base),
      ]);
      expect(responses.map((r) => r.status)).toEqual([404, 404, 404, 404, 404, 404, 404, 404, 404]);
      const mine = (await call("GET", "/api/admin/sso")).json<any>();
      expect(mine.connections).toEqual([]);
      expect((await call("GET", "/api/admin/sso/allowed-emails")).json<any>().allowedEmails).toEqual([]);
      const still = (await w.api("GET", base)).json<any>().connection;
      expect(still).toMatchObject({ name: "Acme only", enabled: true });
    });

    it("never starts a sign-in with another agency's connection", async () => {
      const browser = new Browser();
      const res = await browser.get(`${betaOrigin}/login/sso/start?connection=${connectionId}`);
      expect(where(res)).toBe("/login?error=sso_failed");
      expect((await browser.get(`${betaOrigin}/api/auth/me`)).status).toBe(401);
      await browser.close();
    });

    it("never finishes another agency's flow on its host", async () => {
      const browser = new Browser();
      const res = await signInAtIdp(
        browser,
        `${w.origin}/login/sso/start?connection=${connectionId}`,
        "user-alice",
        {
          stopAtCallback: true,
        },
      );
      const callback = new URL(w.remember(res.location!));
      // Even with the binding cookie carried over to the other host.
      const binding = browser.jar.all().find((c) => c.name === "copilot_sso")!;
      browser.jar.setCookie(betaOrigin, `copilot_sso=${binding.value}; Path=/; HttpOnly`);
      const onBeta = await browser.get(`${betaOrigin}${callback.pathname}${callback.search}`);
      expect(where(onBeta)).toBe("/login?error=sso_failed");
      expect((await browser.get(`${betaOrigin}/api/auth/me`)).status).toBe(401);
      expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
      const [failure] = await beta
        .get(`${betaOrigin}/api/admin/audit?action=sso.sign_in&pageSize=5`)
        .then((r) => r.json<any>().entries);
      expect(failure.details.cause).toBe("the state's connection does not belong to this host's agency");
      await browser.close();
    });
  });

  it("never returns the client secret, and never writes a secret, code or token to the audit log", async () => {
    const everything = [
      (await w.api("GET", "/api/admin/sso")).body,
      ...(
        await Promise.all(
          (
            await w.api("GET", "/api/admin/sso")
          )
            .json<any>()
            .connections.map(async (c: { id: string }) => [
              (await w.api("GET", `/api/admin/sso/connections/${c.id}`)).body,
              (await w.api("GET", `/api/admin/sso/connections/${c.id}/tests`)).body,
            ]),
        )
      ).flat(),
      (await w.api("GET", "/api/admin/audit?pageSize=200")).body,
    ].join("\n");
    expect(everything).not.toContain(idp.clientSecret);
    await w.expectAuditClean();
  });
});
