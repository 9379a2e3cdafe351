// SPEC §12's acceptance rules for a SAML Response, each with its refusing test, driven by the
// SAML IdP double (real xml-crypto signatures, real xml-encryption) and by tampered variants.
import { beforeAll, describe, expect, it } from "vitest";
import { SamlError } from "../../src/sso/saml/errors.js";
import { generateSpKey, type SpKey } from "../../src/sso/saml/keys.js";
import {
  type SamlAcceptanceOptions,
  type SamlAssertionFacts,
  verifySamlResponse,
} from "../../src/sso/saml/response.js";
import { ALGORITHMS } from "../../src/sso/saml/signature.js";
import { createSamlIdp, ENTRA_CLAIMS, type ResponseOptions, type SamlIdp } from "../support/saml-idp.js";

const ACS = "http://localhost:3000/login/saml/conn_1/acs";
const SP = "http://localhost:3000/login/saml/conn_1/metadata";
const REQUEST_ID = "_req0123456789abcdef";
const NOW = new Date("2026-06-01T12:00:00.000Z");

let okta: SamlIdp;
let entra: SamlIdp;
let adfs: SamlIdp;
let sp: SpKey;
let attacker: SpKey;

beforeAll(async () => {
  [okta, entra, adfs, sp, attacker] = await Promise.all([
    createSamlIdp({ profile: "okta" }),
    createSamlIdp({ profile: "entra" }),
    createSamlIdp({ profile: "adfs" }),
    generateSpKey({ commonName: SP }),
    generateSpKey({ commonName: "attacker" }),
  ]);
});

function base(idp: SamlIdp, extra: Partial<ResponseOptions> = {}): ResponseOptions {
  return {
    acsUrl: ACS,
    spEntityId: SP,
    inResponseTo: REQUEST_ID,
    nameId: "alice@acme.test",
    attributes: { email: ["alice@acme.test"], firstName: ["Alice"] },
    now: NOW,
    encryptFor: idp.profile === "adfs" ? sp.certificatePem : null,
    ...extra,
  };
}

function accept(idp: SamlIdp, extra: Partial<SamlAcceptanceOptions> = {}): SamlAcceptanceOptions {
  return {
    idpEntityId: idp.entityId,
    idpCertificates: idp.certificates,
    spEntityId: SP,
    acsUrl: ACS,
    expectedInResponseTo: REQUEST_ID,
    spDecryptionKeys: [sp.privateKeyPem],
    now: NOW,
    ...extra,
  };
}

async function verify(
  idp: SamlIdp,
  response: Partial<ResponseOptions> = {},
  options: Partial<SamlAcceptanceOptions> = {},
): Promise<SamlAssertionFacts> {
  const samlResponse = await idp.responseBase64(base(idp, response));
  return verifySamlResponse({ samlResponse }, accept(idp, options));
}

async function refused(
  promise: Promise<unknown>,
  check: SamlError["check"],
  cause?: RegExp,
): Promise<SamlError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, "the Response was accepted").toBeInstanceOf(SamlError);
  const e = err as SamlError;
  expect({ check: e.check, cause: e.cause }).toMatchObject({ check });
  if (cause) expect(e.cause).toMatch(cause);
  return e;
}

