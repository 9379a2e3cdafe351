/**
 * Enveloped XML signature verification for SAML (SPEC §12), on xml-crypto.
 *
 * `verifyEnvelopedSignature(documentXml, element, policy)` checks the `ds:Signature` that is a
 * direct child of `element` (the Response or the Assertion) and returns the canonical XML of what
 * was signed — the bytes that were digested — which the caller parses and reads its values from.
 * Our checks before xml-crypto runs (each a typed refusal):
 *   - at most one Signature child; exactly one SignedInfo, one Reference (`signature`);
 *   - the Reference's URI is `#` + the ID of the very element the Signature sits in, and that ID
 *     occurs once in the document (any of ID/Id/id, any namespace) (`signature`);
 *   - CanonicalizationMethod exclusive c14n without comments; the Reference's transforms exactly
 *     enveloped-signature then exclusive c14n (InclusiveNamespaces allowed) (`transforms`);
 *   - SignatureMethod RSA-SHA256/384/512 (RSA-SHA1 only with `allowSha1`) (`signature_algorithm`)
 *     and DigestMethod SHA-256/384/512 (SHA-1 only with `allowSha1`) (`digest_algorithm`); a SHA-1
 *     that was allowed is reported in the result so the caller can audit it.
 * Then xml-crypto with ONLY the configured certificates (`getCertFromKeyInfo` returns null, so a
 * KeyInfo in the message is never used), one certificate after the other (several during an IdP
 * rotation): digest check of the reference (altered content → `signature`), signature value over
 * the canonical SignedInfo (a key we do not know → `signature`).
 */
import { createHash } from "node:crypto";
import type { Element } from "@xmldom/xmldom";
import { SignedXml } from "xml-crypto";
import { SamlError } from "./errors.js";
import { attr, childElements, NS, optionalChild, requiredChild } from "./xml.js";

export const ALGORITHMS = {
  rsaSha1: "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
  rsaSha256: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
  rsaSha384: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
  rsaSha512: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
  sha1: "http://www.w3.org/2000/09/xmldsig#sha1",
  sha256: "http://www.w3.org/2001/04/xmlenc#sha256",
  sha384: "http://www.w3.org/2001/04/xmldsig-more#sha384",
  sha512: "http://www.w3.org/2001/04/xmlenc#sha512",
  excC14n: "http://www.w3.org/2001/10/xml-exc-c14n#",
  enveloped: "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
} as const;

const STRONG_SIGNATURE = new Set<string>([ALGORITHMS.rsaSha256, ALGORITHMS.rsaSha384, ALGORITHMS.rsaSha512]);
const STRONG_DIGEST = new Set<string>([ALGORITHMS.sha256, ALGORITHMS.sha384, ALGORITHMS.sha512]);

export interface SignaturePolicy {
  /** The IdP's signing certificates as configured (PEM). Never one from the message. */
  certificates: readonly string[];
  allowSha1: boolean;
}

export interface VerifiedSignature {
  /** The canonical XML of the signed element, signature removed: read values from this only. */
  signedXml: string;
  signatureAlgorithm: string;
  digestAlgorithm: string;
  /** SHA-1 was used (and allowed): to be audited. */
  sha1: boolean;
  /** SHA-256 fingerprint of the configured certificate that verified it. */
  certificateFingerprint: string;
}

const ID_ATTRIBUTES = new Set(["ID", "Id", "id"]);

/** How many elements of the document carry `id` in an ID/Id/id attribute (any namespace). */
function countIds(root: Element, id: string): number {
  let count = 0;
  const stack: Element[] = [root];
  while (stack.length) {
    const el = stack.pop()!;
    for (let i = 0; i < el.attributes.length; i++) {
      const a = el.attributes.item(i)!;
      if (ID_ATTRIBUTES.has(a.localName ?? a.name) && a.value === id) count++;
    }
    stack.push(...childElements(el));
  }
  return count;
}

function algorithmOf(el: Element, check: "signature_algorithm" | "digest_algorithm" | "transforms"): string {
  const value = attr(el, "Algorithm");
  if (!value) throw new SamlError(check, `${el.localName} has no Algorithm`);
  return value;
}

/** The Signature child of `element`, or null when it is not signed. */
export function signatureOf(element: Element): Element | null {
  return optionalChild(element, NS.ds, "Signature", "signature");
}

