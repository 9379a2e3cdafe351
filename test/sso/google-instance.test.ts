// "Sign in with Google" with the instance's own client (SPEC §2), against a Google-like loopback IdP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, TEST_PASSWORD, type TestApp } from "../support/app.js";
import { Browser, signInAtIdp } from "../support/browser.js";
import { storages } from "../support/db.js";
import { type Idp, startIdp } from "../support/idp.js";
import { where } from "../support/sso.js";

describe.each(storages())("Sign in with Google, the instance's client (%s)", (storage) => {
  let idp: Idp;
  let t: TestApp;
  let origin: string;
  let agencyId: string;

  beforeAll(async () => {
    idp = await startIdp({
      profile: "google",
      redirectUris: ["http://placeholder.localhost/login/google"],
      accounts: [
        { sub: "g-1", claims: { email: "ann@acme.test", email_verified: true, name: "Ann" } },
        { sub: "g-2", claims: { email: "nobody@acme.test", email_verified: true } },
        { sub: "g-3", claims: { email: "ann2@acme.test", email_verified: false } },
      ],
    });
    t = await createTestApp(storage, {
      GOOGLE_CLIENT_ID: idp.clientId,
      GOOGLE_CLIENT_SECRET: idp.clientSecret,
      GOOGLE_DISCOVERY_URL: idp.discoveryUrl,
    });
    const port = new URL(await t.listen()).port;
    origin = `http://acme.localhost:${port}`;
    idp.updateClient({ redirectUris: [`${origin}/login/google`] });
    const agency = await t.seedAgency({ slug: "acme", domain: "acme.localhost" });
    agencyId = agency.id;
    await t.seedUser(agency.id, { email: "ann@acme.test", role: "admin" });
    await t.seedUser(agency.id, { email: "ann2@acme.test", role: "admin" });
  });
  afterAll(async () => {
    await t?.close();
    await idp?.close();
  });

  it("is offered on the login page and signs an existing user in by verified email", async () => {
    const browser = new Browser();
    const methods = await browser.get(`${origin}/api/auth/methods`);
    expect(methods.json<{ google: boolean }>().google).toBe(true);
    const res = await signInAtIdp(browser, `${origin}/login/google/start?returnTo=/account`, "g-1");
    expect(where(res)).toBe("/account");
    const me = await browser.get(`${origin}/api/auth/me`);
    expect(me.json<{ user: { email: string; externalUserId: string | null } }>().user).toMatchObject({
      email: "ann@acme.test",
      externalUserId: null, // the Remote ID belongs to the agency's own IdP, never to Google
    });
    const row = await t.ctx.db
      .selectFrom("sessions")
      .select("method")
      .orderBy("created_at", "desc")
      .executeTakeFirstOrThrow();
    expect(row.method).toBe("google");
  });

  it("refuses unknown and unverified emails with the §4 messages", async () => {
    expect(where(await signInAtIdp(new Browser(), `${origin}/login/google/start`, "g-2"))).toBe(
      "/login?error=user_not_found",
    );
    expect(where(await signInAtIdp(new Browser(), `${origin}/login/google/start`, "g-3"))).toBe(
      "/login?error=email_not_verified",
    );
  });

  it("is refused server-side while the agency hides other login methods", async () => {
    await t.ctx.db
      .updateTable("agencies")
      .set({ sso_enabled: true, sso_hide_other_methods: true })
      .where("id", "=", agencyId)
      .execute();
    const browser = new Browser();
    const start = await browser.get(`${origin}/login/google/start`);
    expect(where(start)).toBe("/login?error=sso_failed");
    const entries = await t.ctx.db
      .selectFrom("audit_log")
      .select("details")
      .orderBy("id", "desc")
      .limit(1)
      .execute();
    expect(JSON.stringify(entries[0]?.details)).toContain("hides other login methods");
    await t.ctx.db
      .updateTable("agencies")
      .set({ sso_enabled: false, sso_hide_other_methods: false })
      .where("id", "=", agencyId)
      .execute();
  });

  it("is absent when the operator has not configured it", async () => {
    const bare = await createTestApp(storage);
    try {
      const agency = await bare.seedAgency({ slug: "bare", domain: "bare.localhost" });
      await bare.seedUser(agency.id, { email: "x@bare.test", password: TEST_PASSWORD });
      const methods = await bare.app.inject({
        url: "/api/auth/methods",
        headers: { host: "bare.localhost" },
      });
      expect(methods.json().google).toBe(false);
      const start = await bare.app.inject({
        url: "/login/google/start",
        headers: { host: "bare.localhost" },
      });
      expect(start.headers.location).toBe("/login?error=sso_failed");
    } finally {
      await bare.close();
    }
  });
});
