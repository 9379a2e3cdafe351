// The OIDC flow under attack and failure (SPEC §4): the state (forged, expired, replayed in another
// browser, reused), the ID token (nonce, audience, issuer, signature, alg none, HS256 with the public
// key), RFC 9207 iss, key rotation, the IdP down, user-info sub mismatch, the provisioning policy
// (allowlist, concurrent first sign-ins) — every failure at /login?error=<code> with its audit cause.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ssoMessage } from "../../src/sso/messages.js";
import { providerFor, verifyIdToken } from "../../src/sso/oidc.js";
import { Browser } from "../support/browser.js";
import { storages } from "../support/db.js";
import {
  generateSigningJwk,
  hs256WithPublicKey,
  type Idp,
  resignWith,
  withAlgNone,
  withBadSignature,
} from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

/** SPEC §4 step 7, word for word. */
const MESSAGES: Record<string, string> = {
  sso_failed: "Something went wrong, please try again.",
  email_not_verified: "Email is not verified, please contact your admin.",
  remote_id_missing: "remoteIdField is not configured properly, please contact your admin.",
  email_or_id_missing: "emailField or idField is not configured properly, please contact your admin.",
  user_not_found: "No user found with this email.",
  email_not_allowed: "Email not in allowed list",
  not_authorized: "You are not authorized to access this account. Please contact your admin.",
  test_start_failed: "Failed to initiate SSO test.",
  cloudflare_failed: "Cloudflare authentication failed",
};

