/**
 * A SAML 2.0 IdP test double: its own RSA key and certificate, metadata, and real signed (and
 * optionally encrypted) Responses made with xml-crypto and xml-encryption — the libraries real
 * IdP stacks use — in the shapes of the IdPs we meet:
 *   okta   Response AND Assertion signed, NameID emailAddress, attributes email/firstName/lastName
 *   entra  only the Assertion signed, NameID persistent, Entra's claim URIs as attribute names
 *   adfs   EncryptedAssertion (AES-256-CBC, RSA-OAEP) with the Assertion signed inside, ADFS's
 *          claim URIs
 * Every part of a Response can be set or left out (`ResponseOptions`), and `tamper` hooks edit
 * the XML before or after each signature, so the tests send the attacks themselves. On loopback,
 * `serve()` publishes `/metadata` and an `/sso` endpoint that reads a real HTTP-Redirect
 * AuthnRequest (verifying its signature when `wantAuthnRequestsSigned`) and answers with the
 * auto-submitting HTML form of the HTTP-POST binding.
 */
import { X509Certificate } from "node:crypto";
import type http from "node:http";
import { SignedXml } from "xml-crypto";
import { encrypt } from "xml-encryption";
import { readRedirectMessage } from "../../src/sso/saml/authn-request.js";
import { generateSpKey, type SpKey } from "../../src/sso/saml/keys.js";
import { escapeXml } from "../../src/sso/saml/metadata.js";
import { ALGORITHMS } from "../../src/sso/saml/signature.js";
import { NS, parseSamlXml } from "../../src/sso/saml/xml.js";
import { type LoopbackServer, startLoopbackServer } from "./loopback-server.js";

export type IdpProfile = "okta" | "entra" | "adfs";

export const ENTRA_CLAIMS = {
  email: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
  name: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
  givenName: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
  surname: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
  objectId: "http://schemas.microsoft.com/identity/claims/objectidentifier",
  tenantId: "http://schemas.microsoft.com/identity/claims/tenantid",
  upn: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
} as const;

const FORMAT = {
  email: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
  persistent: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
};

export interface ResponseOptions {
  /** The SP this Response is for. */
  acsUrl: string;
  spEntityId: string;
  /** null: IdP-initiated (no InResponseTo anywhere). */
  inResponseTo: string | null;
  nameId: string;
  nameIdFormat?: string;
  attributes?: Record<string, string[]>;
  now?: Date;
  /** Which signatures; default per profile. */
  sign?: "assertion" | "response" | "both" | "none";
  /** Encrypt the Assertion for this SP certificate; default per profile (adfs). */
  encryptFor?: string | null;
  contentEncryption?: string;
  keyTransport?: string;
  signatureAlgorithm?: string;
  digestAlgorithm?: string;
  /** Other transforms / SignedInfo canonicalization than enveloped + exclusive c14n. */
  transforms?: string[];
  canonicalization?: string;
  /** Sign with another key (an attacker's); `embedCertificate` puts its certificate in KeyInfo. */
  signingKey?: SpKey;
  /** Leave fields out or set them to other values. `undefined` = the right value. */
  destination?: string | null;
  recipient?: string | null;
  audiences?: string[] | null;
  responseIssuer?: string | null;
  assertionIssuer?: string | null;
  issueInstant?: Date;
  notBefore?: Date | null;
  notOnOrAfter?: Date | null;
  confirmationNotOnOrAfter?: Date | null;
  confirmationInResponseTo?: string | null;
  status?: { code: string; subCode?: string; message?: string };
  assertionId?: string;
  responseId?: string;
  sessionIndex?: string;
  tamper?: {
    /** The Assertion's XML before it is signed. */
    assertionBeforeSigning?: (xml: string) => string;
    /** The Assertion's XML after its signature (before encryption / embedding). */
    assertionAfterSigning?: (xml: string) => string;
    /** The Response's XML before it is signed. */
    responseBeforeSigning?: (xml: string) => string;
    /** The final XML. */
    responseAfterSigning?: (xml: string) => string;
  };
}

export interface SamlIdp {
  readonly profile: IdpProfile;
  readonly entityId: string;
  readonly key: SpKey;
  /** Certificates published in the metadata (the current one, plus any added for a rotation). */
  readonly certificates: string[];
  metadataXml(options?: { wantAuthnRequestsSigned?: boolean; ssoUrl?: string }): string;
  /** A Response as XML. */
  response(options: ResponseOptions): Promise<string>;
  /** The same, base64 as the HTTP-POST binding carries it. */
  responseBase64(options: ResponseOptions): Promise<string>;
  /** A new signing key (the IdP rotates): published beside the old one, or replacing it. */
  rotate(options?: { keepOld?: boolean }): Promise<void>;
}

