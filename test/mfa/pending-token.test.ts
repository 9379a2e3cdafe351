// SPEC §6 / issue 5: a pending-2FA token is good for nothing but finishing its own sign-in. It is
// presented — as the pending cookie, as a session cookie and as a bearer token — to every route
// the API documents (so routes added later are covered too), then still finishes the sign-in.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, TEST_PASSWORD, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";
import { codeAt, cookieNames, freshStep, IpClient, userWith2fa } from "./helpers.js";

const HOST = "acme.localhost";

/** Routes a pending token is FOR (each is tested for what it may do elsewhere). */
const PENDING_ROUTES: Record<"verify" | "enroll", string[]> = {
  verify: ["post /api/auth/2fa"],
  enroll: ["post /api/account/2fa/setup", "post /api/account/2fa/confirm"],
};

/** Route families that need a session (or an integration token): never reachable with a pending token. */
function isProtected(path: string): boolean {
  return (
    path.startsWith("/api/admin/") ||
    path.startsWith("/api/account/") ||
    path.startsWith("/api/v1/") ||
    path === "/api/auth/me"
  );
}

describe.each(storages())("a pending-2FA token on every other route (%s)", (storage) => {
  let t: TestApp;
  let agencyId: string;
  let routes: Array<{ method: string; path: string }>;

  beforeAll(async () => {
    t = await createTestApp(storage);
    agencyId = (await t.seedAgency({ slug: "acme", domain: HOST })).id;
    const spec = (await t.app.inject({ method: "GET", url: "/openapi.json" })).json();
    routes = Object.entries<Record<string, unknown>>(spec.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => ({ method, path })),
    );
    // The families the issue names are all there to be probed.
    for (const family of ["/api/auth/me", "/api/admin/users", "/api/admin/sso", "/api/account/2fa"]) {
      expect(routes.some((r) => r.path.startsWith(family))).toBe(true);
    }
  });
  afterAll(() => t?.close());

  /** Sends the token every way to every documented route but its own. */
  async function probeEverything(pending: IpClient, token: string, purpose: "verify" | "enroll") {
    const asSession = new IpClient(t, HOST, pending.ip);
    asSession.cookies.set("copilot_session", token);
    for (const { method, path } of routes) {
      if (PENDING_ROUTES[purpose].includes(`${method} ${path}`)) continue;
      // Sign-out with the pending cookie ends the pending sign-in (its own test below); here it is
      // only sent as a session cookie and as a bearer token.
      const signOut = `${method} ${path}` === "post /api/auth/logout";
      const url = path.replace(/\{[^}]+\}/g, () => randomUUID());
      const label = `${method.toUpperCase()} ${path} (${purpose})`;
      const payload = method === "get" || method === "delete" ? undefined : {};
      const attempts = [
        ...(signOut ? [] : [await pending.request({ method: method.toUpperCase() as "GET", url, payload })]),
        await asSession.request({ method: method.toUpperCase() as "GET", url, payload }),
        await new IpClient(t, HOST, pending.ip).request({
          method: method.toUpperCase() as "GET",
          url,
          payload,
          headers: { authorization: `Bearer ${token}` },
        }),
      ];
      for (const res of attempts) {
        expect(cookieNames(res), label).not.toHaveProperty("copilot_session");
        if (!isProtected(path)) continue;
        expect(res.statusCode, `${label}: ${res.body}`).toBeGreaterThanOrEqual(400);
        if (method === "get") expect(res.statusCode, `${label}: ${res.body}`).toBe(401);
      }
    }
    expect(await t.ctx.db.selectFrom("sessions").execute()).toHaveLength(0);
  }

  it("refuses a verification token everywhere, then the token still finishes its sign-in", async () => {
    const u = await userWith2fa(t, agencyId, HOST);
    await t.ctx.db.deleteFrom("sessions").execute();
    freshStep(t);
    const c = new IpClient(t, HOST);
    const login = await c.login(u.email);
    expect(login.json()).toEqual({ mfaRequired: true });
    const token = c.cookies.get("copilot_mfa")!;
    expect(token).toBeTruthy();

    // The routes the issue names, explicitly, with the exact answer.
    expect((await c.get("/api/auth/me")).statusCode).toBe(401);
    expect((await c.get("/api/admin/users")).statusCode).toBe(401);
    expect((await c.get("/api/admin/sso")).statusCode).toBe(401);
    expect((await c.get("/api/admin/audit")).statusCode).toBe(401);
    expect((await c.get("/api/admin/security")).statusCode).toBe(401);
    expect((await c.put("/api/admin/security", { require2fa: true })).statusCode).toBe(401);
    expect((await c.post(`/api/admin/users/${u.id}/reset-2fa`)).statusCode).toBe(401);
    expect((await c.get("/api/account/2fa")).statusCode).toBe(401);
    // A verification token cannot start a new enrolment, regenerate codes or turn 2FA off.
    expect((await c.post("/api/account/2fa/setup")).statusCode).toBe(401);
    const code = await codeAt(t, u.secret);
    expect((await c.post("/api/account/2fa/confirm", { code })).statusCode).toBe(401);
    expect((await c.post("/api/account/2fa/backup-codes", { code })).statusCode).toBe(401);
    expect((await c.post("/api/account/2fa/disable", { code })).statusCode).toBe(401);
    await probeEverything(c, token, "verify");

    const row = await t.ctx.db
      .selectFrom("users")
      .select(["totp_enabled", "totp_last_step"])
      .where("id", "=", u.id)
      .executeTakeFirstOrThrow();
    expect(row.totp_enabled).toBe(true);
    const agency = await t.ctx.db
      .selectFrom("agencies")
      .select("require_2fa")
      .where("id", "=", agencyId)
      .executeTakeFirstOrThrow();
    expect(agency.require_2fa).toBe(false);

    // Its one use.
    c.cookies.set("copilot_mfa", token);
    const done = await c.post("/api/auth/2fa", { code });
    expect(done.statusCode, done.body).toBe(200);
    expect((await c.get("/api/auth/me")).statusCode).toBe(200);
  });

  it("refuses an enrolment token everywhere but setup and confirm", async () => {
    await t.ctx.db.updateTable("agencies").set({ require_2fa: true }).where("id", "=", agencyId).execute();
    try {
      const user = await t.seedUser(agencyId, { email: "new@acme.test" });
      await t.ctx.db.deleteFrom("sessions").execute();
      const c = new IpClient(t, HOST);
      const login = await c.post("/api/auth/login", { email: user.email, password: TEST_PASSWORD });
      expect(login.json()).toEqual({ mfaEnrollmentRequired: true });
      const token = c.cookies.get("copilot_mfa")!;

      expect((await c.get("/api/auth/me")).statusCode).toBe(401);
      expect((await c.get("/api/account/2fa")).statusCode).toBe(401);
      expect((await c.post("/api/account/2fa/backup-codes", { code: "123456" })).statusCode).toBe(401);
      expect((await c.post("/api/account/2fa/disable", { code: "123456" })).statusCode).toBe(401);
      expect((await c.post("/api/auth/2fa", { code: "123456" })).statusCode).toBe(401);
      await probeEverything(c, token, "enroll");

      c.cookies.set("copilot_mfa", token);
      const setup = await c.post("/api/account/2fa/setup");
      expect(setup.statusCode, setup.body).toBe(200);
      const confirm = await c.post("/api/account/2fa/confirm", {
        code: await codeAt(t, setup.json().secret),
      });
      expect(confirm.statusCode, confirm.body).toBe(200);
      expect((await c.get("/api/auth/me")).statusCode).toBe(200);
    } finally {
      await t.ctx.db.updateTable("agencies").set({ require_2fa: false }).where("id", "=", agencyId).execute();
    }
  });

  it.each([
    "verify",
    "enroll",
  ] as const)("sign-out ends a pending sign-in (%s): both cookies cleared, the token finishes nothing after", async (purpose) => {
    if (purpose === "enroll") {
      await t.ctx.db.updateTable("agencies").set({ require_2fa: true }).where("id", "=", agencyId).execute();
    }
    try {
      const email =
        purpose === "verify"
          ? (await userWith2fa(t, agencyId, HOST)).email
          : (await t.seedUser(agencyId, { email: `enrolling-${randomUUID()}@acme.test` })).email;
      await t.ctx.db.deleteFrom("sessions").execute();
      freshStep(t);
      const c = new IpClient(t, HOST);
      const login = await c.login(email);
      expect(login.json()).toEqual(
        purpose === "verify" ? { mfaRequired: true } : { mfaEnrollmentRequired: true },
      );
      const token = c.cookies.get("copilot_mfa")!;
      expect(token).toBeTruthy();

      const logout = await c.post("/api/auth/logout");
      expect(logout.statusCode).toBe(204);
      const cleared = (logout.cookies as Array<{ name: string; value: string }>).filter(
        (k) => k.value === "",
      );
      expect(cleared.map((k) => k.name).sort()).toEqual(["copilot_mfa", "copilot_session"]);
      expect(cookieNames(logout)).toEqual({});
      expect(c.cookies.has("copilot_mfa")).toBe(false);

      // The stored challenge is gone: the token, sent again, is refused where it used to work.
      c.cookies.set("copilot_mfa", token);
      if (purpose === "verify") {
        const again = await c.post("/api/auth/2fa", { code: "123456" });
        expect(again.statusCode, again.body).toBe(401);
        expect(again.json().error.code).toBe("mfa_expired");
      } else {
        expect((await c.post("/api/account/2fa/setup")).statusCode).toBe(401);
      }
      expect((await c.get("/api/auth/me")).statusCode).toBe(401);
      expect(await t.ctx.db.selectFrom("sessions").execute()).toHaveLength(0);
    } finally {
      await t.ctx.db.updateTable("agencies").set({ require_2fa: false }).where("id", "=", agencyId).execute();
    }
  });
});
