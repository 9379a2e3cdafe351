/**
 * SAML Response acceptance (SPEC §12): `verifySamlResponse` turns the ACS's `SAMLResponse` into
 * the facts the IdP vouched for, or refuses it with a typed `SamlError {check, cause}`. Pure: no
 * database. The one-time rules (InResponseTo unused, Assertion ID never seen) are store.ts's
 * `settleSamlResponse`, run on the result; a route handler calls both.
 *
 * ## Design: who checks what
 * Library: xml-crypto 6.3 (node-saml's own signature library) for the enveloped XML signature,
 * xml-encryption 6 for EncryptedAssertion, @xmldom/xmldom 0.9.12 for our parsing. xml-crypto and
 * xml-encryption run on xmldom 0.8.15 (package.json overrides: 0.8.15 is the same-day backport of
 * 0.9.12's security fixes; xml-crypto 6.3 calls `parseFromString` without the MIME type 0.9
 * requires). Because two parsers see the message, nothing is trusted across them: the values are
 * read from xml-crypto's signed bytes, re-parsed by ours, and counted again there. Not node-saml itself:
 * its `validatePostResponseAsync` bundles its own cache for InResponseTo (in memory by default),
 * reads profile values with XPath over the document, and fixes policy we must set per connection.
 *
 * What xml-crypto checks (read in node_modules/xml-crypto/lib/signed-xml.js):
 *   - each Reference's digest over the referenced element after its transforms, and the
 *     SignatureValue over the canonical SignedInfo, with the key we give it; since 6.x it never
 *     takes a KeyInfo certificate unless `getCertFromKeyInfo` is given (we pass one returning null);
 *   - a Reference URI with a quote (XPath injection) and an ID carried by several elements
 *     (signature wrapping by ID duplication) are refused;
 *   - `getSignedReferences()` returns the canonical XML of what was digested: the only bytes
 *     that are authenticated.
 * What it does NOT check, so we do (each a SamlError with its own refusing test in
 * test/unit/saml-response.test.ts):
 *   xml.ts        no DOCTYPE/ENTITY (`doctype`), one root and nothing else (`root`), 256 KB
 *                 decoded and base64 length (`size`), UTF-8 only (`encoding`), well-formed (`xml`)
 *   here          the root is a samlp:Response version 2.0 (`root`); top-level StatusCode
 *                 Success, else the IdP's codes and message (`status`); exactly one Assertion or
 *                 EncryptedAssertion anywhere in the document — Extensions, ds:Object, inside
 *                 another Assertion all counted, any namespace — and it is a direct child of the
 *                 Response (`assertion_count`)
 *   signature.ts  the Signature is a direct child of the element it signs and its one Reference
 *                 points at THAT element's ID (`signature`); exactly enveloped + exclusive c14n
 *                 (`transforms`); RSA-SHA256+ and SHA-256+ unless SHA-1 is allowed, reported
 *                 (`signature_algorithm`, `digest_algorithm`); only configured certificates
 *   here          which signatures `samlSignatureRequired` demands (`signature`); values are read
 *                 from the SIGNED bytes: the Assertion's canonical signed XML when it is signed,
 *                 else the Assertion inside the Response's canonical signed XML — never looked
 *                 up again by ID or XPath in the received document (signature wrapping)
 *   decrypt.ts    AES-GCM/AES-CBC content and RSA-OAEP key transport only (`decryption`)
 *   here          Issuer = IdP entity ID on the Response (when present) and the Assertion
 *                 (`issuer`); Conditions with an AudienceRestriction, every one naming the SP
 *                 entity ID (`audience`); Destination present and = ACS URL (`destination`);
 *                 a bearer SubjectConfirmation whose Recipient = ACS URL (`recipient`) and whose
 *                 NotOnOrAfter is present; InResponseTo on the Response and the confirmation =
 *                 this flow's AuthnRequest ID, none at all for IdP-initiated, which must be
 *                 allowed (`in_response_to`); NotBefore / NotOnOrAfter / confirmation
 *                 NotOnOrAfter / IssueInstant within the connection's skew (≤ 300 s), and
 *                 IdP-initiated within 5 minutes of IssueInstant (`time`); a NameID (`subject`)
 *   store.ts      AuthnRequest ID used once (`in_response_to`), Assertion ID never seen before on
 *                 any node (`replay`), both in PostgreSQL in one transaction
 *
 * Comment injection: text is read with `textOf` (all text nodes; comments are not text), and the
 * signed bytes are exclusive c14n WITHOUT comments, so `victim@acme.test<!---->.evil.test` reads
 * as `victim@acme.test.evil.test`, never as `victim@acme.test`.
 *
 * Refusal causes name elements, attributes, algorithms, entity IDs, URLs and times — never a
 * NameID, an attribute value, a signature value or the XML; the IdP's StatusMessage is quoted
 * with anything like an email address masked.
 */
