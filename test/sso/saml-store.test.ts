// The SAML one-time values in the database (SPEC §12, §10): an AuthnRequest ID answers once, on
// any node; an Assertion ID is accepted once, on any node; both settle in one transaction.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/database.js";
import { SamlError } from "../../src/sso/saml/errors.js";
import { acceptSamlResponse } from "../../src/sso/saml/index.js";
import { type SamlAssertionFacts, verifySamlResponse } from "../../src/sso/saml/response.js";
import {
  consumeAuthnRequest,
  newRequestId,
  rememberAssertion,
  saveAuthnRequest,
  settleSamlResponse,
  sweepSamlStore,
} from "../../src/sso/saml/store.js";
import { openAnotherNode, openTestDatabase, storages, type TestDatabase } from "../support/db.js";
import { createSamlIdp, type SamlIdp } from "../support/saml-idp.js";

const ACS = "http://localhost:3000/login/saml/c_saml_1/acs";
const SP = "http://localhost:3000/login/saml/c_saml_1/metadata";

describe.each(storages())("the SAML store (%s)", (storage) => {
  let database: TestDatabase;
  let nodeB: TestDatabase | null = null;
  /** The database as a second node sees it: its own pool on PostgreSQL, the one PGlite otherwise. */
  let other: Db;
  let idp: SamlIdp;
  const connectionId = "c_saml_1";
  const otherConnectionId = "c_saml_2";

  beforeAll(async () => {
    database = await openTestDatabase(storage);
    if (database.url) nodeB = await openAnotherNode(database);
    other = nodeB ? nodeB.db : database.db;
    await database.db
      .insertInto("agencies")
      .values({ id: "ag_saml", name: "Acme", slug: "acme-saml", plan: "pro", domain: null })
      .execute();
    for (const id of [connectionId, otherConnectionId]) {
      await database.db
        .insertInto("sso_connections")
        .values({
          id,
          agency_id: "ag_saml",
          type: "oidc",
          name: id,
          client_id: null,
          client_secret_enc: null,
          discovery_url: null,
          issuer: null,
          authorization_endpoint: null,
          token_endpoint: null,
          userinfo_endpoint: null,
          jwks_uri: null,
          scopes: "[]",
          redirect_url: null,
          token_endpoint_auth_method: "none",
          mapping: JSON.stringify({
            remoteIdField: "NameID",
            idField: null,
            emailField: "NameID",
            emailVerifiedField: "",
            nameField: null,
          }),
          azure_tenant_id: null,
          google_hosted_domain: null,
          team_domain: null,
          audience: null,
        })
        .execute();
    }
    idp = await createSamlIdp({ profile: "okta" });
  });
  afterAll(async () => {
    await nodeB?.close();
    await database?.close();
  });

  async function facts(requestId: string | null, now: Date): Promise<SamlAssertionFacts> {
    const samlResponse = await idp.responseBase64({
      acsUrl: ACS,
      spEntityId: SP,
      inResponseTo: requestId,
      nameId: "alice@acme.test",
      now,
    });
    return verifySamlResponse(
      { samlResponse },
      {
        idpEntityId: idp.entityId,
        idpCertificates: idp.certificates,
        spEntityId: SP,
        acsUrl: ACS,
        expectedInResponseTo: requestId,
        allowIdpInitiated: true,
        now,
      },
    );
  }

  it("an AuthnRequest ID is used once, by its own connection, before it expires", async () => {
    const now = new Date();
    const id = newRequestId();
    await saveAuthnRequest(database.db, { id, connectionId, now });
    expect(await consumeAuthnRequest(other, { id, connectionId: otherConnectionId, now })).toBe(false);
    expect(await consumeAuthnRequest(other, { id, connectionId, now })).toBe(true);
    expect(await consumeAuthnRequest(database.db, { id, connectionId, now })).toBe(false);

    const expiring = newRequestId();
    await saveAuthnRequest(database.db, { id: expiring, connectionId, now, ttlSeconds: 60 });
    expect(
      await consumeAuthnRequest(other, { id: expiring, connectionId, now: new Date(now.getTime() + 61_000) }),
    ).toBe(false);
    expect(await consumeAuthnRequest(database.db, { id: newRequestId(), connectionId, now })).toBe(false);
  });

  it("two nodes racing for one AuthnRequest: exactly one wins", async () => {
    const now = new Date();
    for (let i = 0; i < 5; i++) {
      const id = newRequestId();
      await saveAuthnRequest(database.db, { id, connectionId, now });
      const results = await Promise.all([
        consumeAuthnRequest(database.db, { id, connectionId, now }),
        consumeAuthnRequest(other, { id, connectionId, now }),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
    }
  });

  it("an Assertion ID is accepted once per IdP until it expires", async () => {
    const now = new Date();
    const input = {
      idpEntityId: idp.entityId,
      assertionId: "_a1",
      connectionId,
      expiresAt: new Date(now.getTime() + 60_000),
      now,
    };
    expect(await rememberAssertion(database.db, input)).toBe(true);
    expect(await rememberAssertion(other, input)).toBe(false);
    // Another IdP's Assertion with the same ID is another Assertion.
    expect(await rememberAssertion(other, { ...input, idpEntityId: "http://other-idp.test" })).toBe(true);
    // Once the record expired, the ID may come again (its time conditions protect it then).
    const later = new Date(now.getTime() + 61_000);
    expect(
      await rememberAssertion(other, { ...input, now: later, expiresAt: new Date(later.getTime() + 60_000) }),
    ).toBe(true);
  });

  it("settles a verified Response once; the replay is refused on the other node", async () => {
    const now = new Date();
    const requestId = newRequestId();
    await saveAuthnRequest(database.db, { id: requestId, connectionId, now });
    const verified = await facts(requestId, now);
    await settleSamlResponse(database.db, { connectionId, idpEntityId: idp.entityId, facts: verified, now });
    const replay = await settleSamlResponse(other, {
      connectionId,
      idpEntityId: idp.entityId,
      facts: verified,
      now,
    }).catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(SamlError);
    expect(replay).toMatchObject({ check: "replay" });
  });

  it("acceptSamlResponse: verified and settled, the same POST a second time refused as a replay", async () => {
    const now = new Date();
    const requestId = newRequestId();
    await saveAuthnRequest(database.db, { id: requestId, connectionId, now });
    const samlResponse = await idp.responseBase64({
      acsUrl: ACS,
      spEntityId: SP,
      inResponseTo: requestId,
      nameId: "bob@acme.test",
      now,
    });
    const options = {
      connectionId,
      idpEntityId: idp.entityId,
      idpCertificates: idp.certificates,
      spEntityId: SP,
      acsUrl: ACS,
      expectedInResponseTo: requestId,
      now,
    };
    expect((await acceptSamlResponse(database.db, { samlResponse }, options)).nameId).toBe("bob@acme.test");
    const again = await acceptSamlResponse(other, { samlResponse }, options).catch((e: unknown) => e);
    expect(again).toMatchObject({ check: "replay" });
    expect((again as SamlError).summary?.response?.inResponseTo).toBe(requestId);
  });

  it("an IdP-initiated Assertion is accepted once", async () => {
    const now = new Date();
    const verified = await facts(null, now);
    await settleSamlResponse(other, { connectionId, idpEntityId: idp.entityId, facts: verified, now });
    await expect(
      settleSamlResponse(database.db, { connectionId, idpEntityId: idp.entityId, facts: verified, now }),
    ).rejects.toMatchObject({ check: "replay" });
  });

  it("a Response to an unknown or used AuthnRequest is refused and leaves its Assertion unrecorded", async () => {
    const now = new Date();
    const requestId = newRequestId();
    const verified = await facts(requestId, now); // the request was never saved (or another node used it)
    await expect(
      settleSamlResponse(database.db, { connectionId, idpEntityId: idp.entityId, facts: verified, now }),
    ).rejects.toMatchObject({ check: "in_response_to" });
    // Rolled back together: once the request exists, the same Assertion settles.
    await saveAuthnRequest(database.db, { id: requestId, connectionId, now });
    await settleSamlResponse(other, { connectionId, idpEntityId: idp.entityId, facts: verified, now });
    // And a Response for another connection's request is refused.
    const foreign = newRequestId();
    await saveAuthnRequest(database.db, { id: foreign, connectionId: otherConnectionId, now });
    await expect(
      settleSamlResponse(database.db, {
        connectionId,
        idpEntityId: idp.entityId,
        facts: await facts(foreign, now),
        now,
      }),
    ).rejects.toMatchObject({ check: "in_response_to" });
  });

  it("housekeeping deletes only what expired", async () => {
    const now = new Date(Date.now() + 3_600_000);
    const fresh = newRequestId();
    await saveAuthnRequest(database.db, { id: fresh, connectionId, now });
    const swept = await sweepSamlStore(database.db, now);
    expect(swept.requests).toBeGreaterThan(0);
    expect(swept.assertions).toBeGreaterThan(0);
    expect(await consumeAuthnRequest(database.db, { id: fresh, connectionId, now })).toBe(true);
    const left = await database.db.selectFrom("saml_assertions").select("expires_at").execute();
    expect(left.every((r) => new Date(r.expires_at).getTime() > now.getTime())).toBe(true);
  });

  it("deleting the connection deletes its pending requests and Assertion IDs", async () => {
    const now = new Date();
    await saveAuthnRequest(database.db, { id: newRequestId(), connectionId: otherConnectionId, now });
    await database.db.deleteFrom("sso_connections").where("id", "=", otherConnectionId).execute();
    const rows = await database.db
      .selectFrom("saml_requests")
      .where("connection_id", "=", otherConnectionId)
      .selectAll()
      .execute();
    expect(rows).toEqual([]);
  });
});
