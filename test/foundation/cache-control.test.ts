// Answers that carry a session, a token secret, backup codes or personal data are never stored by
// a browser or proxy cache (issue 14 item 11): `Cache-Control: no-store` on every /api/ answer and
// on the sign-in flow's redirects (/login/…).
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeAt, enrollWith } from "../mfa/helpers.js";
import { Client, createTestApp, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";

const HOST = "acme.localhost";

/** The answer is not to be stored (and, given `status`, has that status first). */
function expectNoStore(res: LightMyRequestResponse, what: string, status?: number): void {
  if (status !== undefined) expect(res.statusCode, `${what}: ${res.body}`).toBe(status);
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
    expectNoStore(await admin.login("admin@acme.test"), "/api/auth/login (sets the session)", 200);
    expectNoStore(await admin.get("/api/auth/me"), "/api/auth/me", 200);
    expectNoStore(await admin.get("/api/admin/users"), "/api/admin/users (personal data)");
    expectNoStore(await admin.get("/api/nothing-here"), "404 under /api/");
  });

  it("on a token's creation (its secret) and on the provisioning API", async () => {
    const created = await admin.post("/api/admin/tokens", { name: "HR sync", scopes: ["users.readonly"] });
    expectNoStore(created, "POST /api/admin/tokens", 201);
    const { secret } = created.json() as { secret: string };
    const list = await t.app.inject({
      url: "/api/v1/users",
      headers: { host: HOST, authorization: `Bearer ${secret}` },
    });
    expectNoStore(list, "GET /api/v1/users", 200);
  });

  it("on new backup codes", async () => {
    const { secret } = await enrollWith(t, admin);
    const codes = await admin.post("/api/account/2fa/backup-codes", { code: await codeAt(t, secret) });
    expectNoStore(codes, "POST /api/account/2fa/backup-codes", 200);
  });

  it("on the SSO flow's redirects", async () => {
    expectNoStore(await admin.get("/login/sso/start?connection=unknown"), "/login/sso/start", 302);
    expectNoStore(await admin.get("/login/sso?code=abc&state=forged"), "/login/sso (callback)", 302);
    expectNoStore(await admin.get("/login/google?state=forged"), "/login/google (callback)");
    expectNoStore(await admin.get("/login/sso/cloudflare"), "/login/sso/cloudflare");
  });
});