export function verifyEnvelopedSignature(
  documentXml: string,
  element: Element,
  policy: SignaturePolicy,
): VerifiedSignature | null {
  const signature = signatureOf(element);
  if (!signature) return null;
  const what = element.localName;
  const signedInfo = requiredChild(signature, NS.ds, "SignedInfo", "signature");
  const c14n = algorithmOf(
    requiredChild(signedInfo, NS.ds, "CanonicalizationMethod", "transforms"),
    "transforms",
  );
  if (c14n !== ALGORITHMS.excC14n) {
    throw new SamlError(
      "transforms",
      `the ${what} signature's CanonicalizationMethod is ${c14n}, expected exclusive c14n`,
    );
  }
  const signatureAlgorithm = algorithmOf(
    requiredChild(signedInfo, NS.ds, "SignatureMethod", "signature_algorithm"),
    "signature_algorithm",
  );
  const sha1Signature = signatureAlgorithm === ALGORITHMS.rsaSha1;
  if (!STRONG_SIGNATURE.has(signatureAlgorithm) && !(sha1Signature && policy.allowSha1)) {
    throw new SamlError(
      "signature_algorithm",
      `the ${what} is signed with ${signatureAlgorithm}; RSA-SHA256 or stronger is required${sha1Signature ? " (SHA-1 is not allowed on this connection)" : ""}`,
    );
  }
  const references = childElements(signedInfo, NS.ds, "Reference");
  if (references.length !== 1) {
    throw new SamlError(
      "signature",
      `the ${what} signature has ${references.length} references, expected exactly one`,
    );
  }
  const reference = references[0]!;
  const id = attr(element, "ID");
  if (!id) throw new SamlError("signature", `the signed ${what} has no ID`);
  if (attr(reference, "URI") !== `#${id}`) {
    throw new SamlError(
      "signature",
      `the ${what} signature references another element than the ${what} it is in`,
    );
  }
  const root = element.ownerDocument?.documentElement ?? element;
  const occurrences = countIds(root, id);
  if (occurrences !== 1) {
    throw new SamlError("signature", `the ${what}'s ID occurs ${occurrences} times in the document`);
  }
  const transformsEl = requiredChild(reference, NS.ds, "Transforms", "transforms");
  const transforms = childElements(transformsEl).map((t) => {
    if (t.namespaceURI !== NS.ds || t.localName !== "Transform") {
      throw new SamlError("transforms", `the ${what} signature's Transforms holds a ${t.localName}`);
    }
    return algorithmOf(t, "transforms");
  });
  if (
    transforms.length !== 2 ||
    transforms[0] !== ALGORITHMS.enveloped ||
    transforms[1] !== ALGORITHMS.excC14n
  ) {
    throw new SamlError(
      "transforms",
      `the ${what} signature's transforms are [${transforms.join(", ")}], expected exactly enveloped-signature and exclusive c14n`,
    );
  }
  const digestAlgorithm = algorithmOf(
    requiredChild(reference, NS.ds, "DigestMethod", "digest_algorithm"),
    "digest_algorithm",
  );
  const sha1Digest = digestAlgorithm === ALGORITHMS.sha1;
  if (!STRONG_DIGEST.has(digestAlgorithm) && !(sha1Digest && policy.allowSha1)) {
    throw new SamlError(
      "digest_algorithm",
      `the ${what}'s digest is ${digestAlgorithm}; SHA-256 or stronger is required${sha1Digest ? " (SHA-1 is not allowed on this connection)" : ""}`,
    );
  }
  if (policy.certificates.length === 0) {
    throw new SamlError("signature", "the connection has no IdP signing certificate");
  }
  for (const certificate of policy.certificates) {
    const verifier = new SignedXml({ publicCert: certificate, getCertFromKeyInfo: () => null });
    let valid: boolean;
    try {
      // xml-crypto is typed against lib.dom's Node, xmldom has its own (structurally the same)
      // declarations: the one bridge between the two type worlds.
      verifier.loadSignature(signature as unknown as globalThis.Node);
      valid = verifier.checkSignature(documentXml);
    } catch (err) {
      const message = err instanceof Error ? err.message : "";
      if (message.startsWith("invalid signature: the signature value")) continue; // another key
      throw new SamlError("signature", `the ${what} signature cannot be checked (${safeReason(message)})`);
    }
    if (!valid) {
      throw new SamlError("signature", `the ${what}'s digest does not match: it was altered after signing`);
    }
    const signed = verifier.getSignedReferences();
    if (signed.length !== 1 || !signed[0]) {
      throw new SamlError(
        "signature",
        `the ${what} signature covers ${signed.length} elements, expected one`,
      );
    }
    return {
      signedXml: signed[0],
      signatureAlgorithm,
      digestAlgorithm,
      sha1: sha1Signature || sha1Digest,
      certificateFingerprint: fingerprint(certificate),
    };
  }
  throw new SamlError(
    "signature",
    `the ${what} signature does not verify with any configured IdP certificate`,
  );
}

function fingerprint(pem: string): string {
  const der = Buffer.from(
    pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, ""),
    "base64",
  );
  return createHash("sha256").update(der).digest("hex");
}

/** xml-crypto's messages may quote digest or signature values: keep only the kind of failure. */
function safeReason(message: string): string {
  if (/multiple elements with the same value for the ID/.test(message)) return "duplicated ID";
  if (/could not find such element/.test(message)) return "the referenced element is missing";
  if (/is not supported/.test(message)) return "unsupported algorithm";
  return "malformed signature";
}
