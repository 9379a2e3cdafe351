// returnTo on the server (issue 14 item 1; SPEC §4 step 2): the SSO flow and the password + 2FA
// answers honour only a same-origin path, normalised by the rule the pages share
// (src/shared/return-to.ts) — so a non-ASCII path is percent-encoded, never a 500.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeAt, userWith2fa } from "../mfa/helpers.js";
import { Client, TEST_PASSWORD } from "../support/app.js";
import { Browser, signInAtIdp } from "../support/browser.js";
import { storages } from "../support/db.js";
import type { Idp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld } from "../support/sso.js";

const ATTACKS = [
  "/\t/evil.example/phish",
  "/\n/evil.example/phish",
  "/\r/evil.example/phish",
  "//evil.example/phish",
  "/\\evil.example/phish",
  "/%09/evil.example/phish",
  "/%2F%2Fevil.example/phish",
  "/.//evil.example/phish",
  "https://evil.example/phish",
  "javascript:alert(1)",
];

describe.each(storages())("returnTo on the server (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let connectionId: string;
  let host: string;
  const start = (returnTo: string) =>
    `${w.origin}/login/sso/start?connection=${connectionId}&returnTo=${encodeURIComponent(returnTo)}`;

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    host = new URL(w.origin).host;
    idp = await w.startIdp([
      { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true } },
    ]);
    await w.t.seedUser(w.agencyId, { email: "alice@acme.test", role: "admin" });
    connectionId = await w.connectIdp(idp, { enableAs: "user-alice" });
  });
  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  describe("the SSO callback", () => {
    it("signs in and redirects to a non-ASCII returnTo, percent-encoded", async () => {
      const browser = new Browser();
      const res = await signInAtIdp(browser, start("/日本?q=東京#章"), "user-alice");
      expect(res.status, res.body).toBe(302);
      expect(res.headers.location).toBe("/%E6%97%A5%E6%9C%AC?q=%E6%9D%B1%E4%BA%AC#%E7%AB%A0");
      expect(res.headers["cache-control"]).toBe("no-store"); // the redirect that sets the session
      expect(browser.jar.get(w.origin, "copilot_session")).toBeDefined();
      expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(200);
    });

    it("redirects to the normalised path", async () => {
      const res = await signInAtIdp(new Browser(), start("/settings/../settings/users"), "user-alice");
      expect(res.headers.location).toBe("/settings/users");
    });

    it.each(ATTACKS)("lands on / for %j", async (attack) => {
      const res = await signInAtIdp(new Browser(), start(attack), "user-alice");
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe("/");
    });
  });

  describe("password sign-in with 2FA", () => {
    let user: Awaited<ReturnType<typeof userWith2fa>>;
    beforeAll(async () => {
      user = await userWith2fa(w.t, w.agencyId, host, { email: "tfa@acme.test", role: "admin" });
    });

    /** Password, then TOTP: the returnTo the 2FA answer gives the page. */
    async function returnToAfter2fa(returnTo: string): Promise<unknown> {
      const c = new Client(w.t.app, host);
      const login = await c.post("/api/auth/login", { email: user.email, password: TEST_PASSWORD, returnTo });
      expect(login.json()).toEqual({ mfaRequired: true });
      w.t.clock.advance(30_000); // a step of its own: every code is accepted once
      const done = await c.post("/api/auth/2fa", { code: await codeAt(w.t, user.secret) });
      expect(done.statusCode, done.body).toBe(200);
      return done.json().returnTo;
    }

    it("gives back a non-ASCII returnTo percent-encoded, and a normalised one", async () => {
      expect(await returnToAfter2fa("/日本")).toBe("/%E6%97%A5%E6%9C%AC");
      expect(await returnToAfter2fa("/settings/./users")).toBe("/settings/users");
    });

    it.each(ATTACKS)("gives back no returnTo for %j", async (attack) => {
      expect(await returnToAfter2fa(attack)).toBeNull();
    });
  });
});
