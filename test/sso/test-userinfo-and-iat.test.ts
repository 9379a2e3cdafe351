// Issue 15, defects 1 and 2, against the real loopback IdP:
// - a test (SPEC §7) passes only when the user-info call succeeds: it is made whenever the IdP has
//   the endpoint, even when the ID token carries every mapped claim, and its `sub` must be the ID
//   token's; a sign-in still skips it when the ID token is complete;
// - an ID token issued before the flow began (an old `iat` with a future `exp`) is refused (§4
//   `sso_failed`, the precise cause in the audit log and in the test's diagnostic).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storages } from "../support/db.js";
import { type Idp, startIdp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

const WEEK_S = 7 * 24 * 3600;

describe.each(storages())("the user-info call of a test, and the ID token's iat (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let connectionId: string;

  /** How many user-info requests the IdP has received. */
  const userinfoCalls = () =>
    idp.requests.filter((r) => r.url.startsWith(new URL(idp.endpoints.userinfo).pathname)).length;

  /** The newest audit entry of `action` with outcome failure, straight from the table. */
  async function lastFailure(action: string) {
    const row = await w.t.ctx.db
      .selectFrom("audit_log")
      .select(["details"])
      .where("action", "=", action)
      .where("outcome", "=", "failure")
      .orderBy("id", "desc")
      .limit(1)
      .executeTakeFirstOrThrow();
    return row.details as Record<string, unknown>;
  }

  /** A sign-in that must end at /login?error=sso_failed with no session, at `step`. */
  async function expectSignInRefused(step: string, cause: RegExp) {
    const { res, browser } = await w.signIn(connectionId, "user-alice");
    expect(where(res)).toBe("/login?error=sso_failed");
    expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
    const details = await lastFailure("sso.sign_in");
    expect(details).toMatchObject({ code: "sso_failed", step });
    expect(details.cause).toMatch(cause);
    await browser.close();
  }

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    idp = await w.startIdp([
      { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true, name: "Alice" } },
      { sub: "user-carol", claims: { email: "carol@acme.test", email_verified: true, name: "Carol" } },
    ]);
    w.watch(idp);
    await w.t.seedUser(w.agencyId, { email: "alice@acme.test", role: "admin" });
    connectionId = await w.connectIdp(idp);
    await w.enable(connectionId, "user-alice");
  });
  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  describe("a test calls user-info whenever the IdP has the endpoint", () => {
    it("calls it even when the ID token carries every mapped claim, and passes", async () => {
      const before = userinfoCalls();
      const test = await w.runTest(connectionId, "user-alice");
      expect(test.status, JSON.stringify(test)).toBe("passed");
      expect(userinfoCalls()).toBe(before + 1);
    });

    it("fails with the step userinfo when the user-info endpoint is broken", async () => {
      idp.setTamperUserinfo(() => ({ status: 500, body: { error: "server_error" } }));
      try {
        const test = await w.runTest(connectionId, "user-alice");
        expect(test.status).toBe("failed");
        expect(test.errorCode).toBe("sso_failed");
        expect(test.message).toBe("Something went wrong, please try again.");
        expect(test.diagnostic.step).toBe("userinfo");
        expect(test.diagnostic.detail).toMatch(/user-info call failed/);
        expect(await lastFailure("sso.test")).toMatchObject({ step: "userinfo" });
      } finally {
        idp.setTamperUserinfo(null);
      }
    });

    it("fails with the step userinfo when user-info answers for another sub", async () => {
      idp.setTamperUserinfo((body) => ({ status: 200, body: { ...body, sub: "user-carol" } }));
      try {
        const test = await w.runTest(connectionId, "user-alice");
        expect(test.status).toBe("failed");
        expect(test.errorCode).toBe("sso_failed");
        expect(test.diagnostic.step).toBe("userinfo");
        expect(test.diagnostic.detail).toBe("the user-info sub is not the ID token's sub");
        expect(JSON.stringify(test)).not.toContain("user-carol"); // no personal value in the diagnostic
      } finally {
        idp.setTamperUserinfo(null);
      }
    });

    it("leaves sign-ins alone: a complete ID token signs in without calling user-info, even a broken one", async () => {
      idp.setTamperUserinfo(() => ({ status: 500, body: { error: "server_error" } }));
      try {
        const before = userinfoCalls();
        const { res, browser } = await w.signIn(connectionId, "user-alice");
        expect(where(res), res.body).toBe("/");
        expect(
          (await browser.get(`${w.origin}/api/auth/me`)).json<{ user: { email: string } }>().user.email,
        ).toBe("alice@acme.test");
        expect(userinfoCalls()).toBe(before);
        await browser.close();
      } finally {
        idp.setTamperUserinfo(null);
      }
    });

    it("fails a sign-in whose ID token lacks a mapped claim when user-info is broken", async () => {
      idp.setTamper(async (body, i) => ({
        ...body,
        id_token: await i.patchIdToken(body.id_token!, { email: undefined }),
      }));
      idp.setTamperUserinfo(() => ({ status: 500, body: { error: "server_error" } }));
      try {
        await expectSignInRefused("userinfo", /user-info call failed/);
      } finally {
        idp.setTamper(null);
        idp.setTamperUserinfo(null);
      }
    });
  });

  describe("an ID token issued before the flow began", () => {
    const issuedAgo = (seconds: number) => {
      const now = Math.floor(Date.now() / 1000);
      return { iat: now - seconds, exp: now + 300 };
    };

    it("is refused at sign-in (a week-old iat with a future exp)", async () => {
      idp.setTamper(async (body, i) => ({
        ...body,
        id_token: await i.patchIdToken(body.id_token!, issuedAgo(WEEK_S)),
      }));
      try {
        await expectSignInRefused("id_token", /issued \(iat .*\) before this flow began/);
      } finally {
        idp.setTamper(null);
      }
    });

    it("fails a test with the step id_token", async () => {
      idp.setTamper(async (body, i) => ({
        ...body,
        id_token: await i.patchIdToken(body.id_token!, issuedAgo(WEEK_S)),
      }));
      try {
        const test = await w.runTest(connectionId, "user-alice");
        expect(test.status).toBe("failed");
        expect(test.errorCode).toBe("sso_failed");
        expect(test.diagnostic.step).toBe("id_token");
        expect(test.diagnostic.detail).toMatch(/before this flow began/);
      } finally {
        idp.setTamper(null);
      }
    });

    it("is refused just beyond the clock skew, and accepted within it", async () => {
      // The state is issued when the flow starts, moments before the IdP signs: 90 s before now is
      // beyond the 60 s of skew, 20 s before now within it.
      idp.setTamper(async (body, i) => ({
        ...body,
        id_token: await i.patchIdToken(body.id_token!, issuedAgo(90)),
      }));
      try {
        await expectSignInRefused("id_token", /before this flow began/);
      } finally {
        idp.setTamper(null);
      }
      idp.setTamper(async (body, i) => ({
        ...body,
        id_token: await i.patchIdToken(body.id_token!, issuedAgo(20)),
      }));
      try {
        const { res, browser } = await w.signIn(connectionId, "user-alice");
        expect(where(res), res.body).toBe("/");
        await browser.close();
      } finally {
        idp.setTamper(null);
      }
    });
  });

  it("never writes a secret, code or token to the audit log", async () => {
    await w.expectAuditClean();
  });
});
