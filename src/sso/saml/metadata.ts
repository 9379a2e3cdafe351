/**
 * SAML metadata (SPEC §12): the IdP's, as the admin gives it (fetched from its URL by the kind
 * module through the SSRF guard, or pasted), parsed by the safe parser; and ours, the SP
 * metadata published at `/login/saml/<id>/metadata`.
 *
 * IdP metadata refusals are `metadata` (or `certificate` for a signing certificate that is not
 * an RSA X.509 certificate), with the element named: no DOCTYPE etc. as for every document, an
 * EntityDescriptor (or an EntitiesDescriptor holding exactly one IdP), an entityID, exactly one
 * IDPSSODescriptor for SAML 2.0, an HTTP-Redirect SingleSignOnService with an http(s) Location, at
 * least one signing certificate, a `validUntil` not in the past.
 */

import type { Element } from "@xmldom/xmldom";
import { SamlError } from "./errors.js";
import { type CertificateInfo, certificateBody, certificateInfo, expiresSoon } from "./keys.js";
import { attr, childElements, descendants, is, NS, parseSamlXml, textOf } from "./xml.js";

export const BINDINGS = {
  redirect: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
  post: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
} as const;

export const NAMEID_FORMATS = {
  persistent: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
  emailAddress: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
  unspecified: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
  transient: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
} as const;

export interface IdpCertificate extends CertificateInfo {
  /** Expired or expiring within 30 days (the flag on the settings page and in /metrics). */
  expiresSoon: boolean;
}

export interface IdpMetadata {
  entityId: string;
  /** SingleSignOnService, HTTP-Redirect binding. */
  ssoUrl: string;
  singleLogoutServices: { binding: string; location: string; responseLocation: string | null }[];
  signingCertificates: IdpCertificate[];
  wantAuthnRequestsSigned: boolean;
  nameIdFormats: string[];
  validUntil: Date | null;
}

