import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_PASSWORD } from "../support/app.js";
import { Browser } from "../support/browser.js";
import { storages } from "../support/db.js";
import { type Idp, startIdp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

describe.each(storages())("OIDC sign-in with a generic IdP (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let connectionId: string;

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    idp = await startIdp({
      profile: "generic",
      redirectUris: [`${w.origin}/login/sso`],
      accounts: [
        { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true, name: "Alice" } },
        { sub: "user-bob", claims: { email: "bob@acme.test", email_verified: true, name: "Bob" } },
        { sub: "user-unverified", claims: { email: "eve@acme.test", email_verified: false } },
        { sub: "user-noemail", claims: { name: "No Email" } },
        { sub: "user-stranger", claims: { email: "stranger@acme.test", email_verified: true } },
      ],
    });
    w.watch(idp);
    await w.t.seedUser(w.agencyId, {
      email: "alice@acme.test",
      role: "analyst",
      subAccountIds: [w.subAccountId],
    });
    await w.t.seedUser(w.agencyId, { email: "bob@acme.test", role: "analyst" }); // no sub-account
    await w.t.seedUser(w.agencyId, { email: "eve@acme.test", role: "admin" });
    // The SPEC §11 shape: every field present, those of other types null.
    const { id, body } = await w.createConnection({
      type: "oidc",
      name: "Acme IdP",
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      discoveryUrl: idp.discoveryUrl,
      issuer: null,
      authorizationEndpoint: null,
      tokenEndpoint: null,
      userinfoEndpoint: null,
      jwksUri: null,
      scopes: ["openid", "profile", "email"],
      redirectUrl: null,
      tokenEndpointAuthMethod: "client_secret_basic",
      mapping: {
        remoteIdField: "sub",
        idField: null,
        emailField: "email",
        emailVerifiedField: "email_verified",
        nameField: "name",
      },
      azureTenantId: null,
      googleHostedDomain: null,
      teamDomain: null,
      audience: null,
    });
    connectionId = id;
    expect(body.connection.redirectUrl).toBe(`${w.origin}/login/sso`);
    expect(body.connection.hasSecret).toBe(true);
    expect(JSON.stringify(body)).not.toContain(idp.clientSecret);
    expect(body.warnings).toEqual([]);
  });
  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  it("cannot be enabled before a passed test", async () => {
    const res = await w.api("PUT", `/api/admin/sso/connections/${connectionId}/enabled`, { enabled: true });
    expect(res.status).toBe(409);
    const settings = await w.api("PUT", "/api/admin/sso/settings", { enabled: true });
    expect(settings.status).toBe(409);
  });

  it("runs a test that passes and names the matched user and the claims", async () => {
    const test = await w.runTest(connectionId, "user-alice");
    expect(test.status).toBe("passed");
    expect(test.diagnostic.claimNames).toEqual(expect.arrayContaining(["sub", "email", "email_verified"]));
    expect(JSON.stringify(test)).not.toContain("alice@acme.test");
    const alice = await w.t.ctx.db
      .selectFrom("users")
      .select(["id", "external_user_id"])
      .where("email", "=", "alice@acme.test")
      .executeTakeFirstOrThrow();
    expect(test.matchedUserId).toBe(alice.id);
    expect(alice.external_user_id).toBeNull(); // a test changes nothing
  });

  it("records a failed test with the §4 message and the step", async () => {
    const test = await w.runTest(connectionId, "user-noemail");
    expect(test.status).toBe("failed");
    expect(test.errorCode).toBe("email_or_id_missing");
    expect(test.message).toBe("emailField or idField is not configured properly, please contact your admin.");
    expect(test.diagnostic.step).toBe("mapping");
  });

  it("signs a user in after enabling, links the Remote ID, and honours returnTo", async () => {
    await w.enable(connectionId, "user-alice");
    const methods = await w.api("GET", "/api/auth/methods");
    expect(methods.json<any>().sso).toEqual([{ id: connectionId, name: "Acme IdP", type: "oidc" }]);

    const browser = new Browser();
    const { signInAtIdp } = await import("../support/browser.js");
    const res = await signInAtIdp(
      browser,
      `${w.origin}/login/sso/start?connection=${connectionId}&returnTo=/settings/users`,
      "user-alice",
    );
    expect(res.status).toBe(302);
    expect(where(res)).toBe("/settings/users");
    const me = await browser.get(`${w.origin}/api/auth/me`);
    expect(me.status).toBe(200);
    expect(me.json<any>().user.email).toBe("alice@acme.test");
    expect(me.json<any>().user.externalUserId).toBe("user-alice");
    const entries = await w.auditFor("auth.sign_in");
    expect(entries[0]!.outcome).toBe("success");
    expect(entries[0]!.details.method).toBe("sso");
  });

  it("refuses an unsafe returnTo and lands on /", async () => {
    const { signInAtIdp } = await import("../support/browser.js");
    const res = await signInAtIdp(
      new Browser(),
      `${w.origin}/login/sso/start?connection=${connectionId}&returnTo=//evil.example/x`,
      "user-alice",
    );
    expect(where(res)).toBe("/");
  });

  it("follows an email change at the IdP on the next sign-in", async () => {
    idp.patchClaims("user-alice", { email: "alice.new@acme.test" });
    const { res, browser } = await w.signIn(connectionId, "user-alice");
    expect(where(res)).toBe("/");
    const me = await browser.get(`${w.origin}/api/auth/me`);
    expect(me.json<any>().user.email).toBe("alice.new@acme.test");
    idp.patchClaims("user-alice", { email: "alice@acme.test" });
  });

  const failures: Array<[string, string, string]> = [
    ["user-unverified", "email_not_verified", "Email is not verified, please contact your admin."],
    [
      "user-noemail",
      "email_or_id_missing",
      "emailField or idField is not configured properly, please contact your admin.",
    ],
    ["user-stranger", "user_not_found", "No user found with this email."],
    [
      "user-bob",
      "not_authorized",
      "You are not authorized to access this account. Please contact your admin.",
    ],
  ];
  it.each(failures)("ends %s at /login?error=%s with an audit entry", async (login, code) => {
    const { res, browser } = await w.signIn(connectionId, login);
    expect(res.status).toBe(302);
    expect(where(res)).toBe(`/login?error=${code}`);
    expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
    const entries = await w.t.ctx.db
      .selectFrom("audit_log")
      .select(["details", "outcome"])
      .orderBy("id", "desc")
      .limit(1)
      .execute();
    expect(entries[0]!.outcome).toBe("failure");
    expect(JSON.stringify(entries[0]!.details)).toContain(code === "not_authorized" ? "sub-account" : code);
  });

  it("stops SSO — and un-hides the password form — when the agency is downgraded", async () => {
    const db = w.t.ctx.db;
    await db
      .updateTable("agencies")
      .set({ sso_hide_other_methods: true })
      .where("id", "=", w.agencyId)
      .execute();
    expect((await w.api("GET", "/api/auth/methods")).json<any>()).toMatchObject({
      password: false,
      hideOtherLoginMethods: true,
    });
    await db.updateTable("agencies").set({ plan: "starter" }).where("id", "=", w.agencyId).execute();
    try {
      const methods = (await w.api("GET", "/api/auth/methods")).json<any>();
      expect(methods).toMatchObject({ password: true, sso: [], hideOtherLoginMethods: false });
      const start = await new Browser().get(`${w.origin}/login/sso/start?connection=${connectionId}`);
      expect(where(start)).toBe("/login?error=sso_failed");
      const login = await new Browser().postJson(`${w.origin}/api/auth/login`, {
        email: "eve@acme.test",
        password: TEST_PASSWORD,
      });
      expect(login.status).toBe(200);
    } finally {
      await db
        .updateTable("agencies")
        .set({ plan: "pro", sso_hide_other_methods: false })
        .where("id", "=", w.agencyId)
        .execute();
    }
  });

  it("answers API clients with the JSON error", async () => {
    const res = await new Browser().get(`${w.origin}/login/sso?state=forged&code=x`, {
      headers: { accept: "application/json" },
    });
    expect(res.status).toBe(401);
    expect(res.json()).toEqual({
      error: { code: "sso_failed", message: "Something went wrong, please try again." },
    });
  });

  it("never writes a secret, code or token to the audit log", async () => {
    await w.expectAuditClean();
  });
});