describe("accepted Responses", () => {
  it("Okta-like: Response and Assertion signed", async () => {
    const facts = await verify(okta);
    expect(facts).toMatchObject({
      nameId: "alice@acme.test",
      nameIdFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
      attributes: { email: ["alice@acme.test"], firstName: ["Alice"] },
      inResponseTo: REQUEST_ID,
      idpInitiated: false,
      signed: { response: true, assertion: true },
      encrypted: false,
      algorithms: { sha1: false, signature: [ALGORITHMS.rsaSha256, ALGORITHMS.rsaSha256] },
    });
    expect(facts.sessionIndex).toMatch(/^_s/);
    expect(facts.issueInstant.toISOString()).toBe(NOW.toISOString());
    expect(facts.replayCacheUntil.getTime()).toBe(NOW.getTime() + 5 * 60_000 + 60_000);
  });

  it("Okta-like with only the Response signed", async () => {
    const facts = await verify(okta, { sign: "response" });
    expect(facts.signed).toEqual({ response: true, assertion: false });
    expect(facts.nameId).toBe("alice@acme.test");
  });

  it("Entra-like: only the Assertion signed, a persistent NameID and the email in Entra's claim", async () => {
    const facts = await verify(entra, {
      nameId: "AAAAAAAAAAAAAAAAAAAAAPersistent1",
      attributes: {
        [ENTRA_CLAIMS.email]: ["alice@acme.test"],
        [ENTRA_CLAIMS.objectId]: ["7f0c2a51-0000-4000-8000-000000000001"],
        [ENTRA_CLAIMS.givenName]: ["Alice"],
      },
    });
    expect(facts).toMatchObject({
      nameId: "AAAAAAAAAAAAAAAAAAAAAPersistent1",
      nameIdFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
      signed: { response: false, assertion: true },
    });
    expect(facts.attributes[ENTRA_CLAIMS.email]).toEqual(["alice@acme.test"]);
    expect(facts.summary.assertion?.attributeNames).toEqual([
      ENTRA_CLAIMS.email,
      ENTRA_CLAIMS.objectId,
      ENTRA_CLAIMS.givenName,
    ]);
  });

  it("ADFS-like: an EncryptedAssertion (AES-256-CBC, RSA-OAEP) with the Assertion signed inside", async () => {
    const facts = await verify(adfs, { attributes: { [ENTRA_CLAIMS.upn]: ["alice@acme.test"] } });
    expect(facts).toMatchObject({
      nameId: "alice@acme.test",
      encrypted: true,
      signed: { response: false, assertion: true },
      algorithms: {
        encryption: {
          content: "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
          keyTransport: "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        },
      },
    });
    expect(facts.summary.assertion).toMatchObject({ encrypted: true, attributeNames: [ENTRA_CLAIMS.upn] });
  });

  it("an EncryptedAssertion with AES-GCM and xmlenc 1.1 RSA-OAEP under a signed Response", async () => {
    const facts = await verify(okta, {
      encryptFor: sp.certificatePem,
      contentEncryption: "http://www.w3.org/2009/xmlenc11#aes256-gcm",
      keyTransport: "http://www.w3.org/2009/xmlenc11#rsa-oaep",
    });
    expect(facts).toMatchObject({ encrypted: true, signed: { response: true, assertion: true } });
  });

  it("during an SP key rotation, an Assertion encrypted for the next key decrypts", async () => {
    const next = await generateSpKey({ commonName: SP });
    const samlResponse = await adfs.responseBase64(base(adfs, { encryptFor: next.certificatePem }));
    const facts = await verifySamlResponse(
      { samlResponse },
      accept(adfs, { spDecryptionKeys: [sp.privateKeyPem, next.privateKeyPem] }),
    );
    expect(facts.encrypted).toBe(true);
    await refused(verifySamlResponse({ samlResponse }, accept(adfs)), "decryption", /does not decrypt/);
  });

  it("an IdP certificate rotation: both certificates configured, the new key's Responses pass", async () => {
    const idp = await createSamlIdp({ profile: "okta" });
    const oldCertificates = idp.certificates;
    await idp.rotate({ keepOld: true });
    expect(idp.certificates).toHaveLength(2);
    const samlResponse = await idp.responseBase64(base(idp));
    const facts = await verifySamlResponse(
      { samlResponse },
      accept(idp, { idpCertificates: idp.certificates }),
    );
    expect(facts.certificates).toHaveLength(1);
    // Only the old certificate configured: the new key is unknown.
    await refused(
      verifySamlResponse({ samlResponse }, accept(idp, { idpCertificates: oldCertificates })),
      "signature",
      /does not verify with any configured IdP certificate/,
    );
  });

  it("clock skew: a Response past NotOnOrAfter by less than the connection's skew passes", async () => {
    const later = new Date(NOW.getTime() + 5 * 60_000 + 50_000);
    const facts = await verify(okta, {}, { now: later });
    expect(facts.nameId).toBe("alice@acme.test");
    await refused(verify(okta, {}, { now: later, clockSkewSeconds: 30 }), "time", /expired/);
  });

  it("a skew over 5 minutes is refused as a setting", async () => {
    await expect(verify(okta, {}, { clockSkewSeconds: 301 })).rejects.toThrow(RangeError);
  });

  it("IdP-initiated, when allowed: no InResponseTo anywhere, within 5 minutes of IssueInstant", async () => {
    const facts = await verify(
      okta,
      { inResponseTo: null },
      { expectedInResponseTo: null, allowIdpInitiated: true, now: new Date(NOW.getTime() + 4 * 60_000) },
    );
    expect(facts).toMatchObject({ idpInitiated: true, inResponseTo: null });
  });

  it("SHA-1, when the connection allows it, passes and is reported for the audit", async () => {
    const facts = await verify(
      okta,
      { signatureAlgorithm: ALGORITHMS.rsaSha1, digestAlgorithm: ALGORITHMS.sha1 },
      { allowSha1: true },
    );
    expect(facts.algorithms.sha1).toBe(true);
  });
});

describe("signatures", () => {
  it("refuses an unsigned Response", async () => {
    await refused(
      verify(okta, { sign: "none" }),
      "signature",
      /neither the Response nor the Assertion is signed/,
    );
  });

  it("refuses a Response altered after signing", async () => {
    await refused(
      verify(okta, {
        sign: "assertion",
        tamper: { responseAfterSigning: (x) => x.replace(">alice@acme.test<", ">mallory@acme.test<") },
      }),
      "signature",
      /altered after signing/,
    );
  });

  it("refuses a signature by a key that is not configured, even with its certificate in KeyInfo", async () => {
    let sent = "";
    const err = await refused(
      verify(okta, {
        signingKey: attacker,
        tamper: {
          responseAfterSigning: (x) => {
            sent = x;
            return x;
          },
        },
      }),
      "signature",
      /does not verify with any configured IdP certificate/,
    );
    // The attacker's certificate was in the message's KeyInfo.
    const body = attacker.certificatePem
      .replace(/-----(BEGIN|END) CERTIFICATE-----/g, "")
      .replace(/\s+/g, "");
    expect(sent).toContain(`<ds:X509Certificate>${body}</ds:X509Certificate>`);
    expect(err.cause).not.toContain(body);
  });

  it("refuses what samlSignatureRequired does not get", async () => {
    await refused(
      verify(okta, { sign: "response" }, { signatureRequired: "assertion" }),
      "signature",
      /requires the Assertion's/,
    );
    await refused(
      verify(entra, {}, { signatureRequired: "response" }),
      "signature",
      /requires the Response's/,
    );
    await refused(verify(entra, {}, { signatureRequired: "both" }), "signature", /requires the Response's/);
    await refused(
      verify(okta, { sign: "assertion" }, { signatureRequired: "both" }),
      "signature",
      /requires the Response's/,
    );
    expect((await verify(okta, {}, { signatureRequired: "both" })).signed).toEqual({
      response: true,
      assertion: true,
    });
  });

  it("refuses RSA-SHA1 and a SHA-1 digest unless allowed", async () => {
    await refused(
      verify(okta, { signatureAlgorithm: ALGORITHMS.rsaSha1 }),
      "signature_algorithm",
      /SHA-1 is not allowed/,
    );
    await refused(
      verify(okta, { digestAlgorithm: ALGORITHMS.sha1 }),
      "digest_algorithm",
      /SHA-1 is not allowed/,
    );
  });

  it("refuses other transforms than enveloped-signature + exclusive c14n", async () => {
    await refused(
      verify(entra, {
        transforms: [ALGORITHMS.enveloped, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"],
      }),
      "transforms",
    );
    await refused(
      verify(entra, {
        transforms: [ALGORITHMS.enveloped, "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"],
      }),
      "transforms",
    );
    await refused(
      verify(entra, { canonicalization: "http://www.w3.org/2001/10/xml-exc-c14n#WithComments" }),
      "transforms",
    );
  });
});

/** The Assertion element of a Response's XML (no nested Assertion in these tests). */
function assertionOf(xml: string): string {
  const m = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml);
  if (!m) throw new Error("no assertion");
  return m[0];
}

function evilClone(signedAssertion: string): string {
  return signedAssertion
    .replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, "")
    .replace(/ID="[^"]+"/, 'ID="_evil"')
    .replace(">alice@acme.test<", ">mallory@acme.test<");
}

describe("signature wrapping (XSW)", () => {
  it("refuses an unsigned cloned Assertion before the signed one", async () => {
    await refused(
      verify(entra, {
        tamper: {
          responseAfterSigning: (x) =>
            x.replace("<saml:Assertion", `${evilClone(assertionOf(x))}<saml:Assertion`),
        },
      }),
      "assertion_count",
      /2 assertions/,
    );
  });

  it("refuses an unsigned cloned Assertion after the signed one", async () => {
    await refused(
      verify(entra, {
        tamper: {
          responseAfterSigning: (x) =>
            x.replace("</saml:Assertion>", `</saml:Assertion>${evilClone(assertionOf(x))}`),
        },
      }),
      "assertion_count",
    );
  });

  it("refuses the signed Assertion moved into samlp:Extensions with a forged one in its place", async () => {
    await refused(
      verify(entra, {
        tamper: {
          responseAfterSigning: (x) => {
            const signed = assertionOf(x);
            return x.replace(
              signed,
              `<samlp:Extensions>${signed}</samlp:Extensions>${evilClone(signed).replace('ID="_evil"', `ID="${/ID="([^"]+)"/.exec(signed)![1]}"`)}`,
            );
          },
        },
      }),
      "assertion_count",
    );
  });

  it("refuses an Assertion hidden in the Response signature's ds:Object", async () => {
    await refused(
      verify(okta, {
        tamper: {
          responseAfterSigning: (x) => {
            const clone = evilClone(assertionOf(x));
            const at = x.lastIndexOf("</ds:Signature>");
            return `${x.slice(0, at)}<ds:Object>${clone}</ds:Object>${x.slice(at)}`;
          },
        },
      }),
      "assertion_count",
    );
  });

  it("refuses two Assertions, both validly signed", async () => {
    const other = assertionOf(await entra.response(base(entra, { nameId: "mallory@acme.test" })));
    await refused(
      verify(entra, {
        tamper: { responseAfterSigning: (x) => x.replace("</samlp:Response>", `${other}</samlp:Response>`) },
      }),
      "assertion_count",
    );
  });

  it("refuses a signature whose Reference points at another element than the one it is in", async () => {
    await refused(
      verify(entra, {
        tamper: {
          responseAfterSigning: (x) => {
            const responseId = /<samlp:Response[^>]* ID="([^"]+)"/.exec(x)![1];
            const a = assertionOf(x);
            return x.replace(a, a.replace(/URI="#[^"]+"/, `URI="#${responseId}"`));
          },
        },
      }),
      "signature",
      /references another element/,
    );
  });

  it("refuses a signed Response whose Assertion was swapped for another validly signed one", async () => {
    const mallory = assertionOf(
      await okta.response(base(okta, { nameId: "mallory@acme.test", sign: "both" })),
    );
    await refused(
      verify(okta, {
        sign: "both",
        tamper: { responseAfterSigning: (x) => x.replace(assertionOf(x), mallory) },
      }),
      "signature",
      /altered after signing/,
    );
  });

  it("refuses a document where the signed element's ID occurs twice", async () => {
    await refused(
      verify(entra, {
        tamper: {
          responseAfterSigning: (x) => {
            const id = /<saml:Assertion[^>]* ID="([^"]+)"/.exec(x)![1];
            return x.replace(
              "<samlp:Status>",
              `<samlp:Extensions><x:Other xmlns:x="urn:x" ID="${id}"/></samlp:Extensions><samlp:Status>`,
            );
          },
        },
      }),
      "signature",
      /occurs 2 times/,
    );
  });
});