import type { Element } from "@xmldom/xmldom";
import { decryptAssertion } from "./decrypt.js";
import { SamlError } from "./errors.js";
import { type VerifiedSignature, verifyEnvelopedSignature } from "./signature.js";
import { type SamlTraceSummary, summarizeResponse, withDecryptedAssertion } from "./summary.js";
import {
  attr,
  childElements,
  decodeBase64Message,
  is,
  MAX_SAML_XML_BYTES,
  NS,
  optionalChild,
  parseSamlXml,
  requiredChild,
  textOf,
} from "./xml.js";

export type SignatureRequirement = "either" | "assertion" | "response" | "both";

export const DEFAULT_CLOCK_SKEW_SECONDS = 60;
export const MAX_CLOCK_SKEW_SECONDS = 300;
/** SPEC §12: an IdP-initiated Response only within 5 minutes of its IssueInstant. */
export const IDP_INITIATED_MAX_AGE_SECONDS = 300;

const STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const ENTITY_FORMAT = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";

export interface SamlAcceptanceOptions {
  idpEntityId: string;
  /** The IdP signing certificates configured on the connection (PEM). */
  idpCertificates: readonly string[];
  spEntityId: string;
  acsUrl: string;
  signatureRequired?: SignatureRequirement;
  allowSha1?: boolean;
  clockSkewSeconds?: number;
  /**
   * The AuthnRequest ID bound to this flow (from the §4 state in RelayState), or null when the
   * POST carries no flow: then only an IdP-initiated Response can pass, when allowed.
   */
  expectedInResponseTo: string | null;
  allowIdpInitiated?: boolean;
  /** SP private keys (PEM) for an EncryptedAssertion: the current one, then the next. */
  spDecryptionKeys?: readonly string[];
  now: Date;
}

export interface SamlAttributes {
  [name: string]: string[];
}

/** What the IdP vouched for, read from signed bytes only. */
export interface SamlAssertionFacts {
  nameId: string;
  nameIdFormat: string | null;
  attributes: SamlAttributes;
  sessionIndex: string | null;
  assertionId: string;
  issueInstant: Date;
  authnInstant: Date | null;
  /** Until when the Assertion ID must be remembered (the latest validity it claims, plus skew). */
  replayCacheUntil: Date;
  /** The InResponseTo it answered, null for IdP-initiated. */
  inResponseTo: string | null;
  idpInitiated: boolean;
  signed: { response: boolean; assertion: boolean };
  encrypted: boolean;
  algorithms: {
    signature: string[];
    digest: string[];
    /** SHA-1 was used and allowed: audit it. */
    sha1: boolean;
    encryption: { content: string; keyTransport: string } | null;
  };
  /** SHA-256 fingerprints of the configured certificates that verified the signatures. */
  certificates: string[];
  summary: SamlTraceSummary;
}

/** The connection's skew setting, validated (0…300 s, default 60). */
export function clockSkewSeconds(value: number | undefined | null): number {
  if (value === undefined || value === null) return DEFAULT_CLOCK_SKEW_SECONDS;
  if (!Number.isInteger(value) || value < 0 || value > MAX_CLOCK_SKEW_SECONDS) {
    throw new RangeError(`samlClockSkewSeconds must be an integer from 0 to ${MAX_CLOCK_SKEW_SECONDS}`);
  }
  return value;
}

/** `SAMLResponse` as posted (base64) or already decoded XML. */
export type SamlResponseInput = { samlResponse: string } | { xml: string | Uint8Array };

