// Security headers (helmet, built once in src/app.ts) on every kind of response: API, page,
// redirect, error; HSTS only when the public URL is https.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.js";

const CSP =
  "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'none';" +
  "img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' 'unsafe-inline'";

describe("security headers", () => {
  let http: TestApp;
  let https: TestApp;

  beforeAll(async () => {
    http = await createTestApp("pglite");
    https = await createTestApp("pglite", { PUBLIC_URL: "https://sso.example.test" });
    await http.seedAgency({ slug: "acme", domain: "acme.localhost" });
  });
  afterAll(async () => {
    await http?.close();
    await https?.close();
  });

  it("sends the same headers on API answers, pages, redirects and errors", async () => {
    const answers = await Promise.all([
      http.app.inject({ method: "GET", url: "/api/auth/me", headers: { host: "acme.localhost" } }),
      http.app.inject({ method: "GET", url: "/login", headers: { host: "acme.localhost" } }),
      http.app.inject({ method: "GET", url: "/login/sso/start", headers: { host: "acme.localhost" } }),
      http.app.inject({ method: "GET", url: "/api/nope", headers: { host: "acme.localhost" } }),
    ]);
    for (const res of answers) {
      const where = `${res.statusCode} ${res.headers["content-type"]}`;
      expect(res.headers["content-security-policy"], where).toBe(CSP);
      expect(res.headers["referrer-policy"], where).toBe("no-referrer");
      expect(res.headers["x-frame-options"], where).toBe("SAMEORIGIN");
      expect(res.headers["x-content-type-options"], where).toBe("nosniff");
      expect(res.headers["cross-origin-opener-policy"], where).toBe("same-origin");
      expect(res.headers["x-powered-by"], where).toBeUndefined();
      expect(res.headers["strict-transport-security"], where).toBeUndefined();
    }
    expect(new Set(answers.map((r) => r.statusCode)).size).toBeGreaterThan(2);
  });

  it("sends HSTS when CoPilot is served over https", async () => {
    const res = await https.app.inject({ method: "GET", url: "/api/health" });
    expect(res.headers["strict-transport-security"]).toBe("max-age=31536000; includeSubDomains");
    expect(res.headers["content-security-policy"]).toBe(CSP);
  });
});
