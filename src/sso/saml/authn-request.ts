/**
 * The AuthnRequest and the HTTP-Redirect binding (SAML Bindings §3.4; SPEC §12).
 *
 * `buildAuthnRequest` writes the request: ID (`_` + 160 random bits, see store.ts), IssueInstant,
 * Destination (the IdP's SSO URL), AssertionConsumerServiceURL + ProtocolBinding HTTP-POST,
 * Issuer (our entity ID), NameIDPolicy (AllowCreate), no RequestedAuthnContext unless configured.
 * `redirectUrl` deflates and base64-encodes it into `SAMLRequest`, adds `RelayState` (the §4 state
 * token) and, when the IdP wants signed requests, `SigAlg` + `Signature`: RSA-SHA256 with the SP
 * key over exactly `SAMLRequest=…&RelayState=…&SigAlg=…` as they appear URL-encoded in the query.
 * `verifyRedirectSignature` checks such a signature over the raw query (an IdP's view: the test
 * IdP double uses it, and SLO will, §16).
 */
import { createSign, createVerify } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { SamlError } from "./errors.js";
import { BINDINGS, escapeXml } from "./metadata.js";
import { ALGORITHMS } from "./signature.js";
import { MAX_SAML_XML_BYTES, NS } from "./xml.js";

export interface AuthnRequestInput {
  id: string;
  issueInstant: Date;
  /** The IdP's SingleSignOnService Location (HTTP-Redirect). */
  destination: string;
  acsUrl: string;
  spEntityId: string;
  nameIdFormat?: string | null;
  forceAuthn?: boolean;
  /** Sent only when the admin configured one. */
  requestedAuthnContext?: {
    comparison: "exact" | "minimum" | "maximum" | "better";
    classRefs: string[];
  } | null;
}

export function buildAuthnRequest(input: AuthnRequestInput): string {
  if (!/^[A-Za-z_][\w.-]*$/.test(input.id)) throw new TypeError("an AuthnRequest ID must be an xs:ID");
  const context = input.requestedAuthnContext
    ? `<samlp:RequestedAuthnContext Comparison="${input.requestedAuthnContext.comparison}">${input.requestedAuthnContext.classRefs
        .map((c) => `<saml:AuthnContextClassRef>${escapeXml(c)}</saml:AuthnContextClassRef>`)
        .join("")}</samlp:RequestedAuthnContext>`
    : "";
  const format = input.nameIdFormat ? ` Format="${escapeXml(input.nameIdFormat)}"` : "";
  return (
    `<samlp:AuthnRequest xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}"` +
    ` ID="${input.id}" Version="2.0" IssueInstant="${input.issueInstant.toISOString()}"` +
    ` Destination="${escapeXml(input.destination)}" AssertionConsumerServiceURL="${escapeXml(input.acsUrl)}"` +
    ` ProtocolBinding="${BINDINGS.post}"${input.forceAuthn ? ` ForceAuthn="true"` : ""}>` +
    `<saml:Issuer>${escapeXml(input.spEntityId)}</saml:Issuer>` +
    `<samlp:NameIDPolicy${format} AllowCreate="true"/>` +
    context +
    `</samlp:AuthnRequest>`
  );
}

export interface RedirectInput {
  /** The IdP's SSO URL; a query it already has (e.g. Google's `idpid`) is kept. */
  ssoUrl: string;
  requestXml: string;
  relayState?: string | null;
  /** The SP private key (PEM) when the IdP wants signed requests. */
  signingKeyPem?: string | null;
}

/** The URL the browser is redirected to (HTTP-Redirect binding). */
export function redirectUrl(input: RedirectInput): string {
  const samlRequest = deflateRawSync(Buffer.from(input.requestXml, "utf8")).toString("base64");
  let query = `SAMLRequest=${encodeURIComponent(samlRequest)}`;
  if (input.relayState) query += `&RelayState=${encodeURIComponent(input.relayState)}`;
  if (input.signingKeyPem) {
    query += `&SigAlg=${encodeURIComponent(ALGORITHMS.rsaSha256)}`;
    const signature = createSign("RSA-SHA256").update(query, "utf8").sign(input.signingKeyPem, "base64");
    query += `&Signature=${encodeURIComponent(signature)}`;
  }
  return `${input.ssoUrl}${input.ssoUrl.includes("?") ? "&" : "?"}${query}`;
}

/** The raw (still URL-encoded) value of one query parameter, exactly as sent; null if absent. */
function rawParam(rawQuery: string, name: string): string | null {
  const found = rawQuery.split("&").filter((p) => p.startsWith(`${name}=`));
  if (found.length > 1) throw new SamlError("input", `the query has ${found.length} ${name} parameters`);
  return found[0] === undefined ? null : found[0].slice(name.length + 1);
}

const REDIRECT_SIGNATURE_ALGORITHMS: Record<string, string> = {
  [ALGORITHMS.rsaSha256]: "RSA-SHA256",
  [ALGORITHMS.rsaSha384]: "RSA-SHA384",
  [ALGORITHMS.rsaSha512]: "RSA-SHA512",
};

export interface RedirectMessage {
  /** The inflated message XML (not yet parsed). */
  xml: string;
  relayState: string | null;
  /** `SigAlg` when the message was signed (and the signature verified, see below). */
  sigAlg: string | null;
}

/**
 * Reads an HTTP-Redirect message (`SAMLRequest` or `SAMLResponse`) from a raw query string: the
 * inflated XML (at most 256 KB), the RelayState, and — when `certificates` are given — refuses
 * it unless it carries a valid RSA-SHA256+ signature by one of them (`signature`).
 */
export function readRedirectMessage(
  rawQuery: string,
  options: { parameter?: "SAMLRequest" | "SAMLResponse"; certificates?: readonly string[] } = {},
): RedirectMessage {
  const parameter = options.parameter ?? "SAMLRequest";
  const message = rawParam(rawQuery, parameter);
  if (message === null) throw new SamlError("input", `the query has no ${parameter}`);
  const relay = rawParam(rawQuery, "RelayState");
  const sigAlg = rawParam(rawQuery, "SigAlg");
  const signature = rawParam(rawQuery, "Signature");
  if (options.certificates) {
    if (sigAlg === null || signature === null) throw new SamlError("signature", "the message is not signed");
    const algorithm = REDIRECT_SIGNATURE_ALGORITHMS[decodeURIComponent(sigAlg)];
    if (!algorithm)
      throw new SamlError("signature_algorithm", "the message's SigAlg is not RSA-SHA256 or stronger");
    const signed = `${parameter}=${message}${relay !== null ? `&RelayState=${relay}` : ""}&SigAlg=${sigAlg}`;
    const sig = Buffer.from(decodeURIComponent(signature), "base64");
    const ok = options.certificates.some((cert) =>
      createVerify(algorithm).update(signed, "utf8").verify(cert, sig),
    );
    if (!ok)
      throw new SamlError(
        "signature",
        "the redirect signature does not verify with any configured certificate",
      );
  }
  let xml: string;
  try {
    xml = inflateRawSync(Buffer.from(decodeURIComponent(message), "base64"), {
      maxOutputLength: MAX_SAML_XML_BYTES,
    }).toString("utf8");
  } catch {
    throw new SamlError("input", `the ${parameter} does not inflate (or inflates beyond 256 KB)`);
  }
  return {
    xml,
    relayState: relay === null ? null : decodeURIComponent(relay.replace(/\+/g, "%20")),
    sigAlg: sigAlg === null ? null : decodeURIComponent(sigAlg),
  };
}
