// Attempt limits hold against a burst (issue 14 item 3): an attempt is counted before it is
// verified, by one statement, so of N parallel wrong passwords, TOTP codes or backup codes at most
// the limit are ever checked — the rest are refused unchecked, and the right one sent after the
// burst is refused too.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LIMITS } from "../../src/http/throttle.js";
import { generateBackupCode } from "../../src/mfa/backup-codes.js";
import { MFA_MAX_ATTEMPTS } from "../../src/mfa/challenges.js";
import { codeAt, IpClient, userWith2fa } from "../mfa/helpers.js";
import { createTestApp, TEST_PASSWORD, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";

const HOST = "acme.localhost";

describe.each(storages())("attempt limits under a burst (%s)", (storage) => {
  let t: TestApp;
  let agencyId: string;

  beforeAll(async () => {
    t = await createTestApp(storage);
    agencyId = (await t.seedAgency({ slug: "acme", domain: HOST })).id;
  });
  afterAll(() => t?.close());

  const statuses = (responses: Array<{ statusCode: number }>) => {
    const out: Record<number, number> = {};
    for (const r of responses) out[r.statusCode] = (out[r.statusCode] ?? 0) + 1;
    return out;
  };

  /** The audited refusals of checked codes (one per code actually verified and found wrong). */
  async function failedCodes(userId: string, factor: string) {
    const rows = await t.ctx.db
      .selectFrom("audit_log")
      .select("details")
      .where("action", "=", "mfa.failed")
      .where("target_id", "=", userId)
      .execute();
    return rows.filter((r) => (r.details as { factor?: string }).factor === factor).length;
  }

  it("verifies at most the account's limit of 60 parallel wrong passwords", async () => {
    const user = await t.seedUser(agencyId, { email: "burst@acme.test" });
    // Each from its own address: only the account's limit is in play.
    const burst = await Promise.all(
      Array.from({ length: 60 }, (_, i) => new IpClient(t, HOST).login(user.email, `wrong password ${i}`)),
    );
    expect(statuses(burst)).toEqual({
      401: LIMITS.signInPerAccount.max,
      429: 60 - LIMITS.signInPerAccount.max,
    });
    const limited = burst.find((r) => r.statusCode === 429)!;
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    const wrongAudited = await t.ctx.db
      .selectFrom("audit_log")
      .select("id")
      .where("action", "=", "auth.sign_in")
      .where("target_id", "=", user.id)
      .execute();
    expect(wrongAudited).toHaveLength(LIMITS.signInPerAccount.max);
    // The right password after the burst is refused as well.
    const right = await new IpClient(t, HOST).login(user.email, TEST_PASSWORD);
    expect(right.statusCode).toBe(429);
  });

  it("verifies at most the per-IP limit of a parallel password spray from one address", async () => {
    const ip = "198.51.100.23";
    const burst = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        new IpClient(t, HOST, ip).login(`spray${i}@acme.test`, "wrong password"),
      ),
    );
    expect(statuses(burst)).toEqual({ 401: LIMITS.signInPerIp.max, 429: 50 - LIMITS.signInPerIp.max });
  });

  it("checks at most five of 12 parallel wrong TOTP codes on one pending sign-in", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = new IpClient(t, HOST);
    expect((await c.login(u.email)).json()).toEqual({ mfaRequired: true });
    const right = await codeAt(t, u.secret);
    const wrong = right === "000000" ? "111111" : "000000";
    const burst = await Promise.all(
      Array.from({ length: 12 }, () => c.post("/api/auth/2fa", { code: wrong })),
    );
    expect(await failedCodes(u.id, "totp")).toBe(MFA_MAX_ATTEMPTS);
    expect(statuses(burst)).toEqual({ 422: MFA_MAX_ATTEMPTS - 1, 401: 12 - (MFA_MAX_ATTEMPTS - 1) });
    // The pending sign-in is over: the right code does not finish it.
    const after = await c.post("/api/auth/2fa", { code: right });
    expect(after.statusCode).toBe(401);
    expect(after.cookies.some((x) => x.name === "copilot_session" && x.value)).toBe(false);
  });

  it("checks at most the account's limit of 30 parallel wrong TOTP codes (account routes)", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = new IpClient(t, HOST);
    expect((await c.login(u.email)).statusCode).toBe(200);
    // Signed in (2FA on): the session finishes the sign-in with the right code first.
    expect((await c.post("/api/auth/2fa", { code: await codeAt(t, u.secret) })).statusCode).toBe(200);
    const right = await codeAt(t, u.secret, 1);
    const wrong = right === "000000" ? "111111" : "000000";
    const burst = await Promise.all(
      Array.from({ length: 30 }, () => c.post("/api/account/2fa/disable", { code: wrong })),
    );
    const max = LIMITS.mfaPerAccount.max;
    expect(statuses(burst)).toEqual({ 422: max, 429: 30 - max });
    expect(await failedCodes(u.id, "totp")).toBe(max);
    // The right code after the burst is refused: 2FA stays on.
    expect((await c.post("/api/account/2fa/disable", { code: right })).statusCode).toBe(429);
    expect((await c.get("/api/account/2fa")).json().enabled).toBe(true);
  });

  it("checks at most five of 29 parallel backup codes on one pending sign-in", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = new IpClient(t, HOST);
    expect((await c.login(u.email)).json()).toEqual({ mfaRequired: true });
    const burst = await Promise.all(
      Array.from({ length: 29 }, () => c.post("/api/auth/2fa", { backupCode: generateBackupCode() })),
    );
    expect(await failedCodes(u.id, "backup_code")).toBe(MFA_MAX_ATTEMPTS);
    expect(burst.filter((r) => r.statusCode === 422)).toHaveLength(MFA_MAX_ATTEMPTS - 1);
    expect(burst.filter((r) => r.statusCode === 200)).toHaveLength(0);
    // A real backup code after the burst finishes nothing, and stays unused.
    const after = await c.post("/api/auth/2fa", { backupCode: u.backupCodes[0] });
    expect(after.statusCode).toBe(401);
    const unused = await t.ctx.db
      .selectFrom("backup_codes")
      .select("id")
      .where("user_id", "=", u.id)
      .where("used_at", "is", null)
      .execute();
    expect(unused).toHaveLength(10);
  });

  it("gives an accepted code's reservation back: right codes do not use up the account's limit", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    for (let i = 0; i < LIMITS.mfaPerAccount.max + 2; i++) {
      const c = new IpClient(t, HOST);
      expect((await c.login(u.email)).json()).toEqual({ mfaRequired: true });
      t.clock.advance(30_000);
      const res = await c.post("/api/auth/2fa", { code: await codeAt(t, u.secret) });
      expect(res.statusCode, res.body).toBe(200);
    }
  });
});