export async function verifySamlResponse(
  input: SamlResponseInput,
  options: SamlAcceptanceOptions,
): Promise<SamlAssertionFacts> {
  const bytes =
    "samlResponse" in input ? decodeBase64Message(input.samlResponse, MAX_SAML_XML_BYTES) : input.xml;
  const doc = parseSamlXml(bytes);
  const xml =
    typeof bytes === "string"
      ? bytes
      : Buffer.from(bytes)
          .toString("utf8")
          .replace(/^\uFEFF/, "");
  const root = doc.documentElement!;
  let summary = summarizeResponse(root);
  try {
    return await verifyParsed(xml, root, options, (s) => {
      summary = s;
    });
  } catch (err) {
    if (err instanceof SamlError) err.summary = summary;
    throw err;
  }
}

async function verifyParsed(
  xml: string,
  root: Element,
  options: SamlAcceptanceOptions,
  updateSummary: (s: SamlTraceSummary) => void,
): Promise<SamlAssertionFacts> {
  const skewMs = clockSkewSeconds(options.clockSkewSeconds) * 1000;
  const now = options.now.getTime();
  const requirement = options.signatureRequired ?? "either";
  const policy = { certificates: options.idpCertificates, allowSha1: options.allowSha1 ?? false };

  if (!is(root, NS.protocol, "Response")) {
    throw new SamlError("root", `the document is a ${root.localName ?? root.nodeName}, not a samlp:Response`);
  }
  if (attr(root, "Version") !== "2.0") throw new SamlError("root", "the Response is not SAML version 2.0");
  checkStatus(root);

  // Exactly one Assertion anywhere (any namespace, encrypted or not), directly under the Response.
  const all = [
    ...descendantsByLocalName(root, "Assertion"),
    ...descendantsByLocalName(root, "EncryptedAssertion"),
  ];
  if (all.length !== 1) {
    throw new SamlError(
      "assertion_count",
      `the document holds ${all.length} assertions, expected exactly one`,
    );
  }
  const received = all[0]!;
  if (received.parentNode !== root || received.namespaceURI !== NS.assertion) {
    throw new SamlError(
      "assertion_count",
      "the assertion is not a saml:Assertion directly under the Response",
    );
  }

  // The Response's signature; from here on the Response is read from its signed bytes if signed.
  const responseSignature = verifyEnvelopedSignature(xml, root, policy);
  if (!responseSignature && (requirement === "response" || requirement === "both")) {
    throw new SamlError(
      "signature",
      "the Response is not signed (this connection requires the Response's signature)",
    );
  }
  const response = responseSignature ? signedRoot(responseSignature, "Response") : root;
  if (responseSignature) checkStatus(response);

  // The Assertion as received in the (signed, when it is) Response, decrypted when encrypted.
  // (Counted again in the signed bytes: they were parsed by xml-crypto's own xmldom.)
  const inResponse = [
    ...descendantsByLocalName(response, "Assertion"),
    ...descendantsByLocalName(response, "EncryptedAssertion"),
  ];
  if (
    inResponse.length !== 1 ||
    inResponse[0]!.parentNode !== response ||
    inResponse[0]!.namespaceURI !== NS.assertion
  ) {
    throw new SamlError(
      "assertion_count",
      `the signed Response holds ${inResponse.length} assertions, expected one directly under it`,
    );
  }
  let assertionElement = inResponse[0]!;
  let assertionXml = xml;
  let encryption: SamlAssertionFacts["algorithms"]["encryption"] = null;
  if (is(assertionElement, NS.assertion, "EncryptedAssertion")) {
    const decrypted = await decryptAssertion(assertionElement, options.spDecryptionKeys ?? []);
    const nested = [
      ...descendantsByLocalName(decrypted.assertion, "Assertion"),
      ...descendantsByLocalName(decrypted.assertion, "EncryptedAssertion"),
    ];
    if (nested.length !== 1) {
      throw new SamlError(
        "assertion_count",
        `the decrypted assertion holds ${nested.length} assertions, expected one`,
      );
    }
    updateSummary(withDecryptedAssertion(summarizeResponse(root), decrypted.assertion));
    assertionElement = decrypted.assertion;
    assertionXml = decrypted.xml;
    encryption = { content: decrypted.contentAlgorithm, keyTransport: decrypted.keyTransportAlgorithm };
  } else if (responseSignature) {
    // Verify the Assertion's own signature on the received document (its digest covers the
    // element with that ID, which occurs once); the values are read from its signed bytes.
    assertionElement = received;
  }
  const assertionSignature = verifyEnvelopedSignature(assertionXml, assertionElement, policy);
  if (!assertionSignature && (requirement === "assertion" || requirement === "both")) {
    throw new SamlError(
      "signature",
      "the Assertion is not signed (this connection requires the Assertion's signature)",
    );
  }
  if (!assertionSignature && !responseSignature) {
    throw new SamlError("signature", "neither the Response nor the Assertion is signed");
  }
  let assertion: Element;
  if (assertionSignature) assertion = signedRoot(assertionSignature, "Assertion");
  else if (encryption)
    assertion = assertionElement; // decrypted from the signed Response's bytes
  else assertion = inResponse[0]!; // inside the Response's signed bytes
  if (attr(assertion, "Version") !== "2.0")
    throw new SamlError("root", "the Assertion is not SAML version 2.0");

  // Issuer: the Response's when present, the Assertion's always.
  const responseIssuer = optionalChild(response, NS.assertion, "Issuer", "issuer");
  if (responseIssuer) checkIssuer(responseIssuer, options.idpEntityId, "Response");
  checkIssuer(requiredChild(assertion, NS.assertion, "Issuer", "issuer"), options.idpEntityId, "Assertion");

  // Destination.
  const destination = attr(response, "Destination");
  if (destination === null) throw new SamlError("destination", "the Response has no Destination");
  if (destination !== options.acsUrl) {
    throw new SamlError(
      "destination",
      `the Response's Destination ${quote(destination)} is not this ACS URL`,
    );
  }

  // InResponseTo on the Response.
  const responseInResponseTo = attr(response, "InResponseTo");
  const expected = options.expectedInResponseTo;
  const idpInitiated = expected === null;
  if (idpInitiated) {
    if (!options.allowIdpInitiated) {
      throw new SamlError(
        "in_response_to",
        "the Response answers no AuthnRequest of this browser and IdP-initiated sign-in is off",
      );
    }
    if (responseInResponseTo !== null) {
      throw new SamlError(
        "in_response_to",
        "the Response names an AuthnRequest, but no sign-in flow is bound to this POST",
      );
    }
  } else if (responseInResponseTo === null) {
    throw new SamlError("in_response_to", "the Response has no InResponseTo");
  } else if (responseInResponseTo !== expected) {
    throw new SamlError("in_response_to", "the Response answers another AuthnRequest than this flow's");
  }

  // Times of the Assertion.
  const issueInstant = parseTime(attr(assertion, "IssueInstant"), "the Assertion's IssueInstant", true)!;
  if (issueInstant.getTime() > now + skewMs) {
    throw new SamlError("time", "the Assertion's IssueInstant is in the future beyond the clock skew");
  }
  if (idpInitiated && now - issueInstant.getTime() > IDP_INITIATED_MAX_AGE_SECONDS * 1000 + skewMs) {
    throw new SamlError("time", "the IdP-initiated Assertion was issued more than 5 minutes ago");
  }
  const conditions = optionalChild(assertion, NS.assertion, "Conditions", "audience");
  if (!conditions) throw new SamlError("audience", "the Assertion has no Conditions, so no Audience");
  const notBefore = parseTime(attr(conditions, "NotBefore"), "Conditions NotBefore", false);
  const notOnOrAfter = parseTime(attr(conditions, "NotOnOrAfter"), "Conditions NotOnOrAfter", false);
  if (notBefore && now + skewMs < notBefore.getTime()) {
    throw new SamlError(
      "time",
      "the Assertion is not yet valid (Conditions NotBefore beyond the clock skew)",
    );
  }
  if (notOnOrAfter && now - skewMs >= notOnOrAfter.getTime()) {
    throw new SamlError("time", "the Assertion has expired (Conditions NotOnOrAfter beyond the clock skew)");
  }

  // Audience: at least one restriction; each must name us.
  const restrictions = childElements(conditions, NS.assertion, "AudienceRestriction");
  if (restrictions.length === 0) throw new SamlError("audience", "the Assertion has no AudienceRestriction");
  for (const restriction of restrictions) {
    const audiences = childElements(restriction, NS.assertion, "Audience").map((a) => textOf(a).trim());
    if (audiences.length === 0) throw new SamlError("audience", "an AudienceRestriction has no Audience");
    if (!audiences.includes(options.spEntityId)) {
      throw new SamlError(
        "audience",
        `the Audience ${audiences.map(quote).join(", ")} is not this SP's entity ID`,
      );
    }
  }

  // Subject: NameID and a bearer confirmation for us.
  const subject = requiredChild(assertion, NS.assertion, "Subject", "subject");
  if (childElements(subject, NS.assertion, "EncryptedID").length > 0) {
    throw new SamlError("subject", "the Subject's NameID is encrypted (EncryptedID is not supported)");
  }
  const nameIdElement = requiredChild(subject, NS.assertion, "NameID", "subject");
  const nameId = textOf(nameIdElement).trim();
  if (!nameId) throw new SamlError("subject", "the NameID is empty");
  const confirmationUntil = checkSubjectConfirmation(subject, options, expected, now, skewMs);

  // Statements.
  const authnStatements = childElements(assertion, NS.assertion, "AuthnStatement");
  if (authnStatements.length === 0) throw new SamlError("subject", "the Assertion has no AuthnStatement");
  const authn = authnStatements[0]!;
  const attributes: SamlAttributes = {};
  for (const statement of childElements(assertion, NS.assertion, "AttributeStatement")) {
    for (const attribute of childElements(statement, NS.assertion, "Attribute")) {
      const name = attr(attribute, "Name");
      if (!name) continue;
      const values = childElements(attribute, NS.assertion, "AttributeValue").map((v) => textOf(v).trim());
      attributes[name] = [...(attributes[name] ?? []), ...values];
    }
  }

  const assertionId = attr(assertion, "ID");
  if (!assertionId) throw new SamlError("subject", "the Assertion has no ID");
  const latest = Math.max(
    notOnOrAfter?.getTime() ?? 0,
    confirmationUntil.getTime(),
    idpInitiated ? issueInstant.getTime() + IDP_INITIATED_MAX_AGE_SECONDS * 1000 : 0,
  );
  const signatures = [responseSignature, assertionSignature].filter((s): s is VerifiedSignature => !!s);
  const algorithms = {
    signature: signatures.map((s) => s.signatureAlgorithm),
    digest: signatures.map((s) => s.digestAlgorithm),
    sha1: signatures.some((s) => s.sha1),
    encryption,
  };
  let summary = summarizeResponse(root);
  if (encryption) summary = withDecryptedAssertion(summary, assertionElement);
  return {
    nameId,
    nameIdFormat: attr(nameIdElement, "Format"),
    attributes,
    sessionIndex: attr(authn, "SessionIndex"),
    assertionId,
    issueInstant,
    authnInstant: parseTime(attr(authn, "AuthnInstant"), "AuthnInstant", false),
    replayCacheUntil: new Date(latest + skewMs),
    inResponseTo: idpInitiated ? null : expected,
    idpInitiated,
    signed: { response: !!responseSignature, assertion: !!assertionSignature },
    encrypted: !!encryption,
    algorithms,
    certificates: [...new Set(signatures.map((s) => s.certificateFingerprint))],
    summary,
  };
}

