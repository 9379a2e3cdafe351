// Answers that carry a session, a token secret, backup codes or personal data are never stored by
// a browser or proxy cache (issue 14 item 11): `Cache-Control: no-store` on every /api/ answer and
// on the sign-in flow's redirects (/login/…).
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeAt, enrollWith } from "../mfa/helpers.js";
import { Client, createTestApp, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";

const HOST = "acme.localhost";

function expectNoStore(res: LightMyRequestResponse, what: string): void {
  expect(res.headers["cache-control"], what).toBe("no-store");
}

describe.each(storages())("Cache-Control: no-store (%s)", (storage) => {
  let t: TestApp;
  let admin: Client;

  beforeAll(async () => {
    t = await createTestApp(storage);
    const agency = await t.seedAgency({ slug: "acme", domain: HOST });
    await t.seedUser(agency.id, { email: "admin@acme.test", role: "admin" });
    admin = new Client(t.app, HOST);
  });
  afterAll(() => t?.close());

  it("on the sign-in, who-am-I and sign-in methods answers, and on errors", async () => {
    expectNoStore(await new Client(t.app, HOST).get("/api/auth/me"), "401 of /api/auth/me");
    expectNoStore(await admin.get("/api/auth/methods"), "/api/auth/methods");
    const login = await admin.login("admin@acme.test");
    expect(login.statusCode).toBe(200);
    expectNoStore(login, "/api/auth/login (sets the session)");
    const me = await admin.get("/api/auth/me");
    expect(me.statusCode).toBe(200);
    expectNoStore(me, "/api/auth/me");
    expectNoStore(await admin.get("/api/admin/users"), "/api/admin/users (personal data)");
    expectNoStore(await admin.get("/api/nothing-here"), "404 under /api/");
  });

  it("on a token's creation (its secret) and on the provisioning API", async () => {
    const created = await admin.post("/api/admin/tokens", { name: "HR sync", scopes: ["users.readonly"] });
    expect(created.statusCode, created.body).toBe(201);
    expectNoStore(created, "POST /api/admin/tokens");
    const { secret } = created.json() as { secret: string };
    const list = await t.app.inject({
      url: "/api/v1/users",
      headers: { host: HOST, authorization: `Bearer ${secret}` },
    });
    expect(list.statusCode, list.body).toBe(200);
    expectNoStore(list, "GET /api/v1/users");
  });

  it("on new backup codes", async () => {
    const { secret } = await enrollWith(t, admin);
    const codes = await admin.post("/api/account/2fa/backup-codes", { code: await codeAt(t, secret) });
    expect(codes.statusCode, codes.body).toBe(200);
    expectNoStore(codes, "POST /api/account/2fa/backup-codes");
  });

  it("on the SSO flow's redirects", async () => {
    const start = await admin.get("/login/sso/start?connection=unknown");
    expect(start.statusCode).toBe(302);
    expectNoStore(start, "/login/sso/start");
    const callback = await admin.get("/login/sso?code=abc&state=forged");
    expect(callback.statusCode).toBe(302);
    expectNoStore(callback, "/login/sso (callback)");
    expectNoStore(await admin.get("/login/google?state=forged"), "/login/google (callback)");
    expectNoStore(await admin.get("/login/sso/cloudflare"), "/login/sso/cloudflare");
  });
});