function httpUrl(value: string | null, what: string): string {
  if (!value) throw new SamlError("metadata", `${what} has no Location`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SamlError("metadata", `${what}'s Location is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new SamlError("metadata", `${what}'s Location is not an http(s) URL`);
  }
  return value;
}

function isTrue(value: string | null): boolean {
  return value === "true" || value === "1";
}

/** Parses IdP metadata XML; `now` decides `validUntil` and the expiry flags. */
export function parseIdpMetadata(xml: string | Uint8Array, now: Date): IdpMetadata {
  const root = parseSamlXml(xml).documentElement!;
  let entity: Element;
  if (is(root, NS.metadata, "EntityDescriptor")) entity = root;
  else if (is(root, NS.metadata, "EntitiesDescriptor")) {
    const idps = descendants(root, NS.metadata, "EntityDescriptor").filter(
      (e) => childElements(e, NS.metadata, "IDPSSODescriptor").length > 0,
    );
    if (idps.length !== 1) {
      throw new SamlError(
        "metadata",
        `the EntitiesDescriptor holds ${idps.length} IdPs, expected exactly one`,
      );
    }
    entity = idps[0]!;
  } else {
    throw new SamlError("metadata", `the metadata's root is a ${root.localName}, not an EntityDescriptor`);
  }
  const entityId = attr(entity, "entityID")?.trim();
  if (!entityId) throw new SamlError("metadata", "the EntityDescriptor has no entityID");
  const validUntilRaw = attr(entity, "validUntil") ?? attr(root, "validUntil");
  let validUntil: Date | null = null;
  if (validUntilRaw !== null) {
    const t = Date.parse(validUntilRaw);
    if (!Number.isFinite(t)) throw new SamlError("metadata", "the metadata's validUntil is not a valid time");
    validUntil = new Date(t);
    if (t <= now.getTime())
      throw new SamlError("metadata", "the metadata has expired (validUntil is in the past)");
  }
  const descriptors = childElements(entity, NS.metadata, "IDPSSODescriptor").filter((d) =>
    (attr(d, "protocolSupportEnumeration") ?? "").split(/\s+/).includes(NS.protocol),
  );
  if (descriptors.length !== 1) {
    throw new SamlError(
      "metadata",
      `the metadata has ${descriptors.length} SAML 2.0 IDPSSODescriptor, expected one`,
    );
  }
  const idp = descriptors[0]!;
  const sso = childElements(idp, NS.metadata, "SingleSignOnService").find(
    (s) => attr(s, "Binding") === BINDINGS.redirect,
  );
  if (!sso)
    throw new SamlError("metadata", "the IdP has no SingleSignOnService with the HTTP-Redirect binding");
  const ssoUrl = httpUrl(attr(sso, "Location"), "the SingleSignOnService");
  const singleLogoutServices = childElements(idp, NS.metadata, "SingleLogoutService").map((s) => ({
    binding: attr(s, "Binding") ?? "",
    location: httpUrl(attr(s, "Location"), "a SingleLogoutService"),
    responseLocation: attr(s, "ResponseLocation"),
  }));
  const seen = new Set<string>();
  const signingCertificates: IdpCertificate[] = [];
  for (const kd of childElements(idp, NS.metadata, "KeyDescriptor")) {
    const use = attr(kd, "use");
    if (use !== null && use !== "signing") continue;
    for (const c of descendants(kd, NS.ds, "X509Certificate")) {
      const info = certificateInfo(textOf(c));
      if (seen.has(info.fingerprintSha256)) continue;
      seen.add(info.fingerprintSha256);
      signingCertificates.push({ ...info, expiresSoon: expiresSoon(info, now) });
    }
  }
  if (signingCertificates.length === 0)
    throw new SamlError("metadata", "the IdP metadata has no signing certificate");
  return {
    entityId,
    ssoUrl,
    singleLogoutServices,
    signingCertificates,
    wantAuthnRequestsSigned: isTrue(attr(idp, "WantAuthnRequestsSigned")),
    nameIdFormats: childElements(idp, NS.metadata, "NameIDFormat").map((n) => textOf(n).trim()),
    validUntil,
  };
}

/** The manual configuration (entity ID, SSO URL, PEM certificates) in the same shape. */
export function manualIdpConfiguration(
  input: {
    entityId: string;
    ssoUrl: string;
    certificates: readonly string[];
    wantAuthnRequestsSigned?: boolean;
  },
  now: Date,
): IdpMetadata {
  const entityId = input.entityId.trim();
  if (!entityId) throw new SamlError("metadata", "the IdP entity ID is empty");
  if (input.certificates.length === 0) throw new SamlError("certificate", "no IdP signing certificate");
  const signingCertificates = input.certificates.map((pem) => {
    const info = certificateInfo(pem);
    return { ...info, expiresSoon: expiresSoon(info, now) };
  });
  return {
    entityId,
    ssoUrl: httpUrl(input.ssoUrl, "the SSO URL"),
    singleLogoutServices: [],
    signingCertificates,
    wantAuthnRequestsSigned: input.wantAuthnRequestsSigned ?? false,
    nameIdFormats: [],
    validUntil: null,
  };
}

export function escapeXml(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

export interface SpMetadataInput {
  entityId: string;
  acsUrl: string;
  /** The current SP certificate (signs requests, decrypts). */
  certificatePem: string;
  /** During a rotation: the next certificate, published beside the current one. */
  nextCertificatePem?: string | null;
  wantAssertionsSigned: boolean;
  /** Whether our AuthnRequests are signed (when the IdP wants them signed). */
  authnRequestsSigned: boolean;
  nameIdFormats?: readonly string[];
  /** §16: the SP's SingleLogoutService (HTTP-Redirect), once it exists. */
  singleLogoutUrl?: string | null;
}

function keyDescriptor(use: "signing" | "encryption", pem: string): string {
  const encryptionMethods =
    use === "encryption"
      ? [
          "http://www.w3.org/2009/xmlenc11#aes256-gcm",
          "http://www.w3.org/2009/xmlenc11#aes128-gcm",
          "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
          "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        ]
          .map((a) => `<md:EncryptionMethod Algorithm="${a}"/>`)
          .join("")
      : "";
  return `<md:KeyDescriptor use="${use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certificateBody(pem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>${encryptionMethods}</md:KeyDescriptor>`;
}

/** Our SP metadata: entity ID, ACS (HTTP-POST), signing and encryption keys (next one too). */
export function buildSpMetadata(input: SpMetadataInput): string {
  const certs = [input.certificatePem, ...(input.nextCertificatePem ? [input.nextCertificatePem] : [])];
  const keys = [
    ...certs.map((c) => keyDescriptor("signing", c)),
    ...certs.map((c) => keyDescriptor("encryption", c)),
  ];
  const formats = (input.nameIdFormats ?? [NAMEID_FORMATS.persistent, NAMEID_FORMATS.emailAddress])
    .map((f) => `<md:NameIDFormat>${escapeXml(f)}</md:NameIDFormat>`)
    .join("");
  const slo = input.singleLogoutUrl
    ? `<md:SingleLogoutService Binding="${BINDINGS.redirect}" Location="${escapeXml(input.singleLogoutUrl)}"/>`
    : "";
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<md:EntityDescriptor xmlns:md="${NS.metadata}" xmlns:ds="${NS.ds}" entityID="${escapeXml(input.entityId)}">` +
    `<md:SPSSODescriptor AuthnRequestsSigned="${input.authnRequestsSigned}" WantAssertionsSigned="${input.wantAssertionsSigned}" protocolSupportEnumeration="${NS.protocol}">` +
    keys.join("") +
    slo +
    formats +
    `<md:AssertionConsumerService Binding="${BINDINGS.post}" Location="${escapeXml(input.acsUrl)}" index="0" isDefault="true"/>` +
    `</md:SPSSODescriptor></md:EntityDescriptor>\n`
  );
}
