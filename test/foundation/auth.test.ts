import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, createTestApp, TEST_PASSWORD, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";

describe.each(storages())("password sign-in, sessions, tenancy (%s)", (storage) => {
  let t: TestApp;
  let acme: Awaited<ReturnType<TestApp["seedAgency"]>>;
  let globex: Awaited<ReturnType<TestApp["seedAgency"]>>;
  let admin: Awaited<ReturnType<TestApp["seedUser"]>>;
  let globexUser: Awaited<ReturnType<TestApp["seedUser"]>>;

  beforeAll(async () => {
    t = await createTestApp(storage);
    acme = await t.seedAgency({ slug: "acme", domain: "acme.localhost" });
    globex = await t.seedAgency({ slug: "globex", domain: "globex.localhost" });
    admin = await t.seedUser(acme.id, { email: "admin@acme.test" });
    globexUser = await t.seedUser(globex.id, { email: "someone@globex.test", role: "admin" });
  });
  afterAll(() => t.close());

  const client = (host = "acme.localhost") => new Client(t.app, host);

  it("answers /me with the current user and agency right after either changes", async () => {
    const c = client();
    await c.login("admin@acme.test");
    const first = (await c.get("/api/auth/me")).json();
    expect((await c.get("/api/auth/me")).json()).toEqual(first);
    await t.ctx.db.updateTable("users").set({ name: "Renamed Admin" }).where("id", "=", admin.id).execute();
    expect((await c.get("/api/auth/me")).json().user.name).toBe("Renamed Admin");
    await t.ctx.db.updateTable("agencies").set({ name: "Acme Renamed" }).where("id", "=", acme.id).execute();
    const after = (await c.get("/api/auth/me")).json();
    expect(after.agency.name).toBe("Acme Renamed");
    expect(after.user.name).toBe("Renamed Admin");
    await t.ctx.db
      .updateTable("agencies")
      .set({ name: first.agency.name })
      .where("id", "=", acme.id)
      .execute();
    await t.ctx.db.updateTable("users").set({ name: first.user.name }).where("id", "=", admin.id).execute();
  });

  it("signs in, answers /me with the user and agency, and sets a safe cookie", async () => {
    const c = client();
    const res = await c.login("ADMIN@acme.test");
    expect(res.statusCode).toBe(200);
    expect(res.json().user.email).toBe("admin@acme.test");
    const cookie = (
      res.cookies as Array<{ name: string; httpOnly?: boolean; sameSite?: string; secure?: boolean }>
    ).find((x) => x.name === "copilot_session");
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe("Lax");
    expect(cookie?.secure).toBeFalsy();
    const me = await c.get("/api/auth/me");
    expect(me.statusCode).toBe(200);
    expect(me.json().agency.slug).toBe("acme");
    // Only a hash of the token is stored.
    const token = c.cookies.get("copilot_session")!;
    const rows = await t.ctx.db.selectFrom("sessions").select("id").execute();
    expect(rows.some((r) => r.id === token)).toBe(false);
  });

  it("marks the cookie Secure on HTTPS", async () => {
    const res = await client().request({
      method: "POST",
      url: "/api/auth/login",
      payload: { email: "admin@acme.test", password: TEST_PASSWORD },
      headers: { "x-forwarded-proto": "https" },
    });
    // trustProxy is off by default: X-Forwarded-Proto is ignored, the request stays http.
    expect((res.cookies as Array<{ secure?: boolean }>)[0]?.secure).toBeFalsy();
  });

  it("answers the same 401 for a wrong password and an unknown email", async () => {
    const wrong = await client().login("admin@acme.test", "not the password");
    const unknown = await client().login("nobody@acme.test", "not the password");
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json()).toEqual(unknown.json());
    expect(wrong.json().error.message).toBe("Invalid email or password");
  });

  it("does not sign a user of one agency into another agency's host", async () => {
    const res = await client("acme.localhost").login("someone@globex.test");
    expect(res.statusCode).toBe(401);
  });

  it("answers 404 on an unknown host", async () => {
    const res = await client("unknown.localhost").login("admin@acme.test");
    expect(res.statusCode).toBe(404);
  });

  it("rotates the session on sign-in and revokes it on sign-out", async () => {
    const c = client();
    await c.login("admin@acme.test");
    const first = c.cookies.get("copilot_session")!;
    await c.login("admin@acme.test");
    const second = c.cookies.get("copilot_session")!;
    expect(second).not.toBe(first);
    const old = new Client(t.app, "acme.localhost");
    old.cookies.set("copilot_session", first);
    expect((await old.get("/api/auth/me")).statusCode).toBe(401);
    expect((await c.post("/api/auth/logout")).statusCode).toBe(204);
    const stale = new Client(t.app, "acme.localhost");
    stale.cookies.set("copilot_session", second);
    expect((await stale.get("/api/auth/me")).statusCode).toBe(401);
  });

  it("expires idle sessions and sessions past their absolute lifetime", async () => {
    const c = client();
    await c.login("admin@acme.test");
    t.clock.advance((t.ctx.config.sessionIdleMinutes - 1) * 60_000);
    expect((await c.get("/api/auth/me")).statusCode).toBe(200); // slides the idle expiry
    t.clock.advance((t.ctx.config.sessionIdleMinutes - 1) * 60_000);
    expect((await c.get("/api/auth/me")).statusCode).toBe(200);
    t.clock.advance((t.ctx.config.sessionIdleMinutes + 1) * 60_000);
    expect((await c.get("/api/auth/me")).statusCode).toBe(401);

    const d = client();
    await d.login("admin@acme.test");
    // Keep it active but pass the absolute lifetime.
    const step = (t.ctx.config.sessionIdleMinutes - 5) * 60_000;
    let elapsed = 0;
    while (elapsed < t.ctx.config.sessionAbsoluteHours * 3_600_000 - step) {
      t.clock.advance(step);
      elapsed += step;
      expect((await d.get("/api/auth/me")).statusCode).toBe(200);
    }
    t.clock.advance(step);
    expect((await d.get("/api/auth/me")).statusCode).toBe(401);
    t.clock.offsetMs = 0;
  });

  it("revokes sessions on deactivation and on password change", async () => {
    const analystSub = await t.seedSubAccount(acme.id);
    const person = await t.seedUser(acme.id, {
      email: "person@acme.test",
      role: "analyst",
      subAccountIds: [analystSub],
    });
    const adminClient = client();
    await adminClient.login("admin@acme.test");

    const p = client();
    expect((await p.login("person@acme.test")).statusCode).toBe(200);
    const changed = await adminClient.put(`/api/admin/users/${person.id}`, {
      password: "another long password",
    });
    expect(changed.statusCode).toBe(200);
    expect((await p.get("/api/auth/me")).statusCode).toBe(401);

    expect((await p.login("person@acme.test", "another long password")).statusCode).toBe(200);
    const deactivated = await adminClient.delete(`/api/admin/users/${person.id}`);
    expect(deactivated.json().user.active).toBe(false);
    expect((await p.get("/api/auth/me")).statusCode).toBe(401);
    // A deactivated user cannot sign in again, until an admin reactivates them.
    expect((await p.login("person@acme.test", "another long password")).statusCode).toBe(403);
    const reactivated = await adminClient.put(`/api/admin/users/${person.id}`, { active: true });
    expect(reactivated.statusCode).toBe(200);
    expect(reactivated.json().user.active).toBe(true);
    expect((await p.login("person@acme.test", "another long password")).statusCode).toBe(200);
  });

  it("refuses an analyst without a sub-account", async () => {
    await t.seedUser(acme.id, { email: "lonely@acme.test", role: "analyst" });
    const res = await client().login("lonely@acme.test");
    expect(res.statusCode).toBe(403);
    expect(res.json().error.message).toBe(
      "You are not authorized to access this account. Please contact your admin.",
    );
  });

  it("refuses cookie-authenticated changes without the agency's Origin", async () => {
    const c = client();
    await c.login("admin@acme.test");
    const noOrigin = await c.request({
      method: "POST",
      url: "/api/admin/sub-accounts",
      payload: { name: "X" },
      noOrigin: true,
    });
    expect(noOrigin.statusCode).toBe(403);
    const evil = await c.post("/api/admin/sub-accounts", { name: "X" }, { origin: "http://evil.localhost" });
    expect(evil.statusCode).toBe(403);
    const otherAgency = await c.post(
      "/api/admin/sub-accounts",
      { name: "X" },
      { origin: "http://globex.localhost" },
    );
    expect(otherAgency.statusCode).toBe(403);
    const ok = await c.post("/api/admin/sub-accounts", { name: "Origin OK" });
    expect(ok.statusCode).toBe(201);
  });

  it("keeps agencies apart on every admin route", async () => {
    const c = client();
    await c.login("admin@acme.test");
    const list = await c.get("/api/admin/users");
    expect(list.json().users.map((u: { email: string }) => u.email)).not.toContain("someone@globex.test");
    expect((await c.get(`/api/admin/users/${globexUser.id}`)).statusCode).toBe(404);
    expect((await c.put(`/api/admin/users/${globexUser.id}`, { name: "Hacked" })).statusCode).toBe(404);
    expect((await c.delete(`/api/admin/users/${globexUser.id}`)).statusCode).toBe(404);
    const globexSub = await t.seedSubAccount(globex.id, "Globex private");
    expect((await c.delete(`/api/admin/sub-accounts/${globexSub}`)).statusCode).toBe(404);
    const assign = await c.put(`/api/admin/users/${admin.id}`, { subAccountIds: [globexSub] });
    expect(assign.statusCode).toBe(422);
    const audit = await c.get("/api/admin/audit");
    // Acme's log may record a sign-in attempt made on acme's host, but never globex's own events.
    expect(
      audit.json().entries.some((e: { target: { id: string } | null }) => e.target?.id === globexUser.id),
    ).toBe(false);
    const after = await t.ctx.db
      .selectFrom("users")
      .select("name")
      .where("id", "=", globexUser.id)
      .executeTakeFirstOrThrow();
    expect(after.name).not.toBe("Hacked");
  });

  it("gives analysts 403 on admin routes", async () => {
    const sub = await t.seedSubAccount(acme.id);
    await t.seedUser(acme.id, { email: "analyst@acme.test", role: "analyst", subAccountIds: [sub] });
    const c = client();
    await c.login("analyst@acme.test");
    expect((await c.get("/api/admin/users")).statusCode).toBe(403);
    expect((await c.get("/api/admin/audit")).statusCode).toBe(403);
    expect((await c.post("/api/admin/sub-accounts", { name: "nope" })).statusCode).toBe(403);
  });

  it("validates admin input and names the field, losing nothing", async () => {
    const c = client();
    await c.login("admin@acme.test");
    const bad = await c.post("/api/admin/users", { email: "not-an-email", name: "X" });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error.field).toBe("email");
    const lang = await c.post("/api/admin/users", {
      email: "lang@acme.test",
      platformLanguage: "not a tag!",
    });
    expect(lang.json().error.field).toBe("platformLanguage");
    const unknownField = await c.post("/api/admin/users", { email: "x@acme.test", shoeSize: 44 });
    expect(unknownField.statusCode).toBe(422);
    expect(unknownField.json().error.field).toBe("shoeSize");
    const created = await c.post("/api/admin/users", {
      email: "New@Acme.test",
      name: "New",
      platformLanguage: "de-de",
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().user.platformLanguage).toBe("de-DE");
    const dup = await c.post("/api/admin/users", { email: "new@acme.TEST" });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.field).toBe("email");
  });

  it("writes the audit log, newest first, paged", async () => {
    const c = client();
    await c.login("admin@acme.test");
    const res = await c.get("/api/admin/audit?pageSize=2");
    const body = res.json();
    expect(body.entries).toHaveLength(2);
    expect(body.entries[0].id).toBeGreaterThan(body.entries[1].id);
    expect(body.total).toBeGreaterThan(2);
    const failures = await c.get("/api/admin/audit?outcome=failure&action=auth.sign_in");
    expect(failures.json().entries.length).toBeGreaterThan(0);
    expect(JSON.stringify(failures.json())).not.toContain(TEST_PASSWORD);
  });

  it("limits sign-in attempts per account with 429 and Retry-After", async () => {
    await t.seedUser(acme.id, { email: "target@acme.test" });
    let last = await client().login("target@acme.test", "wrong password 0");
    for (let i = 1; i < 12 && last.statusCode !== 429; i++) {
      last = await client().login("target@acme.test", `wrong password ${i}`);
    }
    expect(last.statusCode).toBe(429);
    expect(Number(last.headers["retry-after"])).toBeGreaterThan(0);
    // Even the right password is refused while blocked.
    expect((await client().login("target@acme.test")).statusCode).toBe(429);
    // Another account from the same test client is not blocked by this account's lock.
    expect((await client().login("admin@acme.test")).statusCode).not.toBe(401);
  });

  it("limits sign-in attempts per IP", async () => {
    const ipClient = () => client();
    let status = 0;
    for (let i = 0; i < 40 && status !== 429; i++) {
      const res = await ipClient().request({
        method: "POST",
        url: "/api/auth/login",
        payload: { email: `spray${i}@acme.test`, password: "x" },
        remoteAddress: "203.0.113.9",
      });
      status = res.statusCode;
    }
    expect(status).toBe(429);
  });

  it("routes an email to its agency's host without revealing whether it exists", async () => {
    const instance = new Client(t.app, "localhost:3000");
    const known = await instance.post("/api/auth/lookup", { email: "admin@acme.test" });
    const unknown = await instance.post("/api/auth/lookup", { email: "ghost@acme.test" });
    expect(new URL(known.json().url).hostname).toBe("acme.localhost");
    expect(new URL(unknown.json().url).hostname).toBe("acme.localhost");
    const methods = await instance.get("/api/auth/methods");
    expect(methods.json().homeRealmDiscovery).toBe(true);
  });

  it("serves health, readiness and the OpenAPI document (and no public metrics)", async () => {
    expect((await t.app.inject("/healthz")).json()).toEqual({ status: "ok" });
    expect((await t.app.inject("/readyz")).json()).toEqual({ status: "ready" });
    // /metrics is the operator's (test/foundation/metrics.test.ts): without METRICS_TOKEN, nothing here.
    const metrics = await t.app.inject("/metrics");
    expect([metrics.statusCode, metrics.json().error.code]).toEqual([404, "not_found"]);
    const doc = (await t.app.inject("/openapi.json")).json();
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/api/auth/login");
  });
});
