// Vendor profiles end to end (SPEC §3): Entra ID (tenant GUID or domain, template discovery, xms_edov), Google
// (hd restriction), Okta (custom authorization server path), Auth0 (issuer with a trailing slash)
// and client_secret_post — each: the test passes, the connection is enabled, a user signs in.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entraDialect } from "../../src/sso/kinds/azure.js";
import { forgetProvider, providerFor } from "../../src/sso/oidc.js";
import { storages } from "../support/db.js";
import { DEFAULT_AZURE_TENANT_ID, type Idp, startIdp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

const OTHER_TENANT = "0b6f3f3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

describe.each(storages())("SSO vendor profiles (%s)", (storage) => {
  let w: SsoWorld;
  let azure: Idp;
  let google: Idp;
  let okta: Idp;
  let auth0: Idp;

  async function signsInAs(connectionId: string, login: string, email: string) {
    const { res, browser } = await w.signIn(connectionId, login);
    expect(where(res), res.body).toBe("/");
    const me = await browser.get(`${w.origin}/api/auth/me`);
    expect(me.status).toBe(200);
    expect(me.json<any>().user.email).toBe(email);
    await browser.close();
  }

  /** Starting a test fails at discovery (test_start_failed), for the given cause. */
  async function startFailsAtDiscovery(connectionId: string, cause: RegExp) {
    const started = await w.api("POST", `/api/admin/sso/connections/${connectionId}/tests`);
    expect(started.status, started.body).toBe(502);
    const { testId, message } = started.json<{ error: { testId: string; message: string } }>().error;
    expect(message).toBe("Failed to initiate SSO test.");
    const test = (await w.api("GET", `/api/admin/sso/tests/${testId}`)).json<{ test: Record<string, any> }>()
      .test;
    expect(test.diagnostic.step).toBe("discovery");
    expect(test.diagnostic.detail).toMatch(cause);
  }

  async function refused(connectionId: string, login: string, code: string, cause: RegExp) {
    const { res, browser } = await w.signIn(connectionId, login);
    expect(where(res)).toBe(`/login?error=${code}`);
    expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
    await browser.close();
    const details = await w.lastSignInFailure();
    expect(details.code).toBe(code);
    expect(details.cause).toMatch(cause);
  }

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    const redirectUris = [`${w.origin}/login/sso`];
    [azure, google, okta, auth0] = await Promise.all([
      startIdp({
        profile: "azure",
        azureTemplateIssuer: true,
        azureDomains: ["contoso.onmicrosoft.com"],
        redirectUris,
        accounts: [
          {
            sub: "az-alice",
            claims: {
              oid: "00000000-0000-0000-66f3-3332eca7ea81",
              userPrincipalName: "alice@contoso.onmicrosoft.com",
              email: "alice@contoso.com",
              xms_edov: true,
              name: "Alice Contoso",
            },
          },
          {
            // Email present (the seed's "verified" rule) but Entra says the domain owner is unverified.
            sub: "az-dan",
            claims: {
              userPrincipalName: "dan@contoso.onmicrosoft.com",
              email: "dan@contoso.com",
              xms_edov: false,
            },
          },
          {
            sub: "az-nomail",
            claims: { userPrincipalName: "nomail@contoso.onmicrosoft.com" },
          },
          {
            // Another directory's user, but the same (multi-tenant) app registration.
            sub: "az-guest",
            claims: {
              tid: OTHER_TENANT,
              userPrincipalName: "alice@contoso.onmicrosoft.com",
              email: "alice@contoso.com",
            },
          },
        ],
      }),
      startIdp({
        profile: "google",
        redirectUris,
        accounts: [
          { sub: "g-ann", claims: { email: "ann@acme.example", email_verified: true, hd: "acme.example" } },
          {
            sub: "g-other",
            claims: { email: "ann@other.example", email_verified: true, hd: "other.example" },
          },
          { sub: "g-gmail", claims: { email: "ann.personal@gmail.example", email_verified: true } },
        ],
      }),
      startIdp({
        profile: "okta",
        issuerPath: "/oauth2/default",
        redirectUris,
        accounts: [{ sub: "00u-olga", claims: { email: "olga@acme.example", email_verified: true } }],
      }),
      startIdp({
        profile: "auth0",
        tokenEndpointAuthMethod: "client_secret_post",
        redirectUris,
        accounts: [{ sub: "auth0|amy", claims: { email: "amy@acme.example", email_verified: true } }],
      }),
    ]);
    for (const idp of [azure, google, okta, auth0]) w.watch(idp);
    for (const email of [
      "alice@contoso.onmicrosoft.com",
      "dan@contoso.onmicrosoft.com",
      "ann@acme.example",
      "ann@other.example",
      "ann.personal@gmail.example",
      "olga@acme.example",
      "amy@acme.example",
    ]) {
      await w.t.seedUser(w.agencyId, { email, role: "analyst", subAccountIds: [w.subAccountId] });
    }
  });
  afterAll(async () => {
    await Promise.all([azure, google, okta, auth0].map((idp) => idp?.close()));
    await w?.close();
  });

  describe("Entra ID (azure)", () => {
    let azureId: string;
    let edovId: string;

    it("takes the tenant ID and applies the seed's default mapping", async () => {
      const { id, body } = await w.createConnection({
        type: "azure",
        name: "Contoso Entra",
        clientId: azure.clientId,
        clientSecret: azure.clientSecret,
        azureTenantId: azure.tenantId,
        discoveryUrl: azure.discoveryUrl,
      });
      azureId = id;
      expect(body.connection.azureTenantId).toBe(DEFAULT_AZURE_TENANT_ID);
      expect(body.connection.mapping).toEqual({
        remoteIdField: "sub",
        idField: null,
        emailField: "userPrincipalName",
        emailVerifiedField: "email",
        nameField: "name",
      });
      expect(body.connection.scopes).toEqual(["openid", "profile", "email"]);
      expect(body.connection.tokenEndpointAuthMethod).toBe("client_secret_basic");
    });

    it("derives the Microsoft discovery URL from the tenant ID alone", async () => {
      const res = await w.api("POST", "/api/admin/sso/connections", {
        type: "azure",
        name: "Derived",
        clientId: "x",
        clientSecret: "y",
        azureTenantId: DEFAULT_AZURE_TENANT_ID,
      });
      expect(res.status).toBe(201);
      const connection = res.json<any>().connection;
      expect(connection.discoveryUrl).toBe(
        `https://login.microsoftonline.com/${DEFAULT_AZURE_TENANT_ID}/v2.0/.well-known/openid-configuration`,
      );
      expect((await w.api("DELETE", `/api/admin/sso/connections/${connection.id}`)).status).toBe(204);
    });

    it("passes its test, is enabled, and signs the user in (present email = verified)", async () => {
      const test = await w.runTest(azureId, "az-alice");
      expect(test.status, JSON.stringify(test)).toBe("passed");
      expect(test.diagnostic.claimNames).toEqual(expect.arrayContaining(["oid", "tid", "userPrincipalName"]));
      await w.enable(azureId, "az-alice");
      await signsInAs(azureId, "az-alice", "alice@contoso.onmicrosoft.com");
      // Under the seed's mapping a present email claim counts as verified, whatever xms_edov says.
      await signsInAs(azureId, "az-dan", "dan@contoso.onmicrosoft.com");
    });

    it("refuses a user without the email claim the seed mapping treats as the verified flag", async () => {
      await w.t.seedUser(w.agencyId, { email: "nomail@contoso.onmicrosoft.com", role: "admin" });
      await refused(azureId, "az-nomail", "email_not_verified", /"email" is missing/);
    });

    it("refuses a token whose tid is another tenant", async () => {
      await refused(
        azureId,
        "az-guest",
        "sso_failed",
        new RegExp(`tid ${OTHER_TENANT}.*not the configured tenant`),
      );
    });

    it("honours Entra's xms_edov as the email-verified claim", async () => {
      const { id } = await w.createConnection({
        type: "azure",
        name: "Contoso Entra (xms_edov)",
        clientId: azure.clientId,
        clientSecret: azure.clientSecret,
        azureTenantId: azure.tenantId,
        discoveryUrl: azure.discoveryUrl,
        mapping: { emailVerifiedField: "xms_edov" },
      });
      edovId = id;
      await w.enable(edovId, "az-alice");
      await signsInAs(edovId, "az-alice", "alice@contoso.onmicrosoft.com");
      await refused(edovId, "az-dan", "email_not_verified", /"xms_edov" is false/);
    });

    it("resolves the multi-tenant {tenantid} discovery against the configured tenant", async () => {
      const { id, body } = await w.createConnection({
        type: "azure",
        name: "Contoso Entra (common)",
        clientId: azure.clientId,
        clientSecret: azure.clientSecret,
        azureTenantId: azure.tenantId,
        discoveryUrl: azure.commonDiscoveryUrl,
      });
      expect(body.connection.azureTenantId).toBe(azure.tenantId);
      await w.enable(id, "az-alice");
      await signsInAs(id, "az-alice", "alice@contoso.onmicrosoft.com");
      await refused(id, "az-guest", "sso_failed", /tid .* not the configured tenant/);
    });

    it("fails the test of a template discovery configured for another tenant", async () => {
      const { id } = await w.createConnection({
        type: "azure",
        name: "Wrong tenant",
        clientId: azure.clientId,
        clientSecret: azure.clientSecret,
        azureTenantId: OTHER_TENANT,
        discoveryUrl: azure.commonDiscoveryUrl,
      });
      const test = await w.runTest(id, "az-alice");
      expect(test.status).toBe("failed");
      expect(test.errorCode).toBe("sso_failed");
      // The IdP's RFC 9207 iss (its real tenant) is not the issuer resolved for the configured one.
      expect(test.diagnostic.step, JSON.stringify(test.diagnostic)).toBe("callback");
      expect(test.diagnostic.detail).toMatch(/"iss" \(issuer\) response parameter/);
      expect((await w.api("DELETE", `/api/admin/sso/connections/${id}`)).status).toBe(204);
    });

    it("takes a domain tenant: its metadata names the tenant GUID, which the tokens' tid and iss must carry", async () => {
      const { id, body } = await w.createConnection({
        type: "azure",
        name: "Contoso Entra (domain)",
        clientId: azure.clientId,
        clientSecret: azure.clientSecret,
        azureTenantId: "Contoso.onmicrosoft.com",
        discoveryUrl: azure.domainDiscoveryUrl("contoso.onmicrosoft.com"),
      });
      expect(body.connection.azureTenantId).toBe("contoso.onmicrosoft.com");
      const row = await w.t.ctx.db
        .selectFrom("sso_connections")
        .selectAll()
        .where("id", "=", id)
        .executeTakeFirstOrThrow();
      const provider = await providerFor(w.t.ctx, row, entraDialect);
      expect(provider.issuer).toBe(azure.issuer); // http://127.0.0.1:<port>/<GUID>/v2.0
      expect(provider.requiredClaims).toEqual([
        { claim: "tid", value: DEFAULT_AZURE_TENANT_ID, what: "the configured tenant" },
      ]);

      await w.enable(id, "az-alice");
      await signsInAs(id, "az-alice", "alice@contoso.onmicrosoft.com");
      await refused(
        id,
        "az-guest",
        "sso_failed",
        new RegExp(`tid ${OTHER_TENANT}.*not the configured tenant`),
      );
      // A token whose iss names the domain instead of the tenant GUID is not this tenant's.
      azure.setTamper(async (tokens, i) => ({
        ...tokens,
        id_token: await i.patchIdToken(tokens.id_token!, {
          iss: `${azure.origin}/contoso.onmicrosoft.com/v2.0`,
        }),
      }));
      try {
        await refused(id, "az-alice", "sso_failed", /"iss" \(issuer\) claim/);
      } finally {
        azure.setTamper(null);
      }
      expect((await w.api("DELETE", `/api/admin/sso/connections/${id}`)).status).toBe(204);
    });

    it("takes the GUID issuer only from the configured domain's own metadata URL", async () => {
      // The contoso document, configured for another domain: its issuer is not the URL's, refused.
      const { id } = await w.createConnection({
        type: "azure",
        name: "Fabrikam (wrong metadata)",
        clientId: azure.clientId,
        clientSecret: azure.clientSecret,
        azureTenantId: "fabrikam.onmicrosoft.com",
        discoveryUrl: azure.domainDiscoveryUrl("contoso.onmicrosoft.com"),
      });
      await startFailsAtDiscovery(id, /issuer .*\/[0-9a-f-]{36}\/v2\.0 does not match/);
      // A domain tenant whose (self-consistent) metadata names no tenant GUID: its tokens' tid could
      // not be checked, so it is refused rather than signed in without that check.
      const other = await w.createConnection({
        type: "azure",
        name: "Not Entra",
        clientId: okta.clientId,
        clientSecret: okta.clientSecret,
        azureTenantId: "contoso.onmicrosoft.com",
        discoveryUrl: okta.discoveryUrl,
      });
      await startFailsAtDiscovery(
        other.id,
        /does not name the Directory \(tenant\) ID of contoso\.onmicrosoft\.com/,
      );
      for (const c of [id, other.id]) {
        expect((await w.api("DELETE", `/api/admin/sso/connections/${c}`)).status).toBe(204);
      }
    });

    it("refuses a domain tenant's metadata whose issuer is not exactly <authority>/<GUID>/v2.0", async () => {
      let issuer = "";
      const metadata = createServer((req, res) => {
        const origin = `http://127.0.0.1:${(metadata.address() as AddressInfo).port}`;
        res.setHeader("content-type", "application/json");
        res.end(
          JSON.stringify({
            issuer: issuer.replace("<origin>", origin),
            authorization_endpoint: `${origin}/authorize`,
            token_endpoint: `${origin}/token`,
            jwks_uri: `${origin}/keys`,
            id_token_signing_alg_values_supported: ["RS256"],
            path: req.url,
          }),
        );
      });
      await new Promise<void>((resolve) => metadata.listen(0, "127.0.0.1", resolve));
      const origin = `http://127.0.0.1:${(metadata.address() as AddressInfo).port}`;
      try {
        const { id } = await w.createConnection({
          type: "azure",
          name: "Crafted metadata",
          clientId: "client",
          clientSecret: "crafted-metadata-client-secret",
          azureTenantId: "contoso.onmicrosoft.com",
          discoveryUrl: `${origin}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration`,
        });
        const refusedIssuers = [
          `https://login.microsoftonline.com/${DEFAULT_AZURE_TENANT_ID}/v2.0`, // another authority
          `<origin>/${DEFAULT_AZURE_TENANT_ID}/v2.0/`,
          `<origin>/${DEFAULT_AZURE_TENANT_ID}/v2.0/extra`,
          `<origin>/${DEFAULT_AZURE_TENANT_ID}`,
          `<origin>/fabrikam.onmicrosoft.com/v2.0`,
          `<origin>/not-a-guid/v2.0`,
          `<origin>/x/${DEFAULT_AZURE_TENANT_ID}/v2.0`,
        ];
        for (const candidate of refusedIssuers) {
          issuer = candidate;
          forgetProvider(w.t.ctx, id);
          await startFailsAtDiscovery(id, /does not match/);
        }
        issuer = `<origin>/${DEFAULT_AZURE_TENANT_ID.toUpperCase()}/v2.0`;
        forgetProvider(w.t.ctx, id);
        const started = await w.api("POST", `/api/admin/sso/connections/${id}/tests`);
        expect(started.status, started.body).toBe(201);
        const row = await w.t.ctx.db
          .selectFrom("sso_connections")
          .selectAll()
          .where("id", "=", id)
          .executeTakeFirstOrThrow();
        expect((await providerFor(w.t.ctx, row, entraDialect)).requiredClaims[0]?.value).toBe(
          DEFAULT_AZURE_TENANT_ID,
        );
        expect((await w.api("DELETE", `/api/admin/sso/connections/${id}`)).status).toBe(204);
      } finally {
        metadata.closeAllConnections();
        await new Promise<void>((resolve) => metadata.close(() => resolve()));
      }
    });

    it("needs a tenant GUID for the multi-tenant metadata URL", async () => {
      const res = await w.api("POST", "/api/admin/sso/connections", {
        type: "azure",
        name: "No tenant",
        clientId: "x",
        clientSecret: "y",
        discoveryUrl: azure.commonDiscoveryUrl,
      });
      expect(res.status).toBe(422);
      expect(res.json<any>().error.field).toBe("azureTenantId");
    });
  });

  describe("Google", () => {
    let googleId: string;

    it("accepts a discovery override and a Workspace domain", async () => {
      const { id, body } = await w.createConnection({
        type: "google",
        name: "Google Workspace",
        clientId: google.clientId,
        clientSecret: google.clientSecret,
        discoveryUrl: google.discoveryUrl,
        googleHostedDomain: "ACME.example",
      });
      googleId = id;
      expect(body.connection.googleHostedDomain).toBe("acme.example");
      expect(body.connection.mapping.emailVerifiedField).toBe("email_verified");
    });

    it("defaults to Google's own discovery", async () => {
      const res = await w.api("POST", "/api/admin/sso/connections", {
        type: "google",
        name: "Real Google",
        clientId: "x",
        clientSecret: "y",
      });
      expect(res.status).toBe(201);
      expect(res.json<any>().connection.discoveryUrl).toBe(
        "https://accounts.google.com/.well-known/openid-configuration",
      );
      await w.api("DELETE", `/api/admin/sso/connections/${res.json<any>().connection.id}`);
    });

    it("sends hd as a hint, passes its test and signs a Workspace user in", async () => {
      await w.enable(googleId, "g-ann");
      const start = await new (await import("../support/browser.js")).Browser().get(
        `${w.origin}/login/sso/start?connection=${googleId}`,
      );
      expect(new URL(start.location!).searchParams.get("hd")).toBe("acme.example");
      await signsInAs(googleId, "g-ann", "ann@acme.example");
    });

    it("checks hd on the ID token: another domain or a personal account is refused", async () => {
      await refused(googleId, "g-other", "sso_failed", /hd other\.example is not the configured/);
      await refused(googleId, "g-gmail", "sso_failed", /hd \(missing\) is not the configured/);
    });

    it("fails a test run with an account of another domain", async () => {
      const test = await w.runTest(googleId, "g-other");
      expect(test.status).toBe("failed");
      expect(test.errorCode).toBe("sso_failed");
      expect(test.diagnostic.step).toBe("id_token");
    });
  });

  describe("Okta and Auth0 (generic OIDC)", () => {
    it("works with Okta's custom authorization server path", async () => {
      expect(okta.issuer).toMatch(/\/oauth2\/default$/);
      const { id } = await w.createConnection({
        type: "oidc",
        name: "Okta",
        clientId: okta.clientId,
        clientSecret: okta.clientSecret,
        discoveryUrl: okta.discoveryUrl,
      });
      await w.enable(id, "00u-olga");
      await signsInAs(id, "00u-olga", "olga@acme.example");
    });

    it("works with Auth0's trailing-slash issuer and client_secret_post", async () => {
      expect(auth0.issuer.endsWith("/")).toBe(true);
      const { id, body } = await w.createConnection({
        type: "oidc",
        name: "Auth0",
        clientId: auth0.clientId,
        clientSecret: auth0.clientSecret,
        discoveryUrl: auth0.discoveryUrl,
        tokenEndpointAuthMethod: "client_secret_post",
      });
      expect(body.connection.tokenEndpointAuthMethod).toBe("client_secret_post");
      await w.enable(id, "auth0|amy");
      await signsInAs(id, "auth0|amy", "amy@acme.example");
    });

    it("reports the IdP's error when the token endpoint auth method is the wrong one", async () => {
      const { id } = await w.createConnection({
        type: "oidc",
        name: "Auth0 (basic)",
        clientId: auth0.clientId,
        clientSecret: auth0.clientSecret,
        discoveryUrl: auth0.discoveryUrl,
      });
      const test = await w.runTest(id, "auth0|amy");
      expect(test.status).toBe("failed");
      expect(test.errorCode).toBe("sso_failed");
      expect(test.diagnostic.step).toBe("token");
      expect(test.diagnostic.idpError).toMatch(/^invalid_client/);
      await w.api("DELETE", `/api/admin/sso/connections/${id}`);
    });
  });

  it("lists every enabled connection as a button", async () => {
    const methods = (await w.api("GET", "/api/auth/methods")).json<any>();
    expect(methods.sso.map((c: { name: string }) => c.name)).toEqual([
      "Contoso Entra",
      "Contoso Entra (xms_edov)",
      "Contoso Entra (common)",
      "Google Workspace",
      "Okta",
      "Auth0",
    ]);
  });

  it("never writes a secret, code or token to the audit log", async () => {
    await w.expectAuditClean();
  });
});
