// Cookie names by scheme (issue 14 item 7): on https every cookie CoPilot sets is a `__Host-`
// cookie (Secure, Path=/, no Domain) and only those names are read; plain http (development)
// keeps the unprefixed names. "https" is the request's protocol: here TRUST_PROXY and
// X-Forwarded-Proto, as behind a TLS-terminating proxy.
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeAt, userWith2fa } from "../mfa/helpers.js";
import { Client, createTestApp, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";

const HOST = "acme.localhost";

/** A browser on https://acme.localhost behind a TLS-terminating proxy. */
class HttpsClient extends Client {
  constructor(t: TestApp) {
    super(t.app, HOST, `https://${HOST}`);
  }
  override request(opts: InjectOptions & { noOrigin?: boolean }): Promise<LightMyRequestResponse> {
    return super.request({
      ...opts,
      headers: { "x-forwarded-proto": "https", ...(opts.headers as Record<string, string>) },
    });
  }
}

function setCookieLines(res: LightMyRequestResponse): string[] {
  const raw = res.headers["set-cookie"];
  return Array.isArray(raw) ? raw : raw ? [String(raw)] : [];
}

/** Every cookie the answer sets is `__Host-`: Secure, Path=/, no Domain. Returns the names. */
function hostCookieNames(res: LightMyRequestResponse): string[] {
  const lines = setCookieLines(res);
  expect(lines.length, "the answer sets no cookie").toBeGreaterThan(0);
  return lines
    .map((line) => {
      const [pair = "", ...attributes] = line.split(";").map((part) => part.trim());
      const keys = attributes.map((a) => a.split("=")[0]!.toLowerCase());
      expect(pair, line).toMatch(/^__Host-/);
      expect(keys, line).toContain("secure");
      expect(attributes, line).toContain("Path=/");
      expect(keys, line).not.toContain("domain");
      return pair.slice(0, pair.indexOf("="));
    })
    .sort();
}

describe.each(storages())("cookie names by scheme (%s)", (storage) => {
  let t: TestApp;
  let agencyId: string;

  beforeAll(async () => {
    t = await createTestApp(storage, { TRUST_PROXY: "true" });
    agencyId = (await t.seedAgency({ slug: "acme", domain: HOST })).id;
    await t.seedUser(agencyId, { email: "admin@acme.test", role: "admin" });
  });
  afterAll(() => t?.close());

  it("on https, sign-in and sign-out set only __Host- cookies, and the session works", async () => {
    const c = new HttpsClient(t);
    const login = await c.login("admin@acme.test");
    expect(login.statusCode).toBe(200);
    expect(hostCookieNames(login)).toEqual(["__Host-copilot_mfa", "__Host-copilot_session"]);
    expect((await c.get("/api/auth/me")).statusCode).toBe(200);
    const logout = await c.post("/api/auth/logout");
    expect(logout.statusCode).toBe(204);
    expect(hostCookieNames(logout)).toEqual(["__Host-copilot_mfa", "__Host-copilot_session"]);
    expect((await c.get("/api/auth/me")).statusCode).toBe(401);
  });

  it("on https, the pending 2FA sign-in and its completion set only __Host- cookies", async () => {
    const user = await userWith2fa(t, agencyId, HOST, { email: "tfa@acme.test", role: "admin" });
    const c = new HttpsClient(t);
    const login = await c.login(user.email);
    expect(login.json()).toEqual({ mfaRequired: true });
    expect(hostCookieNames(login)).toEqual(["__Host-copilot_mfa"]);
    const done = await c.post("/api/auth/2fa", { code: await codeAt(t, user.secret) });
    expect(done.statusCode, done.body).toBe(200);
    expect(hostCookieNames(done)).toEqual(["__Host-copilot_mfa", "__Host-copilot_session"]);
    expect(c.cookies.has("__Host-copilot_mfa")).toBe(false);
    expect((await c.get("/api/auth/me")).statusCode).toBe(200);
  });

  it("on https, reads only the __Host- names: the same token under the plain name is no session", async () => {
    const c = new HttpsClient(t);
    await c.login("admin@acme.test");
    const token = c.cookies.get("__Host-copilot_session")!;
    expect(token).toBeTruthy();
    const planted = new HttpsClient(t);
    planted.cookies.set("copilot_session", token);
    expect((await planted.get("/api/auth/me")).statusCode).toBe(401);
    // The Origin rule still sees the real cookie (a cross-site POST with it is refused).
    const crossSite = await c.request({
      method: "POST",
      url: "/api/auth/logout",
      headers: { origin: "https://evil.example" },
    });
    expect(crossSite.statusCode).toBe(403);
  });

  it("on plain http (development), keeps the unprefixed names without Secure", async () => {
    const c = new Client(t.app, HOST);
    const login = await c.login("admin@acme.test");
    const lines = setCookieLines(login);
    expect(lines.map((line) => line.slice(0, line.indexOf("="))).sort()).toEqual([
      "copilot_mfa",
      "copilot_session",
    ]);
    for (const line of lines) expect(line).not.toMatch(/;\s*Secure/i);
    expect((await c.get("/api/auth/me")).statusCode).toBe(200);
  });
});
