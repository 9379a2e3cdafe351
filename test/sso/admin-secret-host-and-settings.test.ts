// Issue 15, defects 4 and 5, on the SSO admin API with real loopback IdPs:
// - an edit that points a connection at another host (discovery URL, issuer, an endpoint, an
//   Azure metadata URL) without the client secret is refused (422 naming clientSecret), so the
//   stored secret never reaches the new host; a new path on the same host keeps the secret;
// - the settings update checks for an enabled connection and writes in one transaction that a
//   concurrent connection disable serialises with: SSO (or Hide other login methods) never stays
//   on with no enabled connection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storages } from "../support/db.js";
import { type Idp, startIdp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld } from "../support/sso.js";

/** The part of a connection answer these tests read. */
type Envelope = { connection: Record<string, unknown> & { latestTest: { status: string } | null } };

const TENANT_A = "6d3c6b0e-4f2a-4c8e-9a51-2b7f0c1d9e84";
const TENANT_B = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";

describe.each(storages())("the stored client secret and the SSO settings (%s)", (storage) => {
  let w: SsoWorld;
  /** The IdP the connections are set up with. */
  let a: Idp;
  /** Another IdP on another host (port): where an edit tries to send the stored secret. */
  let b: Idp;

  const row = (id: string) =>
    w.t.ctx.db.selectFrom("sso_connections").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
  /** Token requests (where a client secret goes) that `idp` received. */
  const tokenRequests = (idp: Idp) =>
    idp.requests.filter((r) => r.method === "POST" && r.url.endsWith(new URL(idp.endpoints.token).pathname))
      .length;

  function manual(idp: Idp) {
    return {
      issuer: idp.issuer,
      authorizationEndpoint: idp.endpoints.authorization,
      tokenEndpoint: idp.endpoints.token,
      userinfoEndpoint: idp.endpoints.userinfo,
      jwksUri: idp.endpoints.jwks,
    };
  }

  /** A 422 naming clientSecret, with a message that says why and names the new host. */
  function expectSecretRequired(res: { status: number; json<T>(): T }, host: string) {
    expect(res.status).toBe(422);
    const { error } = res.json<{ error: { code: string; field: string; message: string } }>();
    expect(error.code).toBe("invalid_input");
    expect(error.field).toBe("clientSecret");
    expect(error.message).toContain("clientSecret is required");
    expect(error.message).toContain(host);
  }

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    const accounts = [{ sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true } }];
    [a, b] = await Promise.all([
      startIdp({ profile: "generic", redirectUris: [`${w.origin}/login/sso`], accounts }),
      startIdp({ profile: "generic", redirectUris: [`${w.origin}/login/sso`], accounts }),
    ]);
    w.watch(a);
    w.watch(b);
    expect(new URL(a.origin).host).not.toBe(new URL(b.origin).host);
    await w.t.seedUser(w.agencyId, { email: "alice@acme.test", role: "admin" });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await w?.close();
  });

  describe("an edit that moves the connection to another host needs the secret again", () => {
    let id: string;
    const base = () => ({ type: "oidc", name: "Acme IdP", clientId: a.clientId });

    it("refuses a new discovery URL host without clientSecret; the stored secret never reaches it", async () => {
      ({ id } = await w.createConnection({
        ...base(),
        clientSecret: a.clientSecret,
        discoveryUrl: a.discoveryUrl,
      }));
      expect((await w.runTest(id, "user-alice")).status).toBe("passed");
      const before = await row(id);

      const res = await w.api("PUT", `/api/admin/sso/connections/${id}`, {
        ...base(),
        discoveryUrl: b.discoveryUrl,
      });
      expectSecretRequired(res, new URL(b.origin).host);
      // Nothing changed: same configuration and version, the passed test still current.
      const after = await row(id);
      expect(after).toMatchObject({
        discovery_url: before.discovery_url,
        config_version: before.config_version,
        client_secret_enc: before.client_secret_enc,
      });
      const { connection } = (await w.api("GET", `/api/admin/sso/connections/${id}`)).json<Envelope>();
      expect(connection.latestTest?.status).toBe("passed");
      // The next test still goes to the host the secret was entered for.
      expect((await w.runTest(id, "user-alice")).status).toBe("passed");
      expect(b.requests).toEqual([]);
    });

    it("accepts the new host with its secret, and the test runs there", async () => {
      const res = await w.api("PUT", `/api/admin/sso/connections/${id}`, {
        ...base(),
        clientId: b.clientId,
        clientSecret: b.clientSecret,
        discoveryUrl: b.discoveryUrl,
      });
      expect(res.status, res.body).toBe(200);
      expect(res.json<Envelope>().connection).toMatchObject({
        hasSecret: true,
        latestTest: { status: "expired" },
      });
      const tokensBefore = tokenRequests(b);
      expect((await w.runTest(id, "user-alice")).status).toBe("passed");
      expect(tokenRequests(b)).toBe(tokensBefore + 1);
    });

    it("keeps the secret for other paths on the same host (discovery → manual endpoints)", async () => {
      const res = await w.api("PUT", `/api/admin/sso/connections/${id}`, {
        ...base(),
        clientId: b.clientId,
        ...manual(b),
      });
      expect(res.status, res.body).toBe(200);
      expect(res.json<Envelope>().connection).toMatchObject({
        hasSecret: true,
        discoveryUrl: null,
        tokenEndpoint: b.endpoints.token,
      });
      // The kept secret is b's: the token endpoint accepts it.
      expect((await w.runTest(id, "user-alice")).status).toBe("passed");
    });

    it.each([
      "issuer",
      "authorizationEndpoint",
      "tokenEndpoint",
      "userinfoEndpoint",
      "jwksUri",
    ] as const)("refuses %s on another host without clientSecret", async (field) => {
      const { id: manualId } = await w.createConnection({
        ...base(),
        name: `Manual ${field}`,
        clientSecret: a.clientSecret,
        ...manual(a),
      });
      const before = await row(manualId);
      const moved = { ...manual(a), [field]: manual(b)[field] };
      expectSecretRequired(
        await w.api("PUT", `/api/admin/sso/connections/${manualId}`, {
          ...base(),
          name: `Manual ${field}`,
          ...moved,
        }),
        new URL(b.origin).host,
      );
      expect((await row(manualId)).config_version).toBe(before.config_version);
      // With the secret, the same edit is taken.
      const ok = await w.api("PUT", `/api/admin/sso/connections/${manualId}`, {
        ...base(),
        name: `Manual ${field}`,
        clientSecret: b.clientSecret,
        ...moved,
      });
      expect(ok.status, ok.body).toBe(200);
      expect((await w.api("DELETE", `/api/admin/sso/connections/${manualId}`)).status).toBe(204);
    });

    it("keeps the secret when only a path changes on the same host", async () => {
      const { id: manualId } = await w.createConnection({
        ...base(),
        name: "Same host",
        clientSecret: a.clientSecret,
        ...manual(a),
      });
      const res = await w.api("PUT", `/api/admin/sso/connections/${manualId}`, {
        ...base(),
        name: "Same host",
        ...manual(a),
        userinfoEndpoint: `${a.origin}/another/path/me`,
      });
      expect(res.status, res.body).toBe(200);
      expect(res.json<Envelope>().connection).toMatchObject({ hasSecret: true, configVersion: 2 });
      expect((await w.api("DELETE", `/api/admin/sso/connections/${manualId}`)).status).toBe(204);
    });

    it("applies to Azure: another tenant on Microsoft's host keeps it, another metadata host needs it", async () => {
      const azure = { type: "azure", name: "Entra", clientId: "entra-client" };
      const { id: azureId } = await w.createConnection({
        ...azure,
        clientSecret: "entra-secret-value-0123456789",
        azureTenantId: TENANT_A,
      });
      const tenant = await w.api("PUT", `/api/admin/sso/connections/${azureId}`, {
        ...azure,
        azureTenantId: TENANT_B,
      });
      expect(tenant.status, tenant.body).toBe(200);
      expect(tenant.json<Envelope>().connection).toMatchObject({ hasSecret: true, configVersion: 2 });
      expectSecretRequired(
        await w.api("PUT", `/api/admin/sso/connections/${azureId}`, {
          ...azure,
          azureTenantId: TENANT_B,
          discoveryUrl: `https://login.attacker.example/${TENANT_B}/v2.0/.well-known/openid-configuration`,
        }),
        "login.attacker.example",
      );
      expect((await row(azureId)).discovery_url).toContain("login.microsoftonline.com");
      expect((await w.api("DELETE", `/api/admin/sso/connections/${azureId}`)).status).toBe(204);
    });
  });

  describe("the settings update and a connection's disable, at the same time", () => {
    it("never leave SSO or Hide other login methods on without an enabled connection", async () => {
      const { id } = await w.createConnection({
        type: "oidc",
        name: "Race",
        clientId: a.clientId,
        clientSecret: a.clientSecret,
        discoveryUrl: a.discoveryUrl,
      });
      expect((await w.runTest(id, "user-alice")).status).toBe("passed");
      const db = w.t.ctx.db;
      for (let round = 0; round < 40; round++) {
        // Start: the connection enabled, SSO off.
        expect(
          (await w.api("PUT", `/api/admin/sso/connections/${id}/enabled`, { enabled: true })).status,
        ).toBe(200);
        expect((await w.api("PUT", "/api/admin/sso/settings", { enabled: false })).status).toBe(200);
        // One admin turns SSO on and hides the other methods while another disables the connection.
        const delay = round % 4; // vary who gets in first
        const [settings, disable] = await Promise.all([
          w.api("PUT", "/api/admin/sso/settings", { enabled: true, hideOtherLoginMethods: true }),
          new Promise((r) => setTimeout(r, delay)).then(() =>
            w.api("PUT", `/api/admin/sso/connections/${id}/enabled`, { enabled: false }),
          ),
        ]);
        expect([200, 409]).toContain(settings.status);
        expect(disable.status, disable.body).toBe(200);

        const agency = await db
          .selectFrom("agencies")
          .select(["sso_enabled", "sso_hide_other_methods"])
          .where("id", "=", w.agencyId)
          .executeTakeFirstOrThrow();
        const live = await db
          .selectFrom("sso_connections")
          .select("id")
          .where("agency_id", "=", w.agencyId)
          .where("enabled", "=", true)
          .execute();
        expect(live).toEqual([]);
        expect(
          { round, ssoEnabled: agency.sso_enabled, hideOtherMethods: agency.sso_hide_other_methods },
          "SSO is on with no enabled connection",
        ).toEqual({ round, ssoEnabled: false, hideOtherMethods: false });
        // What the API and the login page say agrees with the rows.
        const methods = (await w.api("GET", "/api/auth/methods")).json<Record<string, unknown>>();
        expect(methods).toMatchObject({ password: true, sso: [], hideOtherLoginMethods: false });
      }
    });
  });

  it("never writes a secret, code or token to the audit log", async () => {
    await w.expectAuditClean();
  });
});
