/**
 * SAML connections end to end (SPEC §12) through the routes, with the loopback SAML IdP double
 * (test/support/saml-idp.ts) on 127.0.0.1 and CoPilot on acme.localhost (another site: the
 * IdP's form POST to the ACS is cross-site, so the test browser sends no SameSite=Lax cookie on
 * it, as a real one does): start → IdP → ACS (303) → continue → settle.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSpKey } from "../../src/sso/saml/keys.js";
import { ALGORITHMS } from "../../src/sso/saml/signature.js";
import { createTestApp } from "../support/app.js";
import { Browser, type BrowserResponse, parseForms } from "../support/browser.js";
import { storages } from "../support/db.js";
import { startLoopbackServer } from "../support/loopback-server.js";
import { ENTRA_CLAIMS, type ResponseOptions, type ServedSamlIdp, serveSamlIdp } from "../support/saml-idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

const OKTA_USER = {
  nameId: "alice@acme.test",
  attributes: { email: ["alice@acme.test"], firstName: ["Alice"] },
};

describe.each(storages())("SAML connections (%s)", (storage) => {
  let w: SsoWorld;
  let okta: ServedSamlIdp;
  let entra: ServedSamlIdp;
  let oktaId: string;

  /** The browser at the IdP's auto-submitting form, for a flow started at `url`. */
  async function toIdpForm(browser: Browser, url: string) {
    const start = await browser.get(url);
    expect(start.status, start.body).toBe(302);
    const page = await browser.get(start.location!);
    expect(page.status, page.body).toBe(200);
    return page;
  }

  /** Submits the IdP's form (cross-site POST), follows the ACS's 303 to the continue request. */
  async function postToAcs(browser: Browser, page: BrowserResponse, fields: Record<string, string> = {}) {
    const acs = await browser.submitForm(page, fields);
    expect(acs.status, acs.body).toBe(303);
    // The ACS sets no session (nor anything else): it only hands over to the same-origin GET.
    expect(acs.header("set-cookie")).toBeUndefined();
    expect(new URL(acs.location!).pathname).toMatch(/^\/login\/saml\/[^/]+\/continue$/);
    const back = await browser.follow(acs, { stopBefore: (u) => !u.pathname.startsWith("/login/saml/") });
    return back;
  }

  async function signIn(connectionId: string, browser = new Browser()) {
    const page = await toIdpForm(browser, `${w.origin}/login/sso/start?connection=${connectionId}`);
    return { res: await postToAcs(browser, page), browser };
  }

  async function runTest(connectionId: string) {
    const started = await w.api("POST", `/api/admin/sso/connections/${connectionId}/tests`);
    expect(started.status, started.body).toBe(201);
    const { authorizationUrl, test } = started.json<{ authorizationUrl: string; test: { id: string } }>();
    const page = await w.admin.get(authorizationUrl);
    const back = await postToAcs(w.admin, page);
    expect(where(back)).toBe(`/settings/sso?test=${test.id}`);
    return (await w.api("GET", `/api/admin/sso/tests/${test.id}`)).json<{ test: Record<string, any> }>().test;
  }

  async function enable(connectionId: string) {
    const test = await runTest(connectionId);
    expect(test.status, JSON.stringify(test)).toBe("passed");
    expect(
      (await w.api("PUT", `/api/admin/sso/connections/${connectionId}/enabled`, { enabled: true })).status,
    ).toBe(200);
    expect((await w.api("PUT", "/api/admin/sso/settings", { enabled: true })).status).toBe(200);
  }

  async function expectRefused(res: BrowserResponse, check: string) {
    expect(where(res)).toBe("/login?error=sso_failed");
    const details = await w.lastSignInFailure();
    expect(details).toMatchObject({ code: "sso_failed", step: "assertion", check });
  }

  const isSession = async (browser: Browser) =>
    (await browser.get(`${w.origin}/api/auth/me`, { headers: { accept: "application/json" } })).status;

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    okta = await serveSamlIdp({ profile: "okta" });
    entra = await serveSamlIdp({ profile: "entra" });
    okta.setUser(OKTA_USER);
    await w.t.seedUser(w.agencyId, {
      email: "alice@acme.test",
      role: "analyst",
      subAccountIds: [w.subAccountId],
    });
    const { id, body } = await w.createConnection({
      type: "saml",
      name: "Okta",
      samlMetadataUrl: okta.metadataUrl,
      mapping: { emailField: "email" },
    });
    oktaId = id;
    const c = body.connection;
    expect(c.saml).toMatchObject({
      acsUrl: `${w.origin}/login/saml/${id}/acs`,
      spEntityId: `${w.origin}/login/saml/${id}/metadata`,
      spMetadataUrl: `${w.origin}/login/saml/${id}/metadata`,
      idpEntityId: okta.entityId,
      idpSsoUrl: okta.ssoUrl,
    });
    expect(c.saml.certificates).toHaveLength(1);
    expect(c.saml.certificates[0]).toMatchObject({ expiresWithin30Days: false });
    expect(c.mapping).toMatchObject({ remoteIdField: "NameID", emailField: "email" });
    expect(body.warnings.join(" ")).toMatch(/samlEmailTrust: idp/);
  });
  afterAll(async () => {
    await okta?.close();
    await entra?.close();
    await w?.close();
  });

  it("publishes the SP metadata: entity ID, ACS, the SP certificate", async () => {
    const res = await new Browser().get(`${w.origin}/login/saml/${oktaId}/metadata`);
    expect(res.status).toBe(200);
    expect(res.header("content-type")).toMatch(/^application\/samlmetadata\+xml/);
    expect(res.body).toContain(`entityID="${w.origin}/login/saml/${oktaId}/metadata"`);
    expect(res.body).toContain(`Location="${w.origin}/login/saml/${oktaId}/acs"`);
    expect(res.body).toContain("<ds:X509Certificate>");
  });

  it("cannot be enabled before a passed test", async () => {
    const res = await w.api("PUT", `/api/admin/sso/connections/${oktaId}/enabled`, { enabled: true });
    expect(res.status).toBe(409);
  });

  it("fails a §7 test with the check named (audience) and the attribute names", async () => {
    okta.setUser({ ...OKTA_USER, audiences: ["https://someone-else.test/sp"] });
    try {
      const test = await runTest(oktaId);
      expect(test.status).toBe("failed");
      expect(test.errorCode).toBe("sso_failed");
      expect(test.diagnostic.step).toBe("assertion");
      expect(test.diagnostic.detail).toMatch(/audience check/);
      expect(test.diagnostic.claimNames).toEqual(expect.arrayContaining(["email", "firstName"]));
      expect(JSON.stringify(test)).not.toContain("alice@acme.test");
      const audit = await w.auditFor("sso.test");
      expect(audit[0]).toMatchObject({ outcome: "failure", details: { check: "audience" } });
      // The trace keeps the redacted summary of the Response: names, never the NameID or a value.
      const trace = await w.t.ctx.db
        .selectFrom("sso_traces")
        .selectAll()
        .where("connection_id", "=", oktaId)
        .orderBy("created_at", "desc")
        .executeTakeFirstOrThrow();
      const kept = JSON.stringify(trace);
      expect(kept).toContain("saml_response");
      expect(kept).toContain("someone-else.test");
      expect(kept).toMatch(/audience check/);
      expect(kept).not.toContain("alice@acme.test");
    } finally {
      okta.setUser(OKTA_USER);
    }
  });

  it("passes the §7 test (Okta-like: Response and Assertion signed), is enabled, and signs a person in", async () => {
    const test = await runTest(oktaId);
    expect(test.status, JSON.stringify(test)).toBe("passed");
    expect(test.diagnostic.claimNames).toEqual(expect.arrayContaining(["NameID", "email", "firstName"]));
    expect(test.matchedUserId).not.toBeNull();
    expect(
      (await w.api("PUT", `/api/admin/sso/connections/${oktaId}/enabled`, { enabled: true })).status,
    ).toBe(200);
    expect((await w.api("PUT", "/api/admin/sso/settings", { enabled: true })).status).toBe(200);

    const { res, browser } = await signIn(oktaId);
    expect(where(res)).toBe("/");
    expect(await isSession(browser)).toBe(200);
    // The AuthnRequest went out for our ACS and entity ID, with the state as RelayState.
    const seen = okta.requests.at(-1)!;
    expect(seen.acsUrl).toBe(`${w.origin}/login/saml/${oktaId}/acs`);
    expect(seen.issuer).toBe(`${w.origin}/login/saml/${oktaId}/metadata`);
    expect(seen.relayState).toMatch(/^s1\./);
    await w.expectAuditClean();
  });

  it("lands on the returnTo of the state (never one from elsewhere)", async () => {
    const browser = new Browser();
    const page = await toIdpForm(
      browser,
      `${w.origin}/login/sso/start?connection=${oktaId}&returnTo=/reports`,
    );
    expect(where(await postToAcs(browser, page))).toBe("/reports");
  });

  it("signs in through an Entra-like IdP (Assertion-only signature, persistent NameID, email attribute)", async () => {
    entra.setUser({
      nameId: "0f7c-persistent-id",
      attributes: { [ENTRA_CLAIMS.email]: ["alice@acme.test"], [ENTRA_CLAIMS.name]: ["Alice"] },
    });
    const { id } = await w.createConnection({
      type: "saml",
      name: "Microsoft",
      samlMetadataUrl: entra.metadataUrl,
      samlSignatureRequired: "assertion",
      mapping: { emailField: ENTRA_CLAIMS.email },
    });
    await enable(id);
    const { res, browser } = await signIn(id);
    expect(where(res)).toBe("/");
    expect(await isSession(browser)).toBe(200);
  });

  it("refuses a signature-wrapped Response (cloned Assertion beside the signed one)", async () => {
    okta.setUser({
      ...OKTA_USER,
      tamper: {
        responseAfterSigning: (x) => {
          const a = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(x)![0];
          const evil = a
            .replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/, "")
            .replace(/ID="[^"]+"/, 'ID="_evil"')
            .replace(/alice@acme\.test/g, "mallory@acme.test");
          return x.replace("<saml:Assertion", `${evil}<saml:Assertion`);
        },
      },
    });
    try {
      const { res, browser } = await signIn(oktaId);
      await expectRefused(res, "assertion_count");
      expect(await isSession(browser)).toBe(401);
    } finally {
      okta.setUser(OKTA_USER);
    }
  });

  it("refuses a Response for another audience", async () => {
    okta.setUser({ ...OKTA_USER, audiences: ["https://someone-else.test/sp"] });
    try {
      await expectRefused((await signIn(oktaId)).res, "audience");
    } finally {
      okta.setUser(OKTA_USER);
    }
  });

  it("refuses an expired Response", async () => {
    okta.setUser({ ...OKTA_USER, now: new Date(Date.now() - 60 * 60_000) });
    try {
      await expectRefused((await signIn(oktaId)).res, "time");
    } finally {
      okta.setUser(OKTA_USER);
    }
  });

  const minutes = (n: number) => new Date(Date.now() + n * 60_000);
  const refusals: Array<[string, () => Promise<Partial<ResponseOptions>>, string]> = [
    ["unsigned", async () => ({ sign: "none" }), "signature"],
    [
      "signed by an unknown key (its certificate in KeyInfo)",
      async () => ({ signingKey: await generateSpKey({ commonName: "attacker" }) }),
      "signature",
    ],
    [
      "tampered after signing",
      async () => ({
        tamper: {
          responseAfterSigning: (x: string) => x.replace(/>alice@acme\.test</g, ">mallory@acme.test<"),
        },
      }),
      "signature",
    ],
    ["without Destination", async () => ({ destination: null }), "destination"],
    ["for another Destination", async () => ({ destination: "https://evil.test/acs" }), "destination"],
    ["for another Recipient", async () => ({ recipient: "https://evil.test/acs" }), "recipient"],
    ["from another Issuer", async () => ({ assertionIssuer: "urn:evil:idp" }), "issuer"],
    ["without an Audience", async () => ({ audiences: null }), "audience"],
    ["not yet valid", async () => ({ notBefore: minutes(10) }), "time"],
    [
      "with its SubjectConfirmation expired",
      async () => ({ confirmationNotOnOrAfter: minutes(-10) }),
      "time",
    ],
    [
      "with a Status other than Success",
      async () => ({ status: { code: "urn:oasis:names:tc:SAML:2.0:status:Responder" } }),
      "status",
    ],
    [
      "signed with SHA-1",
      async () => ({ signatureAlgorithm: ALGORITHMS.rsaSha1, digestAlgorithm: ALGORITHMS.sha1 }),
      "signature_algorithm",
    ],
    // Two roots are not well-formed XML: the parser's refusal.
    ["with two roots", async () => ({ tamper: { responseAfterSigning: (x: string) => `${x}<x/>` } }), "xml"],
  ];
  it.each(
    refusals,
  )("refuses a Response %s (sso_failed, the check in the audit log)", async (_name, options, check) => {
    okta.setUser({ ...OKTA_USER, ...(await options()) });
    try {
      const { res, browser } = await signIn(oktaId);
      await expectRefused(res, check);
      expect(await isSession(browser)).toBe(401);
    } finally {
      okta.setUser(OKTA_USER);
    }
  });

  it("reads a NameID with a comment inside as what it says (comment injection signs nobody in as the victim)", async () => {
    okta.setUser({
      ...OKTA_USER,
      tamper: {
        assertionBeforeSigning: (x: string) =>
          x.replace(/>alice@acme\.test</g, ">alice@acme.test<!---->.evil.test<"),
      },
    });
    try {
      const { res, browser } = await signIn(oktaId);
      expect(where(res)).toBe("/login?error=user_not_found");
      expect(await isSession(browser)).toBe(401);
    } finally {
      okta.setUser(OKTA_USER);
    }
  });

  it("refuses a Response over the size cap: decoded XML over 256 KB, and a POST body over 512 KB", async () => {
    const browser = new Browser();
    const page = await toIdpForm(browser, `${w.origin}/login/sso/start?connection=${oktaId}`);
    const xml = (n: number) =>
      `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">${"<a/>".repeat(n)}</samlp:Response>`;
    const res = await postToAcs(browser, page, { SAMLResponse: Buffer.from(xml(66_000)).toString("base64") });
    await expectRefused(res, "size");
    const huge = await browser.postForm(
      `${w.origin}/login/saml/${oktaId}/acs`,
      { SAMLResponse: Buffer.from(xml(200_000)).toString("base64") },
      { origin: okta.server.origin },
    );
    expect(where(huge)).toBe("/login?error=sso_failed");
    expect(await w.lastSignInFailure()).toMatchObject({ code: "sso_failed", check: "size" });
  });

  it("refuses a Response with a DOCTYPE (an external entity is never fetched)", async () => {
    let fetched = 0;
    const evil = await startLoopbackServer((_req, res) => {
      fetched++;
      res.end("x");
    });
    try {
      const browser = new Browser();
      const page = await toIdpForm(browser, `${w.origin}/login/sso/start?connection=${oktaId}`);
      const form = parseForms(page.body, page.url)[0]!;
      const xml = Buffer.from(form.fields.SAMLResponse!, "base64").toString("utf8");
      const withDoctype = `<!DOCTYPE r [<!ENTITY x SYSTEM "${evil.origin}/x">]>${xml}`;
      const res = await postToAcs(browser, page, {
        SAMLResponse: Buffer.from(withDoctype, "utf8").toString("base64"),
      });
      await expectRefused(res, "doctype");
      expect(fetched).toBe(0);
    } finally {
      await evil.close();
    }
  });

  it("refuses a Response to another flow's AuthnRequest (InResponseTo of flow A, RelayState of flow B)", async () => {
    const browser = new Browser();
    const pageA = await toIdpForm(browser, `${w.origin}/login/sso/start?connection=${oktaId}`);
    const pageB = await toIdpForm(browser, `${w.origin}/login/sso/start?connection=${oktaId}`);
    const a = parseForms(pageA.body, pageA.url)[0]!.fields;
    const res = await postToAcs(browser, pageB, { SAMLResponse: a.SAMLResponse! });
    await expectRefused(res, "in_response_to");
  });

  it("refuses a replay of an accepted Response on a second app node sharing the database", async () => {
    const browser = new Browser();
    const page = await toIdpForm(browser, `${w.origin}/login/sso/start?connection=${oktaId}`);
    const fields = parseForms(page.body, page.url)[0]!.fields;
    expect(where(await postToAcs(browser, page))).toBe("/");
    // The same POST (captured) sent to another node, for the same origin.
    const node2 = await createTestApp(storage, {}, { database: w.t.database });
    try {
      const host = new URL(w.origin).host;
      const acs = await node2.app.inject({
        method: "POST",
        url: `/login/saml/${oktaId}/acs`,
        headers: { host, "content-type": "application/x-www-form-urlencoded", origin: okta.server.origin },
        payload: new URLSearchParams(fields).toString(),
      });
      expect(acs.statusCode, acs.body).toBe(303);
      const next = new URL(acs.headers.location!, w.origin);
      const cont = await node2.app.inject({
        method: "GET",
        url: next.pathname + next.search,
        headers: { host },
      });
      expect(cont.headers.location).toBe("/login?error=sso_failed");
      expect(await w.lastSignInFailure()).toMatchObject({ code: "sso_failed", check: "replay" });
    } finally {
      await node2.app.close();
    }
  });

  it("finishes on another node a flow started on this one", async () => {
    const browser = new Browser();
    const page = await toIdpForm(browser, `${w.origin}/login/sso/start?connection=${oktaId}`);
    const fields = parseForms(page.body, page.url)[0]!.fields;
    const node2 = await createTestApp(storage, {}, { database: w.t.database });
    try {
      const host = new URL(w.origin).host;
      const acs = await node2.app.inject({
        method: "POST",
        url: `/login/saml/${oktaId}/acs`,
        headers: { host, "content-type": "application/x-www-form-urlencoded", origin: okta.server.origin },
        payload: new URLSearchParams(fields).toString(),
      });
      expect(acs.statusCode, acs.body).toBe(303);
      const next = new URL(acs.headers.location!, w.origin);
      const cookie = browser.jar.header(next, { crossSite: false, unsafeOrFetch: false });
      const cont = await node2.app.inject({
        method: "GET",
        url: next.pathname + next.search,
        headers: { host, ...(cookie ? { cookie } : {}) },
      });
      expect(cont.headers.location).toBe("/");
      expect(String(cont.headers["set-cookie"])).toMatch(/copilot_session=/);
    } finally {
      await node2.app.close();
    }
  });

  it("uses a continue handle once", async () => {
    const browser = new Browser();
    const page = await toIdpForm(browser, `${w.origin}/login/sso/start?connection=${oktaId}`);
    const acs = await browser.submitForm(page, {});
    expect(acs.status).toBe(303);
    expect(
      where(await browser.follow(acs, { stopBefore: (u) => !u.pathname.startsWith("/login/saml/") })),
    ).toBe("/");
    const again = await browser.get(acs.location!);
    expect(where(again)).toBe("/login?error=sso_failed");
  });

  it("refuses an IdP-initiated Response by default, accepts it when enabled (landing on /)", async () => {
    const unsolicited = async (connectionId: string, relayState?: string) => {
      const samlResponse = await okta.responseBase64({
        acsUrl: `${w.origin}/login/saml/${connectionId}/acs`,
        spEntityId: `${w.origin}/login/saml/${connectionId}/metadata`,
        inResponseTo: null,
        ...OKTA_USER,
      });
      const browser = new Browser();
      const acs = await browser.postForm(
        `${w.origin}/login/saml/${connectionId}/acs`,
        { SAMLResponse: samlResponse, ...(relayState ? { RelayState: relayState } : {}) },
        { origin: okta.server.origin },
      );
      expect(acs.status, acs.body).toBe(303);
      const res = await browser.follow(acs, { stopBefore: (u) => !u.pathname.startsWith("/login/saml/") });
      return { res, browser };
    };
    await expectRefused((await unsolicited(oktaId)).res, "in_response_to");

    const { id } = await w.createConnection({
      type: "saml",
      name: "Okta IdP-initiated",
      samlMetadataUrl: okta.metadataUrl,
      samlIdpInitiated: true,
      mapping: { emailField: "email" },
    });
    await enable(id);
    const { res, browser } = await unsolicited(id, "/admin/evil");
    expect(where(res)).toBe("/");
    expect(await isSession(browser)).toBe(200);
  });

  it("refuses bad input with 422 naming the field", async () => {
    const post = (body: Record<string, unknown>) => w.api("POST", "/api/admin/sso/connections", body);
    const field = async (body: Record<string, unknown>) => {
      const res = await post(body);
      expect(res.status, res.body).toBe(422);
      return res.json<{ error: { field: string } }>().error.field;
    };
    const saml = { type: "saml", name: "S" };
    expect(await field(saml)).toBe("samlMetadataUrl");
    expect(
      await field({ ...saml, samlMetadataUrl: okta.metadataUrl, samlMetadataXml: okta.metadataXml() }),
    ).toBe("samlMetadataXml");
    expect(await field({ ...saml, samlMetadataXml: "<not-metadata/>" })).toBe("samlMetadataXml");
    expect(
      await field({ ...saml, samlEntityId: "urn:idp", samlSsoUrl: okta.ssoUrl, samlCertificates: ["nope"] }),
    ).toBe("samlCertificates");
    expect(await field({ ...saml, samlEntityId: "urn:idp", samlCertificates: okta.certificates })).toBe(
      "samlSsoUrl",
    );
    expect(await field({ ...saml, samlMetadataUrl: okta.metadataUrl, samlClockSkewSeconds: 301 })).toBe(
      "samlClockSkewSeconds",
    );
    expect(
      await field({
        ...saml,
        samlMetadataUrl: okta.metadataUrl,
        mapping: { emailVerifiedField: "email_verified" },
      }),
    ).toBe("mapping.emailVerifiedField");
    expect(await field({ ...saml, samlMetadataUrl: okta.metadataUrl, clientId: "x" })).toBe("clientId");
    expect(await field({ ...saml, samlMetadataUrl: `${okta.server.origin}/nothing-here` })).toBe(
      "samlMetadataUrl",
    );
    expect(
      await field({
        type: "oidc",
        name: "O",
        clientId: "c",
        clientSecret: "s",
        samlMetadataUrl: okta.metadataUrl,
      }),
    ).toBe("samlMetadataUrl");
    // Manual configuration works too.
    const manual = await post({
      ...saml,
      samlEntityId: okta.entityId,
      samlSsoUrl: okta.ssoUrl,
      samlCertificates: okta.certificates.join("\n"),
    });
    expect(manual.status, manual.body).toBe(201);
    expect(manual.json<any>().connection.saml.idpEntityId).toBe(okta.entityId);
  });

  it("follows a key rotation at the IdP: a signature failure fetches the metadata again, once per cooldown", async () => {
    await okta.rotate({ keepOld: false });
    try {
      // Within the cooldown of the last fetch: refused, the metadata is not fetched again.
      await expectRefused((await signIn(oktaId)).res, "signature");
      // After the cooldown, the failure fetches the metadata, which has the new certificate.
      const later = 6 * 60_000;
      w.t.clock.advance(later);
      okta.setUser({ ...OKTA_USER, now: new Date(Date.now() + later) });
      const { res, browser } = await signIn(oktaId);
      expect(where(res)).toBe("/");
      expect(await isSession(browser)).toBe(200);
      const view = (await w.api("GET", `/api/admin/sso/connections/${oktaId}`)).json<any>().connection;
      expect(view.saml.certificates).toHaveLength(1);
      expect(view.enabled).toBe(true);
    } finally {
      w.t.clock.offsetMs = 0;
      okta.setUser(OKTA_USER);
    }
  });

  it("trusts no email under samlEmailTrust verified-domains while the agency has no verified domain", async () => {
    const { id, body } = await w.createConnection({
      type: "saml",
      name: "Okta verified domains",
      samlMetadataUrl: okta.metadataUrl,
      samlEmailTrust: "verified-domains",
      mapping: { emailField: "email" },
    });
    expect(body.warnings.join(" ")).not.toMatch(/samlEmailTrust: idp/);
    const test = await runTest(id);
    expect(test.status).toBe("failed");
    expect(test.errorCode).toBe("email_not_verified");
  });

  it("signs the AuthnRequest with the SP key when the IdP metadata wants signed requests", async () => {
    const idp = await serveSamlIdp({ profile: "okta" });
    idp.setUser(OKTA_USER);
    try {
      idp.requireSignedRequests([]); // the metadata says WantAuthnRequestsSigned="true"
      const { id, body } = await w.createConnection({
        type: "saml",
        name: "Okta signed requests",
        samlMetadataUrl: idp.metadataUrl,
        mapping: { emailField: "email" },
      });
      expect(body.connection.saml.wantAuthnRequestsSigned).toBe(true);
      // The IdP accepts only requests signed by the certificate of our SP metadata.
      idp.requireSignedRequests([body.connection.saml.spCertificate]);
      const test = await runTest(id);
      expect(test.status, JSON.stringify(test)).toBe("passed");
      expect(idp.requests.at(-1)?.signed).toBe(true);
      const sp = await new Browser().get(`${w.origin}/login/saml/${id}/metadata`);
      expect(sp.body).toContain('AuthnRequestsSigned="true"');
    } finally {
      await idp.close();
    }
  });

  it("refreshes the IdP metadata daily, when a flow starts", async () => {
    const idp = await serveSamlIdp({ profile: "okta" });
    idp.setUser(OKTA_USER);
    try {
      const { id } = await w.createConnection({
        type: "saml",
        name: "Okta daily",
        samlMetadataUrl: idp.metadataUrl,
        mapping: { emailField: "email" },
      });
      const view = async () =>
        (await w.api("GET", `/api/admin/sso/connections/${id}`)).json<any>().connection.saml;
      const first = await view();
      await idp.rotate({ keepOld: true });
      // Within the day: a start does not fetch again.
      expect((await w.api("POST", `/api/admin/sso/connections/${id}/tests`)).status).toBe(201);
      expect((await view()).metadataFetchedAt).toBe(first.metadataFetchedAt);
      // A day later (the last fetch moved back a day: the admin's session would not last one).
      await w.t.ctx.db
        .updateTable("sso_connections")
        .set({ saml_metadata_fetched_at: new Date(Date.now() - 25 * 60 * 60_000) })
        .where("id", "=", id)
        .execute();
      const before = (await view()).metadataFetchedAt;
      expect((await w.api("POST", `/api/admin/sso/connections/${id}/tests`)).status).toBe(201);
      const after = await view();
      expect(after.metadataFetchedAt).not.toBe(before);
      expect(after.certificates).toHaveLength(2);
    } finally {
      await idp.close();
    }
  });

  it("rotates the SP key: the next certificate is published and decrypts first, then it replaces the old one", async () => {
    const rotate = (step: string) =>
      w.api("POST", `/api/admin/sso/connections/${oktaId}/saml/sp-key-rotation`, { step });
    const metadata = async () => (await new Browser().get(`${w.origin}/login/saml/${oktaId}/metadata`)).body;
    const certs = (xml: string) => [...xml.matchAll(/<ds:X509Certificate>([^<]+)</g)].map((m) => m[1]);
    const before = certs(await metadata());
    expect(new Set(before).size).toBe(1);
    expect((await rotate("complete")).status).toBe(409);

    const begun = await rotate("begin");
    expect(begun.status, begun.body).toBe(200);
    const nextPem = begun.json<{ spNextCertificate: string }>().spNextCertificate;
    expect(new Set(certs(await metadata())).size).toBe(2);
    expect((await rotate("begin")).status).toBe(409);
    // An IdP that already encrypts for the next certificate is understood.
    okta.setUser({ ...OKTA_USER, encryptFor: nextPem });
    try {
      expect(where((await signIn(oktaId)).res)).toBe("/");
    } finally {
      okta.setUser(OKTA_USER);
    }

    expect((await rotate("complete")).status).toBe(200);
    const after = certs(await metadata());
    expect(new Set(after).size).toBe(1);
    expect(after[0]).not.toBe(before[0]);
    expect(nextPem.replace(/-----[A-Z ]+-----|\s/g, "")).toBe(after[0]);
    expect(where((await signIn(oktaId)).res)).toBe("/");
    const audit = await w.auditFor("sso.connection.sp_key_rotation");
    expect(audit.map((a) => a.details.step)).toEqual(["complete", "begin"]);
  });

  it("counts IdP certificates expiring within 30 days in /metrics", async () => {
    const t = await createTestApp(
      storage,
      { METRICS_TOKEN: "metrics-token-0123456789" },
      { database: w.t.database },
    );
    try {
      const read = async () => {
        const res = await t.app.inject({
          url: "/metrics",
          headers: { authorization: "Bearer metrics-token-0123456789" },
        });
        expect(res.statusCode).toBe(200);
        return Number(/copilot_saml_idp_certificates_expiring (\d+)/.exec(res.body)?.[1]);
      };
      expect(await read()).toBe(0);
      t.clock.advance(3650 * 86_400_000 - 10 * 86_400_000);
      expect(await read()).toBeGreaterThan(0);
    } finally {
      await t.app.close();
    }
  });
});

describe.each(storages())("SAML metadata URL behind the SSRF guard (%s)", (storage) => {
  it("refuses a private metadata URL unless private IdP URLs are allowed", async () => {
    const w = await createSsoWorld(storage, "acme", { ALLOW_PRIVATE_IDP_URLS: "false" });
    try {
      const res = await w.api("POST", "/api/admin/sso/connections", {
        type: "saml",
        name: "S",
        samlMetadataUrl: "https://127.0.0.1:9/metadata",
      });
      expect(res.status, res.body).toBe(422);
      expect(res.json<{ error: { field: string; message: string } }>().error).toMatchObject({
        field: "samlMetadataUrl",
        message: expect.stringMatching(/private|not allowed|forbidden|address/i),
      });
    } finally {
      await w.close();
    }
  });
});