describe.each(storages())("OIDC flow security (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let connectionId: string;
  const startUrl = () => `${w.origin}/login/sso/start?connection=${connectionId}`;

  /** A browser that signed in at the IdP and holds the callback URL, not yet requested. */
  const toCallback = (login: string, browser?: Browser) => w.toCallback(connectionId, login, browser);

  async function expectFailure(
    res: { status: number; location?: string },
    browser: Browser,
    code: string,
    step: string,
    cause: RegExp,
  ) {
    expect(res.status).toBe(302);
    expect(where(res as never)).toBe(`/login?error=${code}`);
    expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
    const details = await w.lastSignInFailure();
    expect(details.code).toBe(code);
    expect(details.step).toBe(step);
    expect(details.cause).toMatch(cause);
  }

  async function signsIn(login: string, email: string) {
    const { res, browser } = await w.signIn(connectionId, login);
    expect(where(res), res.body).toBe("/");
    expect((await browser.get(`${w.origin}/api/auth/me`)).json<any>().user.email).toBe(email);
    return browser;
  }

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    idp = await w.startIdp([
      { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true, employee_id: "E1" } },
      { sub: "user-carol", claims: { email: "carol@acme.test", email_verified: true } },
      { sub: "user-newbie", claims: { email: "newbie@acme.test", email_verified: true, name: "Newbie" } },
      { sub: "user-dora", claims: { email: "dora@acme.test", email_verified: true, name: "Dora" } },
    ]);
    w.watch(idp);
    await w.t.seedUser(w.agencyId, { email: "alice@acme.test", role: "admin" });
    await w.t.seedUser(w.agencyId, { email: "carol@acme.test", role: "admin" });
    await w.t.seedUser(w.agencyId, { email: "dora@acme.test", role: "admin" });
    connectionId = await w.connectIdp(idp, { enableAs: "user-alice" });
  });
  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  it("shows the messages of SPEC §4 word for word", () => {
    for (const [code, message] of Object.entries(MESSAGES)) expect(ssoMessage(code)).toBe(message);
  });

  describe("the state", () => {
    it("refuses a forged state", async () => {
      const browser = new Browser();
      await browser.get(startUrl()); // the browser has a binding cookie
      const res = await browser.get(`${w.origin}/login/sso?code=abc&state=forged`);
      await expectFailure(res, browser, "sso_failed", "state", /state refused: malformed/);
    });

    it("refuses a state whose signature was altered", async () => {
      const { browser, callback } = await toCallback("user-alice");
      const url = new URL(callback);
      const state = url.searchParams.get("state")!;
      const mac = state.slice(state.lastIndexOf(".") + 1);
      url.searchParams.set(
        "state",
        `${state.slice(0, state.lastIndexOf(".") + 1)}${mac.startsWith("A") ? "B" : "A"}${mac.slice(1)}`,
      );
      const res = await browser.get(url.href);
      await expectFailure(res, browser, "sso_failed", "state", /state refused: bad_signature/);
    });

    it("refuses a state older than 10 minutes", async () => {
      const { browser, callback } = await toCallback("user-alice");
      w.t.clock.advance(10 * 60_000 + 1000);
      try {
        const res = await browser.get(callback);
        await expectFailure(res, browser, "sso_failed", "state", /state refused: expired/);
      } finally {
        w.t.clock.advance(-(10 * 60_000 + 1000));
      }
    });

    it("refuses a state replayed from another browser, which stays usable by its own", async () => {
      const { browser, callback } = await toCallback("user-alice");
      const attacker = new Browser();
      await attacker.get(startUrl()); // even with a binding cookie of its own
      const res = await attacker.get(callback);
      await expectFailure(res, attacker, "sso_failed", "state", /state refused: browser_mismatch/);
      const own = await browser.get(callback);
      expect(where(own)).toBe("/");
      expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(200);
    });

    it("refuses a state used again in the same browser after a completed sign-in", async () => {
      const { browser, callback } = await toCallback("user-alice");
      expect(where(await browser.get(callback))).toBe("/");
      const again = await browser.get(callback);
      expect(where(again)).toBe("/login?error=sso_failed");
      expect((await w.lastSignInFailure()).cause).toMatch(/state refused: browser_mismatch/);
    });

    it("refuses a callback without a state", async () => {
      const browser = new Browser();
      const res = await browser.get(`${w.origin}/login/sso?code=abc`);
      await expectFailure(res, browser, "sso_failed", "state", /no state in the callback/);
    });
  });

  describe("the ID token (genuinely signed, only the claim check can catch it)", () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ["a wrong nonce", { nonce: "not-the-nonce-we-sent" }, /nonce/],
      ["a wrong audience", { aud: "another-client" }, /"aud"/],
      ["a wrong issuer", { iss: "http://127.0.0.1:1/evil" }, /"iss"/],
      [
        "an expired token",
        { exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 },
        /exp/,
      ],
      ["a token from the future", { iat: Math.floor(Date.now() / 1000) + 3600 }, /iat|future/],
      ["another client as azp", { aud: ["CLIENT", "other"], azp: "other" }, /azp/],
      ["a token not valid before an hour from now", { nbf: Math.floor(Date.now() / 1000) + 3600 }, /"nbf"/],
      ["an nbf that is not a number", { nbf: "now" }, /"nbf"/],
      ["a null sub", { sub: null }, /"sub"/],
      ["a sub that is not a string", { sub: 42 }, /"sub"/],
      ["an empty sub", { sub: "" }, /"sub"/],
      ["a null iss", { iss: null }, /"iss"/],
      ["a null aud", { aud: null }, /"aud"/],
      ["an aud that is not a string", { aud: 7 }, /"aud"/],
      ["a null exp", { exp: null }, /"exp"/],
      ["an exp that is not a number", { exp: "tomorrow" }, /"exp"/],
      ["a null iat", { iat: null }, /iat/],
    ];
    it.each(cases)("refuses %s", async (_name, patch, cause) => {
      const resolved = { ...patch };
      if (Array.isArray(resolved.aud)) resolved.aud = [idp.clientId, "other"];
      idp.setTamper(async (body, i) => ({
        ...body,
        id_token: await i.patchIdToken(body.id_token!, resolved),
      }));
      try {
        const { res, browser } = await w.signIn(connectionId, "user-alice");
        await expectFailure(res, browser, "sso_failed", "id_token", cause);
      } finally {
        idp.setTamper(null);
      }
    });
  });

  describe("the ID token's signature", () => {
    it("refuses a tampered signature", async () => {
      idp.setTamper((body) => ({ ...body, id_token: withBadSignature(body.id_token!) }));
      try {
        const { res, browser } = await w.signIn(connectionId, "user-alice");
        await expectFailure(res, browser, "sso_failed", "id_token", /signature is invalid/);
      } finally {
        idp.setTamper(null);
      }
    });

    it("refuses a token signed by a key the IdP never published, under its real kid", async () => {
      const foreign = await generateSigningJwk("RS256");
      idp.setTamper(async (body) => ({
        ...body,
        id_token: await resignWith(body.id_token!, {}, foreign.privateJwk),
      }));
      try {
        const { res, browser } = await w.signIn(connectionId, "user-alice");
        await expectFailure(res, browser, "sso_failed", "id_token", /signature is invalid/);
      } finally {
        idp.setTamper(null);
      }
    });

    it("refuses alg none", async () => {
      idp.setTamper((body) => ({ ...body, id_token: withAlgNone(body.id_token!) }));
      try {
        const { res, browser } = await w.signIn(connectionId, "user-alice");
        await expectFailure(res, browser, "sso_failed", "id_token", /alg/i);
      } finally {
        idp.setTamper(null);
      }
    });

    it("refuses HS256 keyed with the IdP's public key", async () => {
      const publicJwk = idp.publicJwks().keys.find((k) => k.kid === idp.currentKid)!;
      idp.setTamper((body) => ({ ...body, id_token: hs256WithPublicKey(body.id_token!, publicJwk) }));
      try {
        const { res, browser } = await w.signIn(connectionId, "user-alice");
        await expectFailure(res, browser, "sso_failed", "id_token", /alg/i);
      } finally {
        idp.setTamper(null);
      }
    });

    it("pins the algorithms itself, whatever the protocol library accepted", async () => {
      const row = await w.t.ctx.db
        .selectFrom("sso_connections")
        .selectAll()
        .where("id", "=", connectionId)
        .executeTakeFirstOrThrow();
      const provider = await providerFor(w.t.ctx, row);
      expect(provider.algorithms).toEqual(["RS256", "ES256"]);
      const good = await idp.signIdToken({ nonce: "n-1" });
      const flow = { nonce: "n-1", flowStartedAt: Date.now() };
      w.secrets.add(good);
      await expect(verifyIdToken(w.t.ctx, provider, row, good, flow)).resolves.toMatchObject({
        nonce: "n-1",
      });
      const publicJwk = idp.publicJwks().keys.find((k) => k.kid === idp.currentKid)!;
      for (const der of ["pem", "der", "jwk"] as const) {
        await expect(
          verifyIdToken(w.t.ctx, provider, row, hs256WithPublicKey(good, publicJwk, { secret: der }), flow),
        ).rejects.toMatchObject({
          step: "id_token",
          cause: expect.stringMatching(/algorithm HS256 is not allowed/),
        });
      }
      await expect(verifyIdToken(w.t.ctx, provider, row, withAlgNone(good), flow)).rejects.toMatchObject({
        cause: expect.stringMatching(/algorithm none is not allowed/),
      });
      await expect(
        verifyIdToken(w.t.ctx, provider, row, await idp.signIdToken({ nonce: "n-1" }, { alg: "ES256" }), {
          ...flow,
          nonce: "n-2",
        }),
      ).rejects.toMatchObject({ cause: expect.stringMatching(/nonce/) });
    });
  });

  it("records the IdP's own error when the user cancels at the IdP", async () => {
    const browser = new Browser();
    const form = await browser.follow(startUrl());
    expect(form.body).toContain('name="login"');
    const back = await browser.follow(await browser.submitForm(form, {}, 1), {
      stopBefore: (url) => url.pathname === "/login",
    });
    await expectFailure(back, browser, "sso_failed", "callback", /error instead of a code/);
    expect((await w.lastSignInFailure()).idpError).toBe("access_denied: End-User aborted interaction");
  });

  it("refuses a wrong RFC 9207 iss on the redirect", async () => {
    idp.setTamperRedirectIss("http://127.0.0.1:1/evil");
    try {
      const { res, browser } = await w.signIn(connectionId, "user-alice");
      await expectFailure(res, browser, "sso_failed", "callback", /iss is wrong/);
    } finally {
      idp.setTamperRedirectIss(undefined);
    }
  });

  /** How many user-info requests the IdP has received. */
  const userinfoCalls = () =>
    idp.requests.filter((r) => r.url.startsWith(new URL(idp.endpoints.userinfo).pathname)).length;

  it("asks user-info only when the ID token lacks a mapped claim, and takes that claim from it", async () => {
    // Dora's ID token carries sub, email, email_verified and name: nothing to ask.
    let before = userinfoCalls();
    (await signsIn("user-dora", "dora@acme.test")).close();
    expect(userinfoCalls()).toBe(before);
    // Without the email in the ID token, user-info is asked and its email is the one used.
    idp.setTamper(async (body, i) => ({
      ...body,
      id_token: await i.patchIdToken(body.id_token!, { email: undefined }),
    }));
    try {
      before = userinfoCalls();
      (await signsIn("user-dora", "dora@acme.test")).close();
      expect(userinfoCalls()).toBe(before + 1);
    } finally {
      idp.setTamper(null);
    }
  });

  it("refuses a user-info sub that is not the ID token's", async () => {
    // The ID token lacks the email, so user-info is asked — and answers for another person.
    idp.setTamper(async (body, i) => ({
      ...body,
      id_token: await i.patchIdToken(body.id_token!, { sub: "user-carol", email: undefined }),
    }));
    try {
      const { res, browser } = await w.signIn(connectionId, "user-alice");
      await expectFailure(res, browser, "sso_failed", "userinfo", /sub/);
    } finally {
      idp.setTamper(null);
    }
  });

  it("follows an IdP key rotation (refetching the JWKS once), without refetching for unknown kids after", async () => {
    // A sign-in that downloads the key set afresh, then the IdP rotates moments later: the first
    // download does not start the refetch cooldown (a flood guard against unknown kids), so the
    // next sign-in, signed with the new key, refetches once and succeeds.
    w.t.ctx.jwks.invalidate(idp.endpoints.jwks);
    const initial = idp.jwksFetches;
    (await signsIn("user-alice", "alice@acme.test")).close();
    expect(idp.jwksFetches).toBe(initial + 1);
    const before = idp.jwksFetches;
    await idp.rotateKeys();
    w.t.clock.advance(1_000);
    (await signsIn("user-alice", "alice@acme.test")).close();
    expect(idp.jwksFetches).toBe(before + 1);
    // A token naming a kid the IdP does not publish: refused, and the IdP is not asked again.
    idp.setTamper(async (body, i) => ({
      ...body,
      id_token: await i.patchIdToken(body.id_token!, {}, { kid: "unknown-kid" }),
    }));
    try {
      const { res, browser } = await w.signIn(connectionId, "user-alice");
      await expectFailure(res, browser, "sso_failed", "id_token", /no key of the IdP's JWKS/);
    } finally {
      idp.setTamper(null);
    }
    expect(idp.jwksFetches).toBe(before + 1);
  });

  it("fails with sso_failed when the IdP is down (timeout), writing no user and no session", async () => {
    const db = w.t.ctx.db;
    const sessions = async () =>
      Number((await db.selectFrom("sessions").select(db.fn.countAll().as("n")).executeTakeFirstOrThrow()).n);
    const before = await sessions();
    const { browser, callback } = await toCallback("user-carol");
    await idp.setDown(true, "hang");
    try {
      const res = await browser.get(callback);
      await expectFailure(res, browser, "sso_failed", "token", /timeout/);
    } finally {
      await idp.setDown(false);
    }
    expect(await sessions()).toBe(before);
    const carol = await db
      .selectFrom("users")
      .select("external_user_id")
      .where("email", "=", "carol@acme.test")
      .executeTakeFirstOrThrow();
    expect(carol.external_user_id).toBeNull();
  });

  it("ends at remote_id_missing when the Remote ID claim is missing", async () => {
    const { id } = await w.createConnection({
      type: "oidc",
      name: "Employee ID",
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      discoveryUrl: idp.discoveryUrl,
      mapping: { remoteIdField: "employee_id" },
    });
    await w.enable(id, "user-alice"); // alice has the claim
    const { res, browser } = await w.signIn(id, "user-carol");
    await expectFailure(
      res,
      browser,
      "remote_id_missing",
      "mapping",
      /Remote ID claim "employee_id" is missing/,
    );
    const test = await w.runTest(id, "user-carol");
    expect(test).toMatchObject({
      status: "failed",
      errorCode: "remote_id_missing",
      message: MESSAGES.remote_id_missing,
    });
    await w.api("DELETE", `/api/admin/sso/connections/${id}`);
  });

  describe("user resolution", () => {
    it("keeps the stored email when the IdP's new email belongs to another user", async () => {
      (await signsIn("user-alice", "alice@acme.test")).close(); // linked by Remote ID by now
      idp.patchClaims("user-alice", { email: "carol@acme.test" });
      try {
        const browser = await signsIn("user-alice", "alice@acme.test");
        await browser.close();
      } finally {
        idp.patchClaims("user-alice", { email: "alice@acme.test" });
      }
    });

    it("refuses a deactivated user with not_authorized", async () => {
      const db = w.t.ctx.db;
      await db.updateTable("users").set({ active: false }).where("email", "=", "carol@acme.test").execute();
      try {
        const { res, browser } = await w.signIn(connectionId, "user-carol");
        expect(where(res)).toBe("/login?error=not_authorized");
        expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
        const [entry] = await w.auditFor("auth.sign_in");
        expect(entry).toMatchObject({
          outcome: "failure",
          details: { method: "sso", cause: "user is deactivated" },
        });
      } finally {
        await db.updateTable("users").set({ active: true }).where("email", "=", "carol@acme.test").execute();
      }
    });
  });

  describe("the allowlist policy", () => {
    it("refuses an email that is not on the list, even of an existing user", async () => {
      expect((await w.api("PUT", "/api/admin/sso/settings", { provisioning: "allowlist" })).status).toBe(200);
      const { res, browser } = await w.signIn(connectionId, "user-carol");
      await expectFailure(
        res,
        browser,
        "email_not_allowed",
        "resolution",
        /carol@acme\.test is not on the SSO allowed emails list/,
      );
    });

    it("creates one user when the same new allowed person signs in twice at once", async () => {
      const added = await w.api("POST", "/api/admin/sso/allowed-emails", {
        email: "Newbie@acme.test",
        role: "admin",
      });
      expect(added.status).toBe(201);
      const a = await toCallback("user-newbie");
      const b = await toCallback("user-newbie");
      const [ra, rb] = await Promise.all([a.browser.get(a.callback), b.browser.get(b.callback)]);
      expect([where(ra), where(rb)]).toEqual(["/", "/"]);
      const users = await w.t.ctx.db
        .selectFrom("users")
        .select(["id", "role", "external_user_id", "name"])
        .where("agency_id", "=", w.agencyId)
        .where((eb) => eb(eb.fn("lower", ["email"]), "=", "newbie@acme.test"))
        .execute();
      expect(users).toHaveLength(1);
      expect(users[0]).toMatchObject({ role: "admin", external_user_id: "user-newbie", name: "Newbie" });
      for (const { browser } of [a, b]) {
        expect((await browser.get(`${w.origin}/api/auth/me`)).json<any>().user.id).toBe(users[0]!.id);
      }
      const created = await w.auditFor("user.create");
      expect(created.filter((e) => e.target?.id === users[0]!.id)).toHaveLength(1);
    });

    it("goes back to existing users only", async () => {
      expect((await w.api("PUT", "/api/admin/sso/settings", { provisioning: "existing-users" })).status).toBe(
        200,
      );
      (await signsIn("user-carol", "carol@acme.test")).close();
    });
  });

  it("never writes a secret, code or token to the audit log", async () => {
    await w.expectAuditClean();
  });
});
