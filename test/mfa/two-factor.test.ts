import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceptTotp, totpAad } from "../../src/mfa/service.js";
import { createTestApp, TEST_PASSWORD, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";
import { auditActions, codeAt, cookieNames, freshStep, IpClient, PERIOD_MS, userWith2fa } from "./helpers.js";

const HOST = "acme.localhost";

describe.each(storages())("two-factor authentication after password sign-in (%s)", (storage) => {
  let t: TestApp;
  let agencyId: string;
  let subAccountId: string;
  let admin: { id: string; email: string };
  let adminClient: IpClient;

  beforeAll(async () => {
    t = await createTestApp(storage);
    const agency = await t.seedAgency({ slug: "acme", domain: HOST });
    agencyId = agency.id;
    subAccountId = await t.seedSubAccount(agencyId, "Main");
    admin = await t.seedUser(agencyId, { email: "admin@acme.test", role: "admin" });
    adminClient = new IpClient(t, HOST);
    expect((await adminClient.login(admin.email)).statusCode).toBe(200);
  });
  afterAll(() => t?.close());

  const client = () => new IpClient(t, HOST);
  const analyst = (email?: string) =>
    t.seedUser(agencyId, { role: "analyst", subAccountIds: [subAccountId], ...(email ? { email } : {}) });

  /** Password sign-in of a user with 2FA: the pending step. */
  async function firstFactor(c: IpClient, email: string, extra: Record<string, unknown> = {}) {
    const res = await c.post("/api/auth/login", { email, password: TEST_PASSWORD, ...extra });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ mfaRequired: true });
    return res;
  }

  it("enrolls from the account page: otpauth URI, SVG QR code, confirm, 10 backup codes", async () => {
    const user = await analyst("enrol@acme.test");
    const c = client();
    expect((await c.login(user.email)).json().user.twoFactorEnabled).toBe(false);
    expect((await c.get("/api/account/2fa")).json()).toEqual({
      enabled: false,
      backupCodesRemaining: 0,
      required: false,
    });

    const setup = await c.post("/api/account/2fa/setup");
    expect(setup.statusCode).toBe(200);
    expect(setup.headers["cache-control"]).toBe("no-store");
    const { otpauthUri, secret, qrCode } = setup.json();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(otpauthUri);
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.host).toBe("totp");
    expect(decodeURIComponent(uri.pathname)).toBe("/CoPilot:enrol@acme.test");
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({
      secret,
      issuer: "CoPilot",
      algorithm: "SHA1",
      digits: "6",
      period: "30",
    });
    expect(qrCode).toMatch(/^data:image\/svg\+xml;base64,/);
    expect(Buffer.from(qrCode.split(",")[1], "base64").toString()).toContain("<svg");

    // Not on until confirmed; the secret is stored sealed, bound to the user.
    expect((await c.get("/api/account/2fa")).json().enabled).toBe(false);
    const row = await t.ctx.db
      .selectFrom("users")
      .select(["totp_secret_enc", "totp_enabled"])
      .where("id", "=", user.id)
      .executeTakeFirstOrThrow();
    expect(row.totp_enabled).toBe(false);
    expect(row.totp_secret_enc).not.toContain(secret);
    expect(t.ctx.secretBox.decrypt(row.totp_secret_enc!, totpAad(user.id))).toBe(secret);
    expect(() => t.ctx.secretBox.decrypt(row.totp_secret_enc!, totpAad(admin.id))).toThrow();

    const wrong = await c.post("/api/account/2fa/confirm", {
      code: await codeAt(t, secret, 3) /* another step's code */,
    });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().error).toMatchObject({ code: "invalid_code", field: "code" });

    const confirm = await c.post("/api/account/2fa/confirm", { code: await codeAt(t, secret) });
    expect(confirm.statusCode, confirm.body).toBe(200);
    const { backupCodes } = confirm.json();
    expect(backupCodes).toHaveLength(10);
    for (const code of backupCodes) expect(code).toMatch(/^[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}$/);
    expect(new Set(backupCodes).size).toBe(10);
    expect(confirm.json()).not.toHaveProperty("returnTo");

    expect((await c.get("/api/account/2fa")).json()).toEqual({
      enabled: true,
      backupCodesRemaining: 10,
      required: false,
    });
    expect((await c.get("/api/auth/me")).json().user.twoFactorEnabled).toBe(true);
    // Backup codes are stored hashed.
    const hashes = await t.ctx.db
      .selectFrom("backup_codes")
      .select("code_hash")
      .where("user_id", "=", user.id)
      .execute();
    expect(hashes).toHaveLength(10);
    const stored = JSON.stringify(hashes);
    for (const code of backupCodes) {
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(code.replace("-", ""));
    }
    // Setting up again while on is refused: the active secret is not replaced.
    const again = await c.post("/api/account/2fa/setup");
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe("2fa_already_enabled");

    const actions = (await auditActions(t, agencyId, user.id)).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(["mfa.setup_started", "mfa.failed", "mfa.enrolled"]));
    // Nothing secret reaches the audit log.
    const audited = JSON.stringify(await auditActions(t, agencyId, user.id));
    expect(audited).not.toContain(secret);
    for (const code of backupCodes) expect(audited).not.toContain(code);
  });

  it("gives a pending cookie and no session after the password, and a session after a valid code", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = client();
    const first = await firstFactor(c, u.email, { returnTo: "/settings/users" });
    const cookies = cookieNames(first);
    expect(cookies).toHaveProperty("copilot_mfa");
    expect(cookies).not.toHaveProperty("copilot_session");
    expect(await t.ctx.db.selectFrom("sessions").where("user_id", "=", u.id).execute()).toHaveLength(0);
    expect((await c.get("/api/auth/me")).statusCode).toBe(401);

    const res = await c.post("/api/auth/2fa", { code: await codeAt(t, u.secret) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().user.email).toBe(u.email);
    expect(res.json().returnTo).toBe("/settings/users");
    expect(cookieNames(res)).toHaveProperty("copilot_session");
    expect(c.cookies.has("copilot_mfa")).toBe(false);
    const me = await c.get("/api/auth/me");
    expect(me.statusCode).toBe(200);
    expect(me.json().user.id).toBe(u.id);
    // The pending sign-in is used up.
    expect(await t.ctx.db.selectFrom("mfa_challenges").where("user_id", "=", u.id).execute()).toHaveLength(0);

    const entries = await auditActions(t, agencyId, u.id);
    const verified = entries.filter((e) => e.action === "mfa.verified").at(-1);
    expect(verified?.details).toMatchObject({ method: "password", factor: "totp" });
    const signIn = entries.filter((e) => e.action === "auth.sign_in").at(-1);
    expect(signIn).toMatchObject({ outcome: "success" });
    expect(signIn?.details).toMatchObject({ method: "password", mfa: "totp" });
  });

  it("never hands back an unsafe returnTo", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = client();
    await firstFactor(c, u.email, { returnTo: "//evil.example/x" });
    const res = await c.post("/api/auth/2fa", { code: await codeAt(t, u.secret) });
    expect(res.statusCode).toBe(200);
    expect(res.json().returnTo).toBeNull();
  });

  it("refuses a wrong code with the attempts left, then accepts the right one", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = client();
    await firstFactor(c, u.email);
    const right = await codeAt(t, u.secret);
    const wrongCode = right === "000000" ? "111111" : "000000";
    const wrong = await c.post("/api/auth/2fa", { code: wrongCode });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().error).toMatchObject({ code: "invalid_code", field: "code" });
    expect(wrong.json().error.message).toContain("4 attempts left");
    expect((await c.get("/api/auth/me")).statusCode).toBe(401);
    const malformed = await c.post("/api/auth/2fa", { code: "12ab56" });
    expect(malformed.statusCode).toBe(422);
    expect((await c.post("/api/auth/2fa", {})).statusCode).toBe(422);
    expect((await c.post("/api/auth/2fa", { code: right, backupCode: u.backupCodes[0] })).statusCode).toBe(
      422,
    );
    const ok = await c.post("/api/auth/2fa", { code: right.replace(/(\d{3})/, "$1 ") });
    expect(ok.statusCode, ok.body).toBe(200);
    const failed = (await auditActions(t, agencyId, u.id)).filter((e) => e.action === "mfa.failed");
    expect(failed).toHaveLength(2);
    expect(failed[0]).toMatchObject({ outcome: "failure" });
    expect(failed[0]!.details).toMatchObject({ factor: "totp", cause: "wrong code", attemptsLeft: 4 });
    expect(JSON.stringify(failed)).not.toContain(wrongCode);
  });

  it("accepts a code once: a replayed code is refused, the next step's code works", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const code = await codeAt(t, u.secret);
    const first = client();
    await firstFactor(first, u.email);
    expect((await first.post("/api/auth/2fa", { code })).statusCode).toBe(200);

    // Same code, same step, a new sign-in (another browser): refused.
    const second = client();
    await firstFactor(second, u.email);
    const replay = await second.post("/api/auth/2fa", { code });
    expect(replay.statusCode).toBe(422);
    expect(replay.json().error.message).toMatch(/already used/);
    expect((await second.get("/api/auth/me")).statusCode).toBe(401);
    // Still refused in the next step (it is inside the ±1 window, but its step is used).
    t.clock.advance(PERIOD_MS);
    const again = await second.post("/api/auth/2fa", { code });
    expect(again.statusCode).toBe(422);
    const fresh = await second.post("/api/auth/2fa", { code: await codeAt(t, u.secret) });
    expect(fresh.statusCode, fresh.body).toBe(200);
    const failed = (await auditActions(t, agencyId, u.id)).filter((e) => e.action === "mfa.failed");
    expect(failed.map((f) => f.details.cause)).toEqual(["code already used", "code already used"]);
  });

  it("lets only one of two simultaneous checks of the same code win (database-side step check)", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const code = await codeAt(t, u.secret);
    const results = await Promise.all([acceptTotp(t.ctx, u.id, code), acceptTotp(t.ctx, u.id, code)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.find((r) => !r.ok)).toEqual({ ok: false, why: "replayed" });
    const row = await t.ctx.db
      .selectFrom("users")
      .select("totp_last_step")
      .where("id", "=", u.id)
      .executeTakeFirstOrThrow();
    expect(row.totp_last_step).toBe(Math.floor(t.clock.now().getTime() / PERIOD_MS));
  });

  it("accepts the codes of the previous and the next step, refuses two steps away", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    freshStep(t);
    const c = client();
    await firstFactor(c, u.email);
    for (const offset of [-2, 2, -3, 3]) {
      const res = await c.post("/api/auth/2fa", { code: await codeAt(t, u.secret, offset) });
      expect(res.statusCode, `offset ${offset}`).toBe(422);
    }
    const previous = await c.post("/api/auth/2fa", { code: await codeAt(t, u.secret, -1) });
    expect(previous.statusCode, previous.body).toBe(200);

    const d = client();
    await firstFactor(d, u.email);
    const next = await d.post("/api/auth/2fa", { code: await codeAt(t, u.secret, +1) });
    expect(next.statusCode, next.body).toBe(200);
  });

  it("ends the pending sign-in after five wrong codes: the sixth try, even with the right code, fails", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = client();
    await firstFactor(c, u.email);
    const pending = c.cookies.get("copilot_mfa")!;
    const right = await codeAt(t, u.secret);
    const wrongCode = right === "123456" ? "654321" : "123456";
    for (let i = 1; i <= 4; i++) {
      const res = await c.post("/api/auth/2fa", { code: wrongCode });
      expect(res.statusCode).toBe(422);
      expect(res.json().error.message).toContain(`${5 - i} attempt`);
    }
    const fifth = await c.post("/api/auth/2fa", { code: wrongCode });
    expect(fifth.statusCode).toBe(401);
    expect(fifth.json().error.code).toBe("mfa_ended");
    expect(c.cookies.has("copilot_mfa")).toBe(false);
    expect(await t.ctx.db.selectFrom("mfa_challenges").where("user_id", "=", u.id).execute()).toHaveLength(0);

    // The sixth try, with the old cookie and the right code: the pending sign-in is gone.
    c.cookies.set("copilot_mfa", pending);
    const sixth = await c.post("/api/auth/2fa", { code: right });
    expect(sixth.statusCode).toBe(401);
    expect(sixth.json().error.code).toBe("mfa_expired");
    expect((await c.get("/api/auth/me")).statusCode).toBe(401);
    expect(await t.ctx.db.selectFrom("sessions").where("user_id", "=", u.id).execute()).toHaveLength(0);
    const failed = (await auditActions(t, agencyId, u.id)).filter((e) => e.action === "mfa.failed");
    expect(failed).toHaveLength(5);
    expect(failed.at(-1)!.details).toMatchObject({ attemptsLeft: 0, ended: true });
  });

  it("expires a pending sign-in after 5 minutes", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = client();
    await firstFactor(c, u.email);
    t.clock.advance(5 * 60_000 + 1000);
    const res = await c.post("/api/auth/2fa", { code: await codeAt(t, u.secret) });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe("mfa_expired");
  });

  it("accepts each backup code once, case- and space-insensitively", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const [code, other] = u.backupCodes as [string, string];
    const typed = ` ${code
      .replace("-", "")
      .toLowerCase()
      .replace(/(.{3})/, "$1 ")} `;
    const c = client();
    await firstFactor(c, u.email);
    const ok = await c.post("/api/auth/2fa", { backupCode: typed });
    expect(ok.statusCode, ok.body).toBe(200);
    expect((await c.get("/api/auth/me")).statusCode).toBe(200);
    expect((await c.get("/api/account/2fa")).json().backupCodesRemaining).toBe(9);
    const used = (await auditActions(t, agencyId, u.id)).filter((e) => e.action === "mfa.backup_code_used");
    expect(used).toHaveLength(1);
    expect(used[0]!.details).toEqual({ remaining: 9 });

    const d = client();
    await firstFactor(d, u.email);
    const twice = await d.post("/api/auth/2fa", { backupCode: code });
    expect(twice.statusCode).toBe(422);
    expect(twice.json().error).toMatchObject({ code: "invalid_code", field: "backupCode" });
    expect((await d.get("/api/auth/me")).statusCode).toBe(401);
    // Another unused code still works in the same pending sign-in.
    expect((await d.post("/api/auth/2fa", { backupCode: other })).statusCode).toBe(200);
    expect((await d.get("/api/account/2fa")).json().backupCodesRemaining).toBe(8);
  });

  it("regenerates backup codes with a current code; the old ones stop working", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = client();
    await firstFactor(c, u.email);
    expect((await c.post("/api/auth/2fa", { code: await codeAt(t, u.secret) })).statusCode).toBe(200);
    freshStep(t);

    const wrong = await c.post("/api/account/2fa/backup-codes", { code: "000000" });
    expect(wrong.statusCode).toBe(422);
    expect((await c.post("/api/account/2fa/backup-codes", {})).statusCode).toBe(422);
    const res = await c.post("/api/account/2fa/backup-codes", { code: await codeAt(t, u.secret) });
    expect(res.statusCode, res.body).toBe(200);
    const fresh: string[] = res.json().backupCodes;
    expect(fresh).toHaveLength(10);
    expect(fresh.some((x) => u.backupCodes.includes(x))).toBe(false);
    expect((await c.get("/api/account/2fa")).json().backupCodesRemaining).toBe(10);

    const d = client();
    await firstFactor(d, u.email);
    expect((await d.post("/api/auth/2fa", { backupCode: u.backupCodes[1] })).statusCode).toBe(422);
    expect((await d.post("/api/auth/2fa", { backupCode: fresh[0] })).statusCode).toBe(200);
    const actions = (await auditActions(t, agencyId, u.id)).map((e) => e.action);
    expect(actions).toContain("mfa.backup_codes_regenerated");
  });

  it("turns 2FA off with a current code only", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = client();
    await firstFactor(c, u.email);
    expect((await c.post("/api/auth/2fa", { code: await codeAt(t, u.secret) })).statusCode).toBe(200);
    // The code just used is refused (replay), a wrong one too.
    expect((await c.post("/api/account/2fa/disable", { code: await codeAt(t, u.secret) })).statusCode).toBe(
      422,
    );
    expect((await c.post("/api/account/2fa/disable", { code: "000000" })).statusCode).toBe(422);
    freshStep(t);
    const off = await c.post("/api/account/2fa/disable", { code: await codeAt(t, u.secret) });
    expect(off.statusCode, off.body).toBe(204);
    expect((await c.get("/api/account/2fa")).json()).toMatchObject({
      enabled: false,
      backupCodesRemaining: 0,
    });
    const row = await t.ctx.db
      .selectFrom("users")
      .select(["totp_secret_enc", "totp_enabled"])
      .where("id", "=", u.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ totp_secret_enc: null, totp_enabled: false });
    expect(await t.ctx.db.selectFrom("backup_codes").where("user_id", "=", u.id).execute()).toHaveLength(0);
    expect((await c.post("/api/account/2fa/disable", { code: "000000" })).statusCode).toBe(409);
    // Next sign-in: straight to a session.
    const d = client();
    expect((await d.login(u.email)).json()).toHaveProperty("user");
    expect((await auditActions(t, agencyId, u.id)).map((e) => e.action)).toContain("mfa.disabled");
  });

  it("rate-limits second-factor attempts per account (429 with Retry-After)", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const right = await codeAt(t, u.secret);
    const wrongCode = right === "000000" ? "111111" : "000000";
    // Three pending sign-ins, five wrong codes each, from three different addresses.
    for (let round = 0; round < 3; round++) {
      const c = client();
      await firstFactor(c, u.email);
      for (let i = 0; i < 5; i++) await c.post("/api/auth/2fa", { code: wrongCode });
    }
    const c = client();
    await firstFactor(c, u.email);
    const limited = await c.post("/api/auth/2fa", { code: right });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(limited.json().error.code).toBe("rate_limited");
    // The account routes share the account's budget.
    // After the window, the same pending flow works again.
    t.clock.advance(15 * 60_000);
    freshStep(t);
    const d = client();
    await firstFactor(d, u.email);
    expect((await d.post("/api/auth/2fa", { code: await codeAt(t, u.secret) })).statusCode).toBe(200);
  });

  it("rate-limits second-factor attempts per IP", async () => {
    const ip = "192.0.2.44";
    const users = [];
    for (let i = 0; i < 8; i++) users.push(await userWith2fa(t, agencyId, HOST));
    let attempts = 0;
    let limited: Awaited<ReturnType<IpClient["post"]>> | null = null;
    for (const u of users) {
      const c = new IpClient(t, HOST, ip);
      await firstFactor(c, u.email);
      for (let i = 0; i < 4 && !limited; i++) {
        const res = await c.post("/api/auth/2fa", { code: "000000" });
        attempts++;
        if (res.statusCode === 429) limited = res;
      }
      if (limited) break;
    }
    expect(limited?.statusCode).toBe(429);
    expect(attempts).toBe(31);
    expect(Number(limited!.headers["retry-after"])).toBeGreaterThan(0);
  });

  it("requires 2FA for an agency: enrolment with the pending cookie, then a session", async () => {
    const withTwoFactor = await userWith2fa(t, agencyId, HOST, {
      role: "analyst",
      subAccountIds: [subAccountId],
    });
    const analystClient = client();
    const plain = await analyst();
    expect((await analystClient.login(plain.email)).statusCode).toBe(200);
    expect((await analystClient.put("/api/admin/security", { require2fa: true })).statusCode).toBe(403);

    expect((await adminClient.get("/api/admin/security")).json()).toEqual({ require2fa: false });
    const put = await adminClient.put("/api/admin/security", { require2fa: true });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toEqual({ require2fa: true });
    expect((await adminClient.get("/api/admin/security")).json()).toEqual({ require2fa: true });
    expect((await adminClient.put("/api/admin/security", { require2fa: "yes" })).statusCode).toBe(422);
    const changed = (await auditActions(t, agencyId, admin.id)).filter((e) => e.action === "security.update");
    expect(changed.at(-1)!.details).toEqual({ require2fa: { from: false, to: true } });

    try {
      const user = await analyst();
      const c = client();
      const login = await c.post("/api/auth/login", {
        email: user.email,
        password: TEST_PASSWORD,
        returnTo: "/settings/account",
      });
      expect(login.json()).toEqual({ mfaEnrollmentRequired: true });
      expect(cookieNames(login)).not.toHaveProperty("copilot_session");
      expect((await c.get("/api/auth/me")).statusCode).toBe(401);
      expect((await c.get("/api/account/2fa")).statusCode).toBe(401);
      // The enrolment cookie is not a verification cookie.
      expect((await c.post("/api/auth/2fa", { code: "123456" })).statusCode).toBe(401);

      const setup = await c.post("/api/account/2fa/setup");
      expect(setup.statusCode, setup.body).toBe(200);
      const { secret } = setup.json();
      const wrong = await c.post("/api/account/2fa/confirm", { code: await codeAt(t, secret, 5) });
      expect(wrong.statusCode).toBe(422);
      expect(wrong.json().error.message).toContain("4 attempts left");
      expect((await c.get("/api/auth/me")).statusCode).toBe(401);

      const confirm = await c.post("/api/account/2fa/confirm", { code: await codeAt(t, secret) });
      expect(confirm.statusCode, confirm.body).toBe(200);
      expect(confirm.json().backupCodes).toHaveLength(10);
      expect(confirm.json().returnTo).toBe("/settings/account");
      expect(cookieNames(confirm)).toHaveProperty("copilot_session");
      expect(c.cookies.has("copilot_mfa")).toBe(false);
      const me = await c.get("/api/auth/me");
      expect(me.statusCode).toBe(200);
      expect(me.json().user).toMatchObject({ id: user.id, twoFactorEnabled: true });
      expect((await c.get("/api/account/2fa")).json()).toMatchObject({ enabled: true, required: true });
      const signIn = (await auditActions(t, agencyId, user.id)).filter((e) => e.action === "auth.sign_in");
      expect(signIn.at(-1)!.details).toMatchObject({ method: "password", mfa: "enrolled" });

      // The next sign-in asks for the code.
      freshStep(t);
      const d = client();
      await firstFactor(d, user.email);
      expect((await d.post("/api/auth/2fa", { code: await codeAt(t, secret) })).statusCode).toBe(200);

      // A user who already has 2FA is asked for it, not for enrolment.
      await firstFactor(client(), withTwoFactor.email);
    } finally {
      await adminClient.put("/api/admin/security", { require2fa: false });
    }
  });

  it("lets an admin reset a user's 2FA (audited), which also ends their pending sign-in", async () => {
    const u = await userWith2fa(t, agencyId, HOST, { role: "analyst", subAccountIds: [subAccountId] });
    const pending = client();
    await firstFactor(pending, u.email);

    const other = await t.seedAgency({ slug: "globex", domain: "globex.localhost" });
    const stranger = await t.seedUser(other.id, { email: "x@globex.test" });
    expect((await adminClient.post(`/api/admin/users/${stranger.id}/reset-2fa`)).statusCode).toBe(404);
    expect((await adminClient.post(`/api/admin/users/${admin.id}/reset-2fa`)).statusCode).toBe(422);
    const nonAdmin = await analyst();
    const nc = client();
    await nc.login(nonAdmin.email);
    expect((await nc.post(`/api/admin/users/${u.id}/reset-2fa`)).statusCode).toBe(403);

    const res = await adminClient.post(`/api/admin/users/${u.id}/reset-2fa`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().user).toMatchObject({ id: u.id, twoFactorEnabled: false });
    const row = await t.ctx.db
      .selectFrom("users")
      .select(["totp_secret_enc", "totp_enabled", "totp_last_step"])
      .where("id", "=", u.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ totp_secret_enc: null, totp_enabled: false, totp_last_step: null });
    expect(await t.ctx.db.selectFrom("backup_codes").where("user_id", "=", u.id).execute()).toHaveLength(0);
    const reset = (await auditActions(t, agencyId, u.id)).filter((e) => e.action === "mfa.reset");
    expect(reset).toHaveLength(1);
    expect(reset[0]).toMatchObject({ actor_id: admin.id, target_id: u.id, outcome: "success" });
    expect(reset[0]!.details).toMatchObject({ hadTwoFactor: true });

    // The pending sign-in from before the reset is void; a new sign-in needs no second factor.
    const late = await pending.post("/api/auth/2fa", { code: await codeAt(t, u.secret) });
    expect(late.statusCode).toBe(401);
    expect((await pending.get("/api/auth/me")).statusCode).toBe(401);
    const c = client();
    const login = await c.login(u.email);
    expect(login.json().user.twoFactorEnabled).toBe(false);
  });

  it("binds the pending cookie to its agency's host", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = client();
    await firstFactor(c, u.email);
    const elsewhere = new IpClient(t, "globex2.localhost");
    await t.seedAgency({ slug: "globex2", domain: "globex2.localhost" });
    elsewhere.cookies.set("copilot_mfa", c.cookies.get("copilot_mfa")!);
    const res = await elsewhere.post("/api/auth/2fa", { code: await codeAt(t, u.secret) });
    expect(res.statusCode).toBe(401);
    // Still usable on its own host.
    expect((await c.post("/api/auth/2fa", { code: await codeAt(t, u.secret) })).statusCode).toBe(200);
  });

  it("refuses a cross-origin second factor (Origin check)", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    const c = client();
    await firstFactor(c, u.email);
    const res = await c.request({
      method: "POST",
      url: "/api/auth/2fa",
      payload: { code: await codeAt(t, u.secret) },
      headers: { origin: "http://evil.example" },
    });
    expect(res.statusCode).toBe(403);
  });

  it("documents every 2FA route in /openapi.json", async () => {
    const spec = (await t.app.inject({ method: "GET", url: "/openapi.json" })).json();
    for (const path of [
      "/api/auth/2fa",
      "/api/account/2fa",
      "/api/account/2fa/setup",
      "/api/account/2fa/confirm",
      "/api/account/2fa/backup-codes",
      "/api/account/2fa/disable",
      "/api/admin/security",
      "/api/admin/users/{id}/reset-2fa",
    ]) {
      expect(spec.paths, path).toHaveProperty([path]);
    }
    expect(spec.paths["/api/auth/2fa"].post.requestBody).toBeDefined();
  });
});