/** The signed bytes as their own document: what the values are read from. */
function signedRoot(signature: VerifiedSignature, expected: "Response" | "Assertion"): Element {
  const root = parseSamlXml(signature.signedXml).documentElement!;
  const ns = expected === "Response" ? NS.protocol : NS.assertion;
  if (!is(root, ns, expected))
    throw new SamlError("signature", `the signature covers a ${root.localName}, not the ${expected}`);
  return root;
}

function checkStatus(response: Element): void {
  const status = requiredChild(response, NS.protocol, "Status", "status");
  const top = requiredChild(status, NS.protocol, "StatusCode", "status");
  const value = attr(top, "Value");
  if (value === STATUS_SUCCESS) return;
  const codes = [value ?? "(none)"];
  for (let sub = optionalChild(top, NS.protocol, "StatusCode", "status"); sub; ) {
    codes.push(attr(sub, "Value") ?? "(none)");
    sub = optionalChild(sub, NS.protocol, "StatusCode", "status");
  }
  const messageEl = optionalChild(status, NS.protocol, "StatusMessage", "status");
  const message = messageEl ? redactMessage(textOf(messageEl)) : "";
  throw new SamlError("status", `the IdP answered ${codes.join(" / ")}${message ? `: ${message}` : ""}`);
}

function checkIssuer(issuer: Element, expected: string, where: "Response" | "Assertion"): void {
  const format = attr(issuer, "Format");
  if (format !== null && format !== ENTITY_FORMAT) {
    throw new SamlError("issuer", `the ${where}'s Issuer has the Format ${quote(format)}, not an entity ID`);
  }
  const value = textOf(issuer).trim();
  if (value !== expected)
    throw new SamlError("issuer", `the ${where}'s Issuer ${quote(value)} is not the IdP entity ID`);
}