let counter = 0;
const nextId = (prefix: string) =>
  `${prefix}${Date.now().toString(36)}${(++counter).toString(36)}${Math.random().toString(36).slice(2, 10)}`;

export async function createSamlIdp(
  options: { profile?: IdpProfile; entityId?: string; ssoUrl?: string } = {},
): Promise<SamlIdp> {
  const profile = options.profile ?? "okta";
  const entityId = options.entityId ?? `http://idp.test/${profile}/${nextId("e")}`;
  let key = await generateSpKey({ commonName: `${profile} test IdP` });
  const published: SpKey[] = [key];

  const sign = (
    xml: string,
    element: "Assertion" | "Response",
    o: ResponseOptions,
    signingKey: SpKey,
  ): string => {
    const signer = new SignedXml({
      privateKey: signingKey.privateKeyPem,
      publicCert: signingKey.certificatePem,
      signatureAlgorithm: o.signatureAlgorithm ?? ALGORITHMS.rsaSha256,
      canonicalizationAlgorithm: o.canonicalization ?? ALGORITHMS.excC14n,
    });
    const target = element === "Response" ? "/*[local-name(.)='Response']" : "/*[local-name(.)='Assertion']";
    signer.addReference({
      xpath: target,
      digestAlgorithm: o.digestAlgorithm ?? ALGORITHMS.sha256,
      transforms: o.transforms ?? [ALGORITHMS.enveloped, ALGORITHMS.excC14n],
    });
    signer.computeSignature(xml, {
      prefix: "ds",
      location: /<saml:Issuer/.test(xml.slice(0, xml.indexOf(">", xml.indexOf(element)) + 20))
        ? { reference: `${target}/*[local-name(.)='Issuer']`, action: "after" }
        : { reference: target, action: "prepend" },
    });
    return signer.getSignedXml();
  };

  const defaultSign = profile === "entra" || profile === "adfs" ? "assertion" : "both";

  const response = async (o: ResponseOptions): Promise<string> => {
    const now = o.now ?? new Date();
    const issueInstant = o.issueInstant ?? now;
    const signing = o.signingKey ?? key;
    const signWhat = o.sign ?? defaultSign;
    const assertionId = o.assertionId ?? nextId("_a");
    const responseId = o.responseId ?? nextId("_r");
    const at = (d: Date) => d.toISOString();
    const plus = (ms: number) => new Date(now.getTime() + ms);
    const notBefore = o.notBefore === undefined ? plus(-5_000) : o.notBefore;
    const notOnOrAfter = o.notOnOrAfter === undefined ? plus(5 * 60_000) : o.notOnOrAfter;
    const scdNotOnOrAfter =
      o.confirmationNotOnOrAfter === undefined ? plus(5 * 60_000) : o.confirmationNotOnOrAfter;
    const recipient = o.recipient === undefined ? o.acsUrl : o.recipient;
    const destination = o.destination === undefined ? o.acsUrl : o.destination;
    const audiences = o.audiences === undefined ? [o.spEntityId] : o.audiences;
    const responseIssuer = o.responseIssuer === undefined ? entityId : o.responseIssuer;
    const assertionIssuer = o.assertionIssuer === undefined ? entityId : o.assertionIssuer;
    const scdInResponseTo =
      o.confirmationInResponseTo === undefined ? o.inResponseTo : o.confirmationInResponseTo;
    const nameIdFormat = o.nameIdFormat ?? (profile === "okta" ? FORMAT.email : FORMAT.persistent);
    const status = o.status ?? { code: "urn:oasis:names:tc:SAML:2.0:status:Success" };

    const attrs = Object.entries(o.attributes ?? {})
      .map(
        ([name, values]) =>
          `<saml:Attribute Name="${escapeXml(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:${name.includes("://") ? "uri" : "basic"}">${values
            .map(
              (v) =>
                `<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">${escapeXml(v)}</saml:AttributeValue>`,
            )
            .join("")}</saml:Attribute>`,
      )
      .join("");
    let assertion =
      `<saml:Assertion xmlns:saml="${NS.assertion}" ID="${assertionId}" Version="2.0" IssueInstant="${at(issueInstant)}">` +
      (assertionIssuer !== null ? `<saml:Issuer>${escapeXml(assertionIssuer)}</saml:Issuer>` : "") +
      `<saml:Subject><saml:NameID Format="${nameIdFormat}">${escapeXml(o.nameId)}</saml:NameID>` +
      `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData` +
      (scdInResponseTo !== null ? ` InResponseTo="${escapeXml(scdInResponseTo)}"` : "") +
      (scdNotOnOrAfter !== null ? ` NotOnOrAfter="${at(scdNotOnOrAfter)}"` : "") +
      (recipient !== null ? ` Recipient="${escapeXml(recipient)}"` : "") +
      `/></saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions` +
      (notBefore !== null ? ` NotBefore="${at(notBefore)}"` : "") +
      (notOnOrAfter !== null ? ` NotOnOrAfter="${at(notOnOrAfter)}"` : "") +
      `>` +
      (audiences !== null
        ? `<saml:AudienceRestriction>${audiences.map((a) => `<saml:Audience>${escapeXml(a)}</saml:Audience>`).join("")}</saml:AudienceRestriction>`
        : "") +
      `</saml:Conditions>` +
      `<saml:AuthnStatement AuthnInstant="${at(issueInstant)}" SessionIndex="${escapeXml(o.sessionIndex ?? nextId("_s"))}">` +
      `<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
      (attrs ? `<saml:AttributeStatement>${attrs}</saml:AttributeStatement>` : "") +
      `</saml:Assertion>`;
    if (o.tamper?.assertionBeforeSigning) assertion = o.tamper.assertionBeforeSigning(assertion);
    if (signWhat === "assertion" || signWhat === "both") assertion = sign(assertion, "Assertion", o, signing);
    if (o.tamper?.assertionAfterSigning) assertion = o.tamper.assertionAfterSigning(assertion);
    const encryptFor = o.encryptFor === undefined ? null : o.encryptFor;
    if (encryptFor) {
      const publicKey = new X509Certificate(encryptFor).publicKey
        .export({ type: "spki", format: "pem" })
        .toString();
      const encrypted = await new Promise<string>((resolve, reject) =>
        encrypt(
          assertion,
          {
            rsa_pub: publicKey,
            pem: encryptFor,
            encryptionAlgorithm: o.contentEncryption ?? "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
            keyEncryptionAlgorithm: o.keyTransport ?? "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
            disallowEncryptionWithInsecureAlgorithm: false,
            warnInsecureAlgorithm: false,
          },
          (err, result) => (err || !result ? reject(err ?? new Error("no result")) : resolve(result)),
        ),
      );
      assertion = `<saml:EncryptedAssertion xmlns:saml="${NS.assertion}">${encrypted}</saml:EncryptedAssertion>`;
    }
    const statusXml =
      `<samlp:Status><samlp:StatusCode Value="${status.code}">` +
      (status.subCode ? `<samlp:StatusCode Value="${status.subCode}"/>` : "") +
      `</samlp:StatusCode>` +
      (status.message ? `<samlp:StatusMessage>${escapeXml(status.message)}</samlp:StatusMessage>` : "") +
      `</samlp:Status>`;
    let xml =
      `<samlp:Response xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${responseId}" Version="2.0" IssueInstant="${at(issueInstant)}"` +
      (destination !== null ? ` Destination="${escapeXml(destination)}"` : "") +
      (o.inResponseTo !== null ? ` InResponseTo="${escapeXml(o.inResponseTo)}"` : "") +
      `>` +
      (responseIssuer !== null ? `<saml:Issuer>${escapeXml(responseIssuer)}</saml:Issuer>` : "") +
      statusXml +
      (status.code.endsWith(":Success") ? assertion : "") +
      `</samlp:Response>`;
    if (o.tamper?.responseBeforeSigning) xml = o.tamper.responseBeforeSigning(xml);
    if (signWhat === "response" || signWhat === "both") xml = sign(xml, "Response", o, signing);
    if (o.tamper?.responseAfterSigning) xml = o.tamper.responseAfterSigning(xml);
    return xml;
  };

  const idp: SamlIdp = {
    profile,
    entityId,
    get key() {
      return key;
    },
    get certificates() {
      return published.map((k) => k.certificatePem);
    },
    metadataXml(m = {}) {
      const certs = published
        .map(
          (k) =>
            `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${k.certificatePem
              .replace(/-----(BEGIN|END) CERTIFICATE-----/g, "")
              .replace(/\s+/g, "")}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
        )
        .join("");
      const sso = m.ssoUrl ?? options.ssoUrl ?? "http://127.0.0.1:9/sso";
      return (
        `<?xml version="1.0" encoding="UTF-8"?>` +
        `<md:EntityDescriptor xmlns:md="${NS.metadata}" xmlns:ds="${NS.ds}" entityID="${escapeXml(entityId)}">` +
        `<md:IDPSSODescriptor WantAuthnRequestsSigned="${m.wantAuthnRequestsSigned ?? false}" protocolSupportEnumeration="${NS.protocol}">` +
        certs +
        `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeXml(sso.replace(/sso$/, "slo"))}"/>` +
        `<md:NameIDFormat>${FORMAT.email}</md:NameIDFormat><md:NameIDFormat>${FORMAT.persistent}</md:NameIDFormat>` +
        `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${escapeXml(sso)}"/>` +
        `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeXml(sso)}"/>` +
        `</md:IDPSSODescriptor></md:EntityDescriptor>`
      );
    },
    response,
    async responseBase64(o) {
      return Buffer.from(await response(o), "utf8").toString("base64");
    },
    async rotate(r = {}) {
      key = await generateSpKey({ commonName: `${profile} test IdP (rotated)` });
      if (!r.keepOld) published.length = 0;
      published.push(key);
    },
  };
  return idp;
}

