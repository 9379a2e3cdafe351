// SSRF guard on admin-entered IdP URLs (SPEC §10) with ALLOW_PRIVATE_IDP_URLS=false. The rule, one
// for all URLs: the scheme is checked when the connection is saved (http:// → 422); the address is
// checked where the URL is fetched, on the resolved address (DNS can change after a save), so a
// connection pointing at a loopback, private, link-local or metadata address saves, but its test
// fails with test_start_failed and a diagnostic naming the blocked host, and no sign-in can use it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser } from "../support/browser.js";
import { storages } from "../support/db.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

describe.each(storages())("SSRF guard without ALLOW_PRIVATE_IDP_URLS (%s)", (storage) => {
  let w: SsoWorld;
  const conn = (extra: Record<string, unknown>) => ({
    type: "oidc",
    name: "Internal",
    clientId: "client",
    clientSecret: "a-client-secret-value",
    ...extra,
  });

  beforeAll(async () => {
    w = await createSsoWorld(storage, "acme", { ALLOW_PRIVATE_IDP_URLS: "false" });
    expect(w.t.ctx.config.allowPrivateIdpUrls).toBe(false);
  });
  afterAll(async () => {
    await w?.close();
  });

  it.each([
    ["discoveryUrl", { discoveryUrl: "http://127.0.0.1:8080/.well-known/openid-configuration" }],
    [
      "jwksUri",
      {
        issuer: "https://idp.example.com",
        authorizationEndpoint: "https://idp.example.com/auth",
        tokenEndpoint: "https://idp.example.com/token",
        jwksUri: "http://169.254.169.254/latest/meta-data",
      },
    ],
    ["discoveryUrl", { discoveryUrl: "https://user:pass@idp.example.com/.well-known/openid-configuration" }],
  ])("refuses a non-https (or credentialed) %s at save with 422", async (field, extra) => {
    const res = await w.api("POST", "/api/admin/sso/connections", conn(extra));
    expect(res.status).toBe(422);
    expect(res.json<any>().error.field).toBe(field);
  });

  it.each([
    ["loopback", "https://127.0.0.1:8443/.well-known/openid-configuration", "127.0.0.1"],
    ["cloud metadata", "https://169.254.169.254/.well-known/openid-configuration", "169.254.169.254"],
    ["private network", "https://10.1.2.3/.well-known/openid-configuration", "10.1.2.3"],
    ["IPv6 loopback", "https://[::1]/.well-known/openid-configuration", "[::1]"],
    ["a name resolving to loopback", "https://localhost/.well-known/openid-configuration", "localhost"],
  ])("fails the test of a %s discovery URL with test_start_failed", async (_kind, url, host) => {
    const { id } = await w.createConnection(conn({ discoveryUrl: url }));
    const res = await w.api("POST", `/api/admin/sso/connections/${id}/tests`);
    expect(res.status).toBe(502);
    const error = res.json<any>().error;
    expect(error).toMatchObject({ code: "test_start_failed", message: "Failed to initiate SSO test." });
    const test = (await w.api("GET", `/api/admin/sso/tests/${error.testId}`)).json<any>().test;
    expect(test).toMatchObject({
      status: "failed",
      errorCode: "test_start_failed",
      message: "Failed to initiate SSO test.",
      diagnostic: { step: "discovery", idpError: null, claimNames: [] },
    });
    expect(test.diagnostic.detail).toContain(`blocked_address: ${host} resolves to a blocked address`);
    const [entry] = await w.auditFor("sso.test.start");
    expect(entry).toMatchObject({ outcome: "failure", details: { testId: test.id, step: "discovery" } });
    expect((await w.api("PUT", `/api/admin/sso/connections/${id}/enabled`, { enabled: true })).status).toBe(
      409,
    );
    expect((await w.api("DELETE", `/api/admin/sso/connections/${id}`)).status).toBe(204);
  });

  it("guards the sign-in path too: a blocked connection ends in sso_failed", async () => {
    const { id } = await w.createConnection(
      conn({ discoveryUrl: "https://169.254.169.254/.well-known/openid-configuration" }),
    );
    // Enabled behind the API's back (e.g. its DNS answer changed after a passed test).
    await w.t.ctx.db.updateTable("sso_connections").set({ enabled: true }).where("id", "=", id).execute();
    await w.t.ctx.db
      .updateTable("agencies")
      .set({ sso_enabled: true })
      .where("id", "=", w.agencyId)
      .execute();
    const browser = new Browser();
    const res = await browser.get(`${w.origin}/login/sso/start?connection=${id}`);
    expect(where(res)).toBe("/login?error=sso_failed");
    const [failure] = await w.auditFor("sso.sign_in");
    expect(failure).toMatchObject({ outcome: "failure", details: { code: "sso_failed", step: "discovery" } });
    expect(failure!.details.cause).toContain("169.254.169.254 resolves to a blocked address");
    await browser.close();
  });

  it("never writes a secret to the audit log", async () => {
    w.secrets.add("a-client-secret-value");
    await w.expectAuditClean();
  });
});
