// The AuthnRequest over HTTP-Redirect (SPEC §12), read by the loopback IdP double as a real IdP
// reads it, and the round trip back through the IdP's HTTP-POST form into verifySamlResponse.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAuthnRequest, readRedirectMessage, redirectUrl } from "../../src/sso/saml/authn-request.js";
import { SamlError } from "../../src/sso/saml/errors.js";
import { generateSpKey, type SpKey } from "../../src/sso/saml/keys.js";
import { parseIdpMetadata } from "../../src/sso/saml/metadata.js";
import { verifySamlResponse } from "../../src/sso/saml/response.js";
import { newRequestId } from "../../src/sso/saml/store.js";
import { NS, parseSamlXml } from "../../src/sso/saml/xml.js";
import { type ServedSamlIdp, serveSamlIdp } from "../support/saml-idp.js";

const SP = "http://localhost:3000/login/saml/conn_1/metadata";
const ACS = "http://localhost:3000/login/saml/conn_1/acs";
const STATE = "v1.state-token+with/odd=chars&more";

let idp: ServedSamlIdp;
let sp: SpKey;
let other: SpKey;

beforeAll(async () => {
  [sp, other] = await Promise.all([
    generateSpKey({ commonName: SP }),
    generateSpKey({ commonName: "other" }),
  ]);
  idp = await serveSamlIdp({ profile: "okta", spEntityId: SP });
});
afterAll(async () => {
  await idp?.close();
});

function request(id = newRequestId(), extra: Partial<Parameters<typeof buildAuthnRequest>[0]> = {}) {
  return buildAuthnRequest({
    id,
    issueInstant: new Date(),
    destination: idp.ssoUrl,
    acsUrl: ACS,
    spEntityId: SP,
    ...extra,
  });
}

describe("the AuthnRequest", () => {
  it("carries ID, IssueInstant, Destination, ACS URL, Issuer and NameIDPolicy, and no RequestedAuthnContext", () => {
    const id = newRequestId();
    expect(id).toMatch(/^_[0-9a-f]{40}$/);
    const root = parseSamlXml(request(id)).documentElement!;
    expect(root.localName).toBe("AuthnRequest");
    expect(root.getAttribute("ID")).toBe(id);
    expect(root.getAttribute("Version")).toBe("2.0");
    expect(Date.parse(root.getAttribute("IssueInstant") ?? "")).toBeGreaterThan(Date.now() - 5000);
    expect(root.getAttribute("Destination")).toBe(idp.ssoUrl);
    expect(root.getAttribute("AssertionConsumerServiceURL")).toBe(ACS);
    expect(root.getAttribute("ProtocolBinding")).toBe("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST");
    expect(root.getElementsByTagNameNS(NS.assertion, "Issuer")[0]?.textContent).toBe(SP);
    expect(root.getElementsByTagNameNS(NS.protocol, "NameIDPolicy")).toHaveLength(1);
    expect(root.getElementsByTagNameNS(NS.protocol, "RequestedAuthnContext")).toHaveLength(0);
  });

  it("sends RequestedAuthnContext only when configured", () => {
    const xml = request(undefined, {
      requestedAuthnContext: {
        comparison: "exact",
        classRefs: ["urn:oasis:names:tc:SAML:2.0:ac:classes:X509"],
      },
    });
    const ctx = parseSamlXml(xml).documentElement!.getElementsByTagNameNS(
      NS.protocol,
      "RequestedAuthnContext",
    );
    expect(ctx).toHaveLength(1);
    expect(ctx[0]!.getAttribute("Comparison")).toBe("exact");
  });

  it("unsigned: SAMLRequest (deflated, base64) and RelayState, no SigAlg", () => {
    const xml = request();
    const url = new URL(redirectUrl({ ssoUrl: idp.ssoUrl, requestXml: xml, relayState: STATE }));
    expect([...url.searchParams.keys()]).toEqual(["SAMLRequest", "RelayState"]);
    const read = readRedirectMessage(url.search.slice(1));
    expect(read).toEqual({ xml, relayState: STATE, sigAlg: null });
  });

  it("signed when the IdP wants it: SigAlg RSA-SHA256 and Signature over SAMLRequest, RelayState, SigAlg in that order", () => {
    const xml = request();
    const url = redirectUrl({
      ssoUrl: `${idp.ssoUrl}?tenant=a`,
      requestXml: xml,
      relayState: STATE,
      signingKeyPem: sp.privateKeyPem,
    });
    const query = url.split("?")[1]!;
    expect(query.split("&").map((p) => p.split("=")[0])).toEqual([
      "tenant",
      "SAMLRequest",
      "RelayState",
      "SigAlg",
      "Signature",
    ]);
    const raw = query.replace(/^tenant=a&/, "");
    const read = readRedirectMessage(raw, { certificates: [sp.certificatePem] });
    expect(read.sigAlg).toBe("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
    // Another key's certificate, a changed RelayState, a missing signature: refused.
    expect(() => readRedirectMessage(raw, { certificates: [other.certificatePem] })).toThrow(SamlError);
    expect(() =>
      readRedirectMessage(raw.replace(/RelayState=[^&]+/, "RelayState=other"), {
        certificates: [sp.certificatePem],
      }),
    ).toThrow(/does not verify/);
    const unsigned = redirectUrl({ ssoUrl: idp.ssoUrl, requestXml: xml, relayState: STATE }).split("?")[1]!;
    expect(() => readRedirectMessage(unsigned, { certificates: [sp.certificatePem] })).toThrow(/not signed/);
  });
});

describe("round trip through the loopback IdP", () => {
  it("the IdP reads our signed request from its metadata's SSO URL and posts back a Response we accept", async () => {
    idp.requireSignedRequests([sp.certificatePem]);
    const res = await fetch(idp.metadataUrl);
    const metadata = parseIdpMetadata(await res.text(), new Date());
    expect(metadata.wantAuthnRequestsSigned).toBe(true);
    idp.setUser({ nameId: "alice@acme.test", attributes: { email: ["alice@acme.test"] } });
    const id = newRequestId();
    const url = redirectUrl({
      ssoUrl: metadata.ssoUrl,
      requestXml: request(id),
      relayState: STATE,
      signingKeyPem: metadata.wantAuthnRequestsSigned ? sp.privateKeyPem : null,
    });
    const page = await (await fetch(url)).text();
    expect(idp.requests.at(-1)).toMatchObject({
      id,
      acsUrl: ACS,
      issuer: SP,
      relayState: STATE,
      signed: true,
    });
    const form =
      /action="([^"]+)"[\s\S]*name="SAMLResponse" value="([^"]+)"[\s\S]*name="RelayState" value="([^"]+)"/.exec(
        page,
      );
    expect(form?.[1]).toBe(ACS);
    expect(form?.[3]).toBe(STATE.replace(/&/g, "&amp;"));
    const facts = await verifySamlResponse(
      { samlResponse: form![2]! },
      {
        idpEntityId: metadata.entityId,
        idpCertificates: metadata.signingCertificates.map((c) => c.pem),
        spEntityId: SP,
        acsUrl: ACS,
        expectedInResponseTo: id,
        now: new Date(),
      },
    );
    expect(facts).toMatchObject({ nameId: "alice@acme.test", inResponseTo: id });

    // An unsigned request is refused by this IdP.
    const unsigned = await fetch(
      redirectUrl({ ssoUrl: metadata.ssoUrl, requestXml: request(), relayState: STATE }),
    );
    expect(unsigned.status).toBe(400);
    idp.requireSignedRequests(null);
  });
});
