// 2FA after an OIDC SSO sign-in: the callback leaves the browser with a pending-2FA cookie and no
// session (302 /login/2fa); POST /api/auth/2fa from that same browser finishes the sign-in.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser, signInAtIdp } from "../support/browser.js";
import { storages } from "../support/db.js";
import type { Idp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";
import { auditActions, codeAt, enrollWith, IpClient } from "./helpers.js";

describe.each(storages())("2FA after OIDC SSO sign-in (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let connectionId: string;
  let alice: { id: string; email: string; secret: string };
  let carolId: string;

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    idp = await w.startIdp([
      { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true, name: "Alice" } },
      { sub: "user-carol", claims: { email: "carol@acme.test", email_verified: true, name: "Carol" } },
    ]);
    const a = await w.t.seedUser(w.agencyId, {
      email: "alice@acme.test",
      role: "analyst",
      subAccountIds: [w.subAccountId],
    });
    carolId = (
      await w.t.seedUser(w.agencyId, {
        email: "carol@acme.test",
        role: "analyst",
        subAccountIds: [w.subAccountId],
      })
    ).id;
    connectionId = await w.connectIdp(idp, { enableAs: "user-alice" });

    // Alice turns 2FA on from her account page (signed in with her password).
    const c = new IpClient(w.t, "acme.localhost");
    expect((await c.login("alice@acme.test")).statusCode).toBe(200);
    const { secret } = await enrollWith(w.t, c);
    expect((await c.post("/api/auth/logout")).statusCode).toBe(204);
    alice = { id: a.id, email: a.email, secret };
  });
  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  it("sends the browser to /login/2fa with no session; the code from that browser signs it in", async () => {
    const browser = new Browser();
    const res = await signInAtIdp(
      browser,
      `${w.origin}/login/sso/start?connection=${connectionId}&returnTo=/settings/users`,
      "user-alice",
    );
    expect(res.status).toBe(302);
    expect(where(res)).toBe("/login/2fa");
    expect(browser.jar.get(w.origin, "copilot_session")).toBeUndefined();
    expect(browser.jar.get(w.origin, "copilot_mfa")).toBeDefined();
    expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
    expect((await browser.get(`${w.origin}/api/admin/users`)).status).toBe(401);
    expect(await w.t.ctx.db.selectFrom("sessions").where("user_id", "=", alice.id).execute()).toHaveLength(0);

    const wrong = await browser.postJson(`${w.origin}/api/auth/2fa`, { code: "000000" });
    expect(wrong.status).toBe(422);
    const done = await browser.postJson(`${w.origin}/api/auth/2fa`, {
      code: await codeAt(w.t, alice.secret),
    });
    expect(done.status, done.body).toBe(200);
    const body = done.json<{ user: { email: string }; returnTo: string | null }>();
    expect(body.user.email).toBe("alice@acme.test");
    expect(body.returnTo).toBe("/settings/users");
    expect(browser.jar.get(w.origin, "copilot_mfa")).toBeUndefined();
    const me = await browser.get(`${w.origin}/api/auth/me`);
    expect(me.status).toBe(200);
    expect(me.json<{ user: { id: string } }>().user.id).toBe(alice.id);

    const entries = await auditActions(w.t, w.agencyId, alice.id);
    const firstFactor = entries.filter((e) => e.action === "auth.first_factor").at(-1);
    expect(firstFactor?.details).toMatchObject({ method: "sso", next: "verify", connectionId });
    expect(entries.filter((e) => e.action === "mfa.verified").at(-1)?.details).toMatchObject({
      method: "sso",
      factor: "totp",
    });
    expect(entries.filter((e) => e.action === "auth.sign_in").at(-1)?.details).toMatchObject({
      method: "sso",
      mfa: "totp",
    });
    await browser.close();
  });

  it("does not let another browser finish the SSO sign-in", async () => {
    const { res, browser } = await w.signIn(connectionId, "user-alice");
    expect(where(res)).toBe("/login/2fa");
    const other = new Browser();
    const attempt = await other.postJson(`${w.origin}/api/auth/2fa`, {
      code: await codeAt(w.t, alice.secret, 1),
    });
    expect(attempt.status).toBe(401);
    expect((await other.get(`${w.origin}/api/auth/me`)).status).toBe(401);
    await other.close();
    await browser.close();
  });

  it("ends a pending SSO sign-in on sign-out: the cookie is cleared and a kept copy cannot finish it", async () => {
    const sessionsOfAlice = () =>
      w.t.ctx.db.selectFrom("sessions").select("id").where("user_id", "=", alice.id).execute();
    const before = await sessionsOfAlice();
    const { res, browser } = await w.signIn(connectionId, "user-alice");
    expect(where(res)).toBe("/login/2fa");
    const pending = browser.jar.get(w.origin, "copilot_mfa");
    expect(pending).toBeDefined();
    expect(
      await w.t.ctx.db.selectFrom("mfa_challenges").where("user_id", "=", alice.id).execute(),
    ).toHaveLength(1);

    const logout = await browser.postJson(`${w.origin}/api/auth/logout`, undefined);
    expect(logout.status).toBe(204);
    // The browser is told to forget both sign-in cookies...
    expect(logout.header("set-cookie")).toMatch(/^copilot_mfa=;/m);
    expect(logout.header("set-cookie")).toMatch(/^copilot_session=;/m);
    expect(browser.jar.get(w.origin, "copilot_mfa")).toBeUndefined();
    // ...and the pending sign-in itself is gone from the server.
    expect(
      await w.t.ctx.db.selectFrom("mfa_challenges").where("user_id", "=", alice.id).execute(),
    ).toHaveLength(0);
    const cancelled = (await auditActions(w.t, w.agencyId, alice.id)).filter(
      (e) => e.action === "auth.sign_in_cancelled",
    );
    expect(cancelled.at(-1)?.details).toMatchObject({ method: "sso", pending: "verify" });

    // A copy of the cookie kept from before the sign-out (another tab, a stolen value) is refused
    // even with a right code, and no session appears.
    browser.jar.setCookie(w.origin, `copilot_mfa=${pending!.value}; Path=/; HttpOnly; SameSite=Lax`);
    const replay = await browser.postJson(`${w.origin}/api/auth/2fa`, {
      code: await codeAt(w.t, alice.secret, 2),
    });
    expect(replay.status, replay.body).toBe(401);
    expect(replay.json<{ error: { code: string } }>().error.code).toBe("mfa_expired");
    expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
    expect(await sessionsOfAlice()).toEqual(before);
    await browser.close();
  });

  it("sends a user without 2FA of a 2FA-requiring agency to enrolment, then signs them in", async () => {
    expect((await w.api("PUT", "/api/admin/security", { require2fa: true })).status).toBe(200);
    try {
      const { res, browser } = await w.signIn(connectionId, "user-carol");
      expect(res.status).toBe(302);
      expect(where(res)).toBe("/login/2fa/enroll");
      expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);

      const setup = await browser.postJson(`${w.origin}/api/account/2fa/setup`, undefined);
      expect(setup.status, setup.body).toBe(200);
      const { secret, otpauthUri } = setup.json<{ secret: string; otpauthUri: string }>();
      expect(otpauthUri).toContain("carol%40acme.test");
      const confirm = await browser.postJson(`${w.origin}/api/account/2fa/confirm`, {
        code: await codeAt(w.t, secret),
      });
      expect(confirm.status, confirm.body).toBe(200);
      expect(confirm.json<{ backupCodes: string[] }>().backupCodes).toHaveLength(10);
      const me = await browser.get(`${w.origin}/api/auth/me`);
      expect(me.status).toBe(200);
      expect(me.json<{ user: unknown }>().user).toMatchObject({ id: carolId, twoFactorEnabled: true });
      const signIn = (await auditActions(w.t, w.agencyId, carolId)).filter(
        (e) => e.action === "auth.sign_in",
      );
      expect(signIn.at(-1)?.details).toMatchObject({ method: "sso", mfa: "enrolled" });
      await browser.close();
    } finally {
      await w.api("PUT", "/api/admin/security", { require2fa: false });
    }
  });
});
