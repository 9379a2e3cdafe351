// IdP metadata parsing, the SP metadata we publish, and the SP key pair with its rotation (SPEC §12).
import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { SamlError } from "../../src/sso/saml/errors.js";
import {
  beginRotation,
  certificateInfo,
  completeRotation,
  decryptionKeys,
  expiresSoon,
  generateSpKey,
  newKeyRing,
  normalizeCertificate,
  parseCertificateList,
} from "../../src/sso/saml/keys.js";
import { buildSpMetadata, manualIdpConfiguration, parseIdpMetadata } from "../../src/sso/saml/metadata.js";
import { NS, parseSamlXml } from "../../src/sso/saml/xml.js";
import { createSamlIdp, type SamlIdp } from "../support/saml-idp.js";

const NOW = new Date();
let idp: SamlIdp;

beforeAll(async () => {
  idp = await createSamlIdp({ profile: "okta", ssoUrl: "https://idp.test/app/sso/saml" });
});

function refusal(fn: () => unknown): SamlError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SamlError);
    return err as SamlError;
  }
  throw new Error("accepted");
}

describe("IdP metadata", () => {
  it("reads entity ID, the HTTP-Redirect SSO URL, SLO, certificates with expiry and WantAuthnRequestsSigned", () => {
    const m = parseIdpMetadata(idp.metadataXml({ wantAuthnRequestsSigned: true }), NOW);
    expect(m).toMatchObject({
      entityId: idp.entityId,
      ssoUrl: "https://idp.test/app/sso/saml",
      wantAuthnRequestsSigned: true,
      singleLogoutServices: [{ binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" }],
    });
    expect(m.signingCertificates).toHaveLength(1);
    const cert = m.signingCertificates[0]!;
    expect(cert.notAfter.getTime()).toBe(
      new Date(new X509Certificate(idp.certificates[0]!).validTo).getTime(),
    );
    expect(cert.expiresSoon).toBe(false);
    expect(m.nameIdFormats).toContain("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
    expect(parseIdpMetadata(idp.metadataXml(), NOW).wantAuthnRequestsSigned).toBe(false);
  });

  it("reads several signing certificates (an IdP rotation)", async () => {
    const rotating = await createSamlIdp();
    await rotating.rotate({ keepOld: true });
    const m = parseIdpMetadata(rotating.metadataXml(), NOW);
    expect(m.signingCertificates.map((c) => c.pem)).toEqual(rotating.certificates.map(normalizeCertificate));
  });

  it("flags a certificate that expires within 30 days", async () => {
    const info = certificateInfo(idp.certificates[0]!);
    expect(expiresSoon(info, NOW)).toBe(false);
    expect(expiresSoon(info, new Date(info.notAfter.getTime() - 29 * 86_400_000))).toBe(true);
    expect(expiresSoon(info, new Date(info.notAfter.getTime() - 31 * 86_400_000))).toBe(false);
    const short = await generateSpKey({ commonName: "short", validDays: 10 });
    expect(
      manualIdpConfiguration(
        { entityId: "x", ssoUrl: "https://x.test/sso", certificates: [short.certificatePem] },
        NOW,
      ).signingCertificates[0]!.expiresSoon,
    ).toBe(true);
  });

  it("refuses a DOCTYPE in metadata", () => {
    const xml = idp
      .metadataXml()
      .replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
      );
    expect(refusal(() => parseIdpMetadata(xml, NOW)).check).toBe("doctype");
  });

  it("refuses metadata without a Redirect SSO service, without a certificate, expired, or of an SP", () => {
    const noRedirect = idp
      .metadataXml()
      .replace(/<md:SingleSignOnService Binding="[^"]*HTTP-Redirect"[^>]*\/>/, "");
    expect(refusal(() => parseIdpMetadata(noRedirect, NOW)).cause).toMatch(/HTTP-Redirect/);
    const noCert = idp.metadataXml().replace(/<md:KeyDescriptor[\s\S]*<\/md:KeyDescriptor>/, "");
    expect(refusal(() => parseIdpMetadata(noCert, NOW)).cause).toMatch(/no signing certificate/);
    const expired = idp
      .metadataXml()
      .replace("<md:EntityDescriptor ", '<md:EntityDescriptor validUntil="2001-01-01T00:00:00Z" ');
    expect(refusal(() => parseIdpMetadata(expired, NOW)).cause).toMatch(/expired/);
    const sp = buildSpMetadata({
      entityId: "https://sp.test",
      acsUrl: "https://sp.test/acs",
      certificatePem: idp.certificates[0]!,
      wantAssertionsSigned: true,
      authnRequestsSigned: false,
    });
    expect(refusal(() => parseIdpMetadata(sp, NOW)).check).toBe("metadata");
  });

  it("reads a pasted list of several PEM certificates, and refuses anything else in it", async () => {
    const rotating = await createSamlIdp();
    await rotating.rotate({ keepOld: true });
    const [a, b] = rotating.certificates as [string, string];
    expect(parseCertificateList(`${a}\n\n${b}\n${a}`)).toEqual([
      normalizeCertificate(a),
      normalizeCertificate(b),
    ]);
    const key = (await generateSpKey({ commonName: "k" })).privateKeyPem;
    const err = refusal(() => parseCertificateList(`${a}\n${key}`));
    expect(err.check).toBe("certificate");
    expect(JSON.stringify(err)).not.toContain(key.split("\n")[1]);
    expect(refusal(() => parseCertificateList("")).check).toBe("certificate");
  });

  it("refuses a certificate that is not one", () => {
    expect(
      refusal(() => normalizeCertificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"))
        .check,
    ).toBe("certificate");
    expect(refusal(() => normalizeCertificate("hello")).check).toBe("certificate");
    expect(() =>
      manualIdpConfiguration(
        { entityId: "x", ssoUrl: "javascript:alert(1)", certificates: idp.certificates },
        NOW,
      ),
    ).toThrow(SamlError);
  });
});

describe("SP metadata and keys", () => {
  it("publishes entity ID, the HTTP-POST ACS, signing and encryption keys, and the next certificate in a rotation", async () => {
    const ring = await newKeyRing("https://sp.test/login/saml/c1/metadata");
    const rotating = await beginRotation(ring, "https://sp.test/login/saml/c1/metadata");
    const xml = buildSpMetadata({
      entityId: "https://sp.test/login/saml/c1/metadata",
      acsUrl: "https://sp.test/login/saml/c1/acs",
      certificatePem: rotating.current.certificatePem,
      nextCertificatePem: rotating.next!.certificatePem,
      wantAssertionsSigned: true,
      authnRequestsSigned: true,
    });
    const root = parseSamlXml(xml).documentElement!;
    expect(root.getAttribute("entityID")).toBe("https://sp.test/login/saml/c1/metadata");
    const acs = root.getElementsByTagNameNS(NS.metadata, "AssertionConsumerService")[0]!;
    expect(acs.getAttribute("Binding")).toBe("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST");
    expect(acs.getAttribute("Location")).toBe("https://sp.test/login/saml/c1/acs");
    const keys = Array.from(root.getElementsByTagNameNS(NS.metadata, "KeyDescriptor"));
    expect(keys.map((k) => k.getAttribute("use"))).toEqual([
      "signing",
      "signing",
      "encryption",
      "encryption",
    ]);
    const certs = Array.from(root.getElementsByTagNameNS(NS.ds, "X509Certificate")).map((c) =>
      normalizeCertificate(c.textContent ?? ""),
    );
    expect(certs).toEqual(
      [
        rotating.current.certificatePem,
        rotating.next!.certificatePem,
        rotating.current.certificatePem,
        rotating.next!.certificatePem,
      ].map(normalizeCertificate),
    );
    expect(decryptionKeys(rotating)).toEqual([ring.current.privateKeyPem, rotating.next!.privateKeyPem]);
    const done = completeRotation(rotating);
    expect(done).toEqual({ current: rotating.next, next: null });
    expect(() => completeRotation(done)).toThrow(SamlError);
  });

  it("generates a 2048-bit RSA key with a self-signed certificate that matches it", async () => {
    const key = await generateSpKey({ commonName: "https://sp.test/metadata" });
    const cert = new X509Certificate(key.certificatePem);
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(
      cert.checkPrivateKey(await import("node:crypto").then((c) => c.createPrivateKey(key.privateKeyPem))),
    ).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.subject).toContain("CN=https://sp.test/metadata");
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 9 * 365 * 86_400_000);
  });
});