describe("comment injection", () => {
  it("reads victim@acme.test<!---->.evil.test as the whole text, never as the victim", async () => {
    for (const idp of [okta, entra]) {
      const facts = await verify(idp, {
        nameId: "victim@acme.test.evil.test",
        attributes: { email: ["victim@acme.test.evil.test"] },
        tamper: {
          responseAfterSigning: (x) =>
            x.replaceAll("victim@acme.test.evil.test", "victim@acme.test<!---->.evil.test"),
        },
      });
      // The signature still holds (c14n drops comments), and the value is read whole.
      expect(facts.nameId).toBe("victim@acme.test.evil.test");
      expect(facts.attributes.email).toEqual(["victim@acme.test.evil.test"]);
    }
  });
});

describe("conditions", () => {
  it("refuses a wrong or missing Audience", async () => {
    await refused(
      verify(okta, { audiences: ["https://other-sp.test"] }),
      "audience",
      /"https:\/\/other-sp.test" is not this SP/,
    );
    await refused(verify(okta, { audiences: null }), "audience", /no AudienceRestriction/);
  });

  it("refuses a wrong or missing Destination", async () => {
    await refused(
      verify(okta, { destination: "https://evil.test/acs" }),
      "destination",
      /is not this ACS URL/,
    );
    await refused(verify(okta, { destination: null }), "destination", /no Destination/);
  });

  it("refuses a wrong or missing Recipient", async () => {
    await refused(verify(okta, { recipient: "https://evil.test/acs" }), "recipient", /is not this ACS URL/);
    await refused(verify(okta, { recipient: null }), "recipient", /no Recipient/);
  });

  it("refuses a wrong Issuer on the Assertion or the Response, and a missing one on the Assertion", async () => {
    await refused(verify(okta, { assertionIssuer: "http://other-idp.test" }), "issuer", /Assertion's Issuer/);
    await refused(verify(okta, { responseIssuer: "http://other-idp.test" }), "issuer", /Response's Issuer/);
    await refused(verify(entra, { assertionIssuer: null }), "issuer", /no Issuer/);
    // A Response without its own Issuer is fine (it is optional there).
    expect((await verify(entra, { responseIssuer: null })).nameId).toBe("alice@acme.test");
  });

  it("refuses an expired Assertion, one not yet valid, and an expired SubjectConfirmation", async () => {
    await refused(
      verify(okta, { notOnOrAfter: new Date(NOW.getTime() - 2 * 60_000) }),
      "time",
      /Assertion has expired \(Conditions NotOnOrAfter/,
    );
    await refused(verify(okta, {}, { now: new Date(NOW.getTime() + 10 * 60_000) }), "time", /has expired/);
    await refused(verify(okta, { notBefore: new Date(NOW.getTime() + 2 * 60_000) }), "time", /not yet valid/);
    await refused(
      verify(okta, { confirmationNotOnOrAfter: new Date(NOW.getTime() - 2 * 60_000) }),
      "time",
      /SubjectConfirmation has expired/,
    );
    await refused(verify(okta, { confirmationNotOnOrAfter: null }), "time", /NotOnOrAfter is missing/);
    await refused(
      verify(okta, { issueInstant: new Date(NOW.getTime() + 5 * 60_000) }),
      "time",
      /in the future/,
    );
  });

  it("refuses InResponseTo missing, from another flow, or differing in the SubjectConfirmation", async () => {
    await refused(verify(okta, { inResponseTo: null }), "in_response_to", /no InResponseTo/);
    await refused(
      verify(okta, {}, { expectedInResponseTo: "_another_flow" }),
      "in_response_to",
      /the Response answers another AuthnRequest/,
    );
    await refused(
      verify(okta, { inResponseTo: "_another_flow", confirmationInResponseTo: REQUEST_ID }),
      "in_response_to",
      /the Response answers another AuthnRequest/,
    );
    await refused(
      verify(okta, { confirmationInResponseTo: "_another_flow" }),
      "in_response_to",
      /SubjectConfirmationData answers another/,
    );
  });

  it("refuses IdP-initiated sign-in when off, when older than 5 minutes, and a solicited Response without a flow", async () => {
    await refused(
      verify(okta, { inResponseTo: null }, { expectedInResponseTo: null }),
      "in_response_to",
      /IdP-initiated sign-in is off/,
    );
    await refused(
      verify(
        okta,
        {
          inResponseTo: null,
          notOnOrAfter: new Date(NOW.getTime() + 3_600_000),
          confirmationNotOnOrAfter: new Date(NOW.getTime() + 3_600_000),
        },
        { expectedInResponseTo: null, allowIdpInitiated: true, now: new Date(NOW.getTime() + 7 * 60_000) },
      ),
      "time",
      /more than 5 minutes/,
    );
    await refused(
      verify(okta, {}, { expectedInResponseTo: null, allowIdpInitiated: true }),
      "in_response_to",
      /no sign-in flow is bound/,
    );
  });

  it("refuses a Status other than Success with the IdP's codes and message, masking emails", async () => {
    const err = await refused(
      verify(okta, {
        status: {
          code: "urn:oasis:names:tc:SAML:2.0:status:Responder",
          subCode: "urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
          message: "AADSTS50105: The signed in user 'alice@acme.test' is not assigned to a role",
        },
      }),
      "status",
    );
    expect(err.cause).toBe(
      "the IdP answered urn:oasis:names:tc:SAML:2.0:status:Responder / urn:oasis:names:tc:SAML:2.0:status:RequestDenied: AADSTS50105: The signed in user '[email]' is not assigned to a role",
    );
  });
});

describe("encryption", () => {
  it("refuses other content algorithms than AES-GCM / AES-CBC and other key transport than RSA-OAEP", async () => {
    await refused(
      verify(adfs, { contentEncryption: "http://www.w3.org/2001/04/xmlenc#tripledes-cbc" }),
      "decryption",
      /tripledes-cbc/,
    );
    await refused(
      verify(adfs, { keyTransport: "http://www.w3.org/2001/04/xmlenc#rsa-1_5" }),
      "decryption",
      /rsa-1_5/,
    );
  });

  it("refuses a decrypted Assertion that holds another Assertion", async () => {
    await refused(
      verify(adfs, {
        tamper: {
          assertionAfterSigning: (x) =>
            x.replace(
              "<saml:AuthnStatement",
              `<saml:Advice>${evilClone(x)}</saml:Advice><saml:AuthnStatement`,
            ),
        },
      }),
      "assertion_count",
      /decrypted assertion holds 2/,
    );
  });

  it("refuses an EncryptedAssertion for another key", async () => {
    await refused(verify(adfs, { encryptFor: attacker.certificatePem }), "decryption", /does not decrypt/);
  });

  it("an encrypted but unsigned Assertion under an unsigned Response is refused", async () => {
    await refused(verify(adfs, { sign: "none" }), "signature", /neither/);
  });
});

describe("parsing the Response", () => {
  it("refuses a DOCTYPE, with or without entities, before parsing", async () => {
    const xml = await okta.response(base(okta));
    for (const doctype of [
      "<!DOCTYPE samlp:Response>",
      '<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/evil">]>',
    ]) {
      await refused(verifySamlResponse({ xml: `${doctype}${xml}` }, accept(okta)), "doctype");
    }
  });

  it("refuses a document whose root is not a samlp:Response", async () => {
    const xml = assertionOf(await entra.response(base(entra)));
    await refused(verifySamlResponse({ xml }, accept(entra)), "root", /not a samlp:Response/);
  });

  it("refuses a Response over 256 KB decoded, and base64 input too long for that", async () => {
    const padding = "x".repeat(260 * 1024);
    const big = await okta.responseBase64(base(okta, { attributes: { note: [padding] } }));
    await refused(verifySamlResponse({ samlResponse: big }, accept(okta)), "size");
  });
});

describe("what a refusal and a success tell", () => {
  it("causes and summaries carry names, never personal values or signatures", async () => {
    const facts = await verify(okta, {
      attributes: { email: ["alice@acme.test"], department: ["Secret Dept"] },
    });
    const summary = JSON.stringify(facts.summary);
    expect(summary).not.toContain("alice@acme.test");
    expect(summary).not.toContain("Secret Dept");
    expect(summary).not.toMatch(/SignatureValue|DigestValue|X509Certificate/);
    expect(facts.summary.assertion?.attributeNames).toEqual(["email", "department"]);
    expect(facts.summary.response).toMatchObject({
      destination: ACS,
      inResponseTo: REQUEST_ID,
      signed: true,
    });

    const err = await refused(
      verify(okta, { attributes: { email: ["alice@acme.test"] }, audiences: ["urn:wrong"] }),
      "audience",
    );
    expect(JSON.stringify(err)).not.toContain("alice@acme.test");
    expect(err.summary?.assertion?.attributeNames).toEqual(["email"]);
    expect(JSON.stringify(err.summary)).not.toContain("alice@acme.test");
  });
});