/** What the loopback IdP's /sso endpoint saw of each AuthnRequest. */
export interface SeenAuthnRequest {
  id: string;
  acsUrl: string | null;
  issuer: string | null;
  destination: string | null;
  relayState: string | null;
  signed: boolean;
  xml: string;
}

export interface ServedSamlIdp extends SamlIdp {
  readonly server: LoopbackServer;
  readonly metadataUrl: string;
  readonly ssoUrl: string;
  readonly requests: SeenAuthnRequest[];
  /** Who signs in at /sso next (and with which attributes, options). */
  setUser(user: { nameId: string; attributes?: Record<string, string[]> } & Partial<ResponseOptions>): void;
  /** When set, /sso refuses requests that are not signed by one of these SP certificates. */
  requireSignedRequests(spCertificates: string[] | null): void;
  close(): Promise<void>;
}

/** The double on loopback: `/metadata`, `/sso` (HTTP-Redirect in, HTTP-POST form out). */
export async function serveSamlIdp(options: {
  profile?: IdpProfile;
  /** The SP's entity ID (the audience); default: the Issuer of each AuthnRequest. */
  spEntityId?: string;
  spEncryptionCertificate?: string | null;
}): Promise<ServedSamlIdp> {
  let user: ({ nameId: string } & Partial<ResponseOptions>) | null = null;
  let spCertificates: string[] | null = null;
  const requests: SeenAuthnRequest[] = [];
  let idp: SamlIdp | null = null;
  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/metadata") {
      res.setHeader("content-type", "application/samlmetadata+xml");
      res.end(idp!.metadataXml({ wantAuthnRequestsSigned: spCertificates !== null, ssoUrl }));
      return;
    }
    if (url.pathname === "/sso") {
      try {
        const raw = (req.url ?? "").split("?")[1] ?? "";
        const message = readRedirectMessage(raw, spCertificates ? { certificates: spCertificates } : {});
        const request = parseSamlXml(message.xml).documentElement!;
        const issuer = request.getElementsByTagNameNS(NS.assertion, "Issuer")[0];
        const seen: SeenAuthnRequest = {
          id: request.getAttribute("ID") ?? "",
          acsUrl: request.getAttribute("AssertionConsumerServiceURL"),
          issuer: issuer?.textContent ?? null,
          destination: request.getAttribute("Destination"),
          relayState: message.relayState,
          signed: message.sigAlg !== null,
          xml: message.xml,
        };
        requests.push(seen);
        if (!user || !seen.acsUrl) throw new Error("no user signs in");
        const samlResponse = await idp!.responseBase64({
          acsUrl: seen.acsUrl,
          spEntityId: options.spEntityId ?? seen.issuer ?? "",
          inResponseTo: seen.id,
          encryptFor: options.spEncryptionCertificate ?? null,
          ...user,
        });
        res.setHeader("content-type", "text/html; charset=utf-8");
        res.end(
          `<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="${escapeXml(seen.acsUrl)}">` +
            `<input type="hidden" name="SAMLResponse" value="${samlResponse}">` +
            (seen.relayState !== null
              ? `<input type="hidden" name="RelayState" value="${escapeXml(seen.relayState)}">`
              : "") +
            `<noscript><button type="submit">Continue</button></noscript></form></body></html>`,
        );
      } catch (err) {
        res.statusCode = 400;
        res.end(err instanceof Error ? err.message : "bad request");
      }
      return;
    }
    res.statusCode = 404;
    res.end();
  };
  const server = await startLoopbackServer((req, res) => {
    void handler(req, res);
  });
  const ssoUrl = `${server.origin}/sso`;
  idp = await createSamlIdp({ profile: options.profile, ssoUrl });
  const base = idp;
  return {
    get profile() {
      return base.profile;
    },
    get entityId() {
      return base.entityId;
    },
    get key() {
      return base.key;
    },
    get certificates() {
      return base.certificates;
    },
    metadataXml: (m) => base.metadataXml({ ssoUrl, ...m }),
    response: base.response,
    responseBase64: base.responseBase64,
    rotate: base.rotate,
    server,
    metadataUrl: `${server.origin}/metadata`,
    ssoUrl,
    requests,
    setUser(u) {
      user = u;
    },
    requireSignedRequests(certs) {
      spCertificates = certs;
    },
    close: () => server.close(),
  };
}