/** Checks the bearer SubjectConfirmation(s); returns its NotOnOrAfter. */
function checkSubjectConfirmation(
  subject: Element,
  options: SamlAcceptanceOptions,
  expected: string | null,
  now: number,
  skewMs: number,
): Date {
  const bearers = childElements(subject, NS.assertion, "SubjectConfirmation").filter(
    (c) => attr(c, "Method") === BEARER,
  );
  if (bearers.length === 0) throw new SamlError("recipient", "the Subject has no bearer SubjectConfirmation");
  let firstError: SamlError | null = null;
  for (const confirmation of bearers) {
    try {
      const data = optionalChild(confirmation, NS.assertion, "SubjectConfirmationData", "recipient");
      if (!data) throw new SamlError("recipient", "the SubjectConfirmation has no SubjectConfirmationData");
      const recipient = attr(data, "Recipient");
      if (recipient === null)
        throw new SamlError("recipient", "the SubjectConfirmationData has no Recipient");
      if (recipient !== options.acsUrl) {
        throw new SamlError(
          "recipient",
          `the SubjectConfirmationData Recipient ${quote(recipient)} is not this ACS URL`,
        );
      }
      const inResponseTo = attr(data, "InResponseTo");
      if (expected === null && inResponseTo !== null) {
        throw new SamlError(
          "in_response_to",
          "the SubjectConfirmationData names an AuthnRequest, but no flow is bound to this POST",
        );
      }
      if (expected !== null && inResponseTo !== null && inResponseTo !== expected) {
        throw new SamlError(
          "in_response_to",
          "the SubjectConfirmationData answers another AuthnRequest than this flow's",
        );
      }
      if (attr(data, "NotBefore") !== null) {
        throw new SamlError("time", "a bearer SubjectConfirmationData must not carry NotBefore");
      }
      const until = parseTime(attr(data, "NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter", true)!;
      if (now - skewMs >= until.getTime()) {
        throw new SamlError(
          "time",
          "the SubjectConfirmation has expired (NotOnOrAfter beyond the clock skew)",
        );
      }
      return until;
    } catch (err) {
      if (!(err instanceof SamlError)) throw err;
      firstError ??= err;
    }
  }
  throw firstError!;
}

const XS_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function parseTime(value: string | null, what: string, required: boolean): Date | null {
  if (value === null) {
    if (required) throw new SamlError("time", `${what} is missing`);
    return null;
  }
  const t = XS_DATETIME.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(t)) throw new SamlError("time", `${what} is not a valid xs:dateTime`);
  return new Date(t);
}

function descendantsByLocalName(root: Element, localName: string): Element[] {
  const out: Element[] = [];
  const stack: Element[] = [root];
  while (stack.length) {
    const el = stack.pop()!;
    if (el.localName === localName) out.push(el);
    stack.push(...childElements(el));
  }
  return out;
}

function withoutControls(value: string, replacement: string): string {
  let out = "";
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    out += code < 0x20 || code === 0x7f ? replacement : ch;
  }
  return out;
}

/** A value from the message in a cause: quoted, cut, control characters removed. */
function quote(value: string): string {
  const clean = withoutControls(value, "?");
  return JSON.stringify(clean.length > 200 ? `${clean.slice(0, 200)}…` : clean);
}

/** The IdP's StatusMessage may name the person: mask anything like an email address. */
function redactMessage(message: string): string {
  const clean = withoutControls(message, " ").replace(/\s+/g, " ").trim();
  const masked = clean.replace(/[^\s'"<>@]+@[^\s'"<>@]+/g, "[email]");
  return masked.length > 300 ? `${masked.slice(0, 300)}…` : masked;
}
