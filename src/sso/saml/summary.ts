/**
 * The redacted summary of a SAML Response for the connection trace (SPEC §17) and the §7 test
 * diagnostic: element names, entity IDs, URLs, IDs, times, algorithm URIs, the NameID's FORMAT
 * and the attribute NAMES. Never a NameID, an attribute value, a signature or digest value, a
 * certificate or the XML itself. Built from what the message claims (signed or not): it says
 * what arrived, not what was accepted.
 */
import type { Element } from "@xmldom/xmldom";
import { attr, childElements, descendants, NS, optionalChild } from "./xml.js";

export interface SamlTraceSummary {
  response: {
    id: string | null;
    issueInstant: string | null;
    destination: string | null;
    inResponseTo: string | null;
    issuer: string | null;
    statusCodes: string[];
    signed: boolean;
    elements: string[];
  } | null;
  assertion: {
    encrypted: boolean;
    id: string | null;
    issueInstant: string | null;
    issuer: string | null;
    signed: boolean;
    elements: string[];
    nameIdFormat: string | null;
    subjectConfirmations: {
      method: string | null;
      recipient: string | null;
      notOnOrAfter: string | null;
      inResponseTo: string | null;
    }[];
    conditions: { notBefore: string | null; notOnOrAfter: string | null; audiences: string[] } | null;
    authnContextClassRef: string | null;
    attributeNames: string[];
  } | null;
  algorithms: {
    signature: string[];
    digest: string[];
    encryption: { content: string | null; keyTransport: string | null } | null;
  };
}

const first = <T>(xs: T[]): T | null => xs[0] ?? null;
const short = (s: string | null): string | null =>
  s === null ? null : s.length > 300 ? `${s.slice(0, 300)}…` : s;

function issuerOf(el: Element): string | null {
  const issuer = first(childElements(el, NS.assertion, "Issuer"));
  return issuer ? short((issuer.textContent ?? "").trim()) : null;
}

function algorithmsUnder(el: Element, localName: string): string[] {
  return descendants(el, NS.ds, localName)
    .map((m) => attr(m, "Algorithm"))
    .filter((a): a is string => !!a);
}

export function summarizeAssertion(
  assertion: Element,
  encrypted: boolean,
): NonNullable<SamlTraceSummary["assertion"]> {
  const subject = first(childElements(assertion, NS.assertion, "Subject"));
  const nameId = subject ? first(childElements(subject, NS.assertion, "NameID")) : null;
  const conditions = first(childElements(assertion, NS.assertion, "Conditions"));
  const names = new Set<string>();
  for (const a of descendants(assertion, NS.assertion, "Attribute")) {
    const name = attr(a, "Name");
    if (name) names.add(short(name)!);
  }
  const classRef = first(descendants(assertion, NS.assertion, "AuthnContextClassRef"));
  return {
    encrypted,
    id: short(attr(assertion, "ID")),
    issueInstant: short(attr(assertion, "IssueInstant")),
    issuer: issuerOf(assertion),
    signed: childElements(assertion, NS.ds, "Signature").length > 0,
    elements: childElements(assertion).map((e) => e.localName ?? e.nodeName),
    nameIdFormat: nameId ? short(attr(nameId, "Format")) : null,
    subjectConfirmations: subject
      ? childElements(subject, NS.assertion, "SubjectConfirmation").map((sc) => {
          const data = first(childElements(sc, NS.assertion, "SubjectConfirmationData"));
          return {
            method: short(attr(sc, "Method")),
            recipient: data ? short(attr(data, "Recipient")) : null,
            notOnOrAfter: data ? short(attr(data, "NotOnOrAfter")) : null,
            inResponseTo: data ? short(attr(data, "InResponseTo")) : null,
          };
        })
      : [],
    conditions: conditions
      ? {
          notBefore: short(attr(conditions, "NotBefore")),
          notOnOrAfter: short(attr(conditions, "NotOnOrAfter")),
          audiences: descendants(conditions, NS.assertion, "Audience").map(
            (a) => short((a.textContent ?? "").trim())!,
          ),
        }
      : null,
    authnContextClassRef: classRef ? short((classRef.textContent ?? "").trim()) : null,
    attributeNames: [...names],
  };
}

export function summarizeResponse(root: Element): SamlTraceSummary {
  const isResponse = root.namespaceURI === NS.protocol && root.localName === "Response";
  const status = isResponse ? optionalChildSafe(root, NS.protocol, "Status") : null;
  const statusCodes: string[] = [];
  for (let code = status ? first(childElements(status, NS.protocol, "StatusCode")) : null; code; ) {
    statusCodes.push(short(attr(code, "Value")) ?? "");
    code = first(childElements(code, NS.protocol, "StatusCode"));
  }
  const assertion = first(childElements(root, NS.assertion, "Assertion"));
  const encrypted = first(childElements(root, NS.assertion, "EncryptedAssertion"));
  let encryption: SamlTraceSummary["algorithms"]["encryption"] = null;
  if (encrypted) {
    const data = first(descendants(encrypted, NS.xenc, "EncryptedData"));
    const key = first(descendants(encrypted, NS.xenc, "EncryptedKey"));
    const method = (el: Element | null) => {
      const m = el ? first(childElements(el, NS.xenc, "EncryptionMethod")) : null;
      return m ? short(attr(m, "Algorithm")) : null;
    };
    encryption = { content: method(data), keyTransport: method(key) };
  }
  return {
    response: isResponse
      ? {
          id: short(attr(root, "ID")),
          issueInstant: short(attr(root, "IssueInstant")),
          destination: short(attr(root, "Destination")),
          inResponseTo: short(attr(root, "InResponseTo")),
          issuer: issuerOf(root),
          statusCodes,
          signed: childElements(root, NS.ds, "Signature").length > 0,
          elements: childElements(root).map((e) => e.localName ?? e.nodeName),
        }
      : null,
    assertion: assertion
      ? summarizeAssertion(assertion, false)
      : encrypted
        ? { ...emptyAssertion(), encrypted: true }
        : null,
    algorithms: {
      signature: algorithmsUnder(root, "SignatureMethod"),
      digest: algorithmsUnder(root, "DigestMethod"),
      encryption,
    },
  };
}

function optionalChildSafe(el: Element, ns: string, localName: string): Element | null {
  try {
    return optionalChild(el, ns, localName);
  } catch {
    return null;
  }
}

function emptyAssertion(): NonNullable<SamlTraceSummary["assertion"]> {
  return {
    encrypted: false,
    id: null,
    issueInstant: null,
    issuer: null,
    signed: false,
    elements: [],
    nameIdFormat: null,
    subjectConfirmations: [],
    conditions: null,
    authnContextClassRef: null,
    attributeNames: [],
  };
}

/** After decryption: the summary learns what the EncryptedAssertion held. */
export function withDecryptedAssertion(summary: SamlTraceSummary, assertion: Element): SamlTraceSummary {
  return {
    ...summary,
    assertion: summarizeAssertion(assertion, true),
    algorithms: {
      ...summary.algorithms,
      signature: [...summary.algorithms.signature, ...algorithmsUnder(assertion, "SignatureMethod")],
      digest: [...summary.algorithms.digest, ...algorithmsUnder(assertion, "DigestMethod")],
    },
  };
}
