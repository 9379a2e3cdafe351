/**
 * EncryptedAssertion (SPEC §12): decrypted with the SP key (the current one, then the next during a
 * rotation) by xml-encryption, after OUR algorithm allowlist — xml-encryption would also accept
 * RSA-PKCS#1 v1.5 key transport and 3DES once its "insecure" switch is off, which AES-CBC needs:
 *   content:        AES-128/256-GCM (xmlenc11), AES-128/256-CBC (xmlenc)
 *   key transport:  RSA-OAEP (xmlenc#rsa-oaep-mgf1p, xmlenc11#rsa-oaep)
 * Anything else, several EncryptedData, no EncryptedKey, or a key that does not open it is a
 * `decryption` refusal. The plaintext is parsed by the same safe parser as the Response (size cap,
 * no DOCTYPE, one root) and must be exactly one saml:Assertion.
 */
import type { Element } from "@xmldom/xmldom";
import { decrypt } from "xml-encryption";
import { SamlError } from "./errors.js";
import { attr, childElements, descendants, is, NS, parseSamlXml } from "./xml.js";

export const CONTENT_ALGORITHMS = new Set([
  "http://www.w3.org/2009/xmlenc11#aes128-gcm",
  "http://www.w3.org/2009/xmlenc11#aes256-gcm",
  "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
  "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
]);
export const KEY_TRANSPORT_ALGORITHMS = new Set([
  "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
  "http://www.w3.org/2009/xmlenc11#rsa-oaep",
]);

export interface DecryptedAssertion {
  /** The Assertion's XML as decrypted (its own document). */
  xml: string;
  assertion: Element;
  contentAlgorithm: string;
  keyTransportAlgorithm: string;
}

function methodAlgorithm(el: Element): string | null {
  const methods = childElements(el, NS.xenc, "EncryptionMethod");
  if (methods.length !== 1) return null;
  return attr(methods[0]!, "Algorithm");
}

export async function decryptAssertion(
  encryptedAssertion: Element,
  privateKeys: readonly string[],
): Promise<DecryptedAssertion> {
  const data = childElements(encryptedAssertion, NS.xenc, "EncryptedData");
  if (data.length !== 1) {
    throw new SamlError(
      "decryption",
      `the EncryptedAssertion has ${data.length} EncryptedData, expected one`,
    );
  }
  const contentAlgorithm = methodAlgorithm(data[0]!);
  if (!contentAlgorithm || !CONTENT_ALGORITHMS.has(contentAlgorithm)) {
    throw new SamlError(
      "decryption",
      `the assertion is encrypted with ${contentAlgorithm ?? "no algorithm"}; AES-GCM or AES-CBC is required`,
    );
  }
  const keys = descendants(encryptedAssertion, NS.xenc, "EncryptedKey");
  if (keys.length !== 1) {
    throw new SamlError("decryption", `the EncryptedAssertion has ${keys.length} EncryptedKey, expected one`);
  }
  const keyTransportAlgorithm = methodAlgorithm(keys[0]!);
  if (!keyTransportAlgorithm || !KEY_TRANSPORT_ALGORITHMS.has(keyTransportAlgorithm)) {
    throw new SamlError(
      "decryption",
      `the assertion's key is transported with ${keyTransportAlgorithm ?? "no algorithm"}; RSA-OAEP is required`,
    );
  }
  if (privateKeys.length === 0) throw new SamlError("decryption", "the connection has no SP decryption key");
  let xml: string | null = null;
  for (const key of privateKeys) {
    xml = await new Promise<string | null>((resolve) => {
      decrypt(
        encryptedAssertion,
        { key, disallowDecryptionWithInsecureAlgorithm: false, warnInsecureAlgorithm: false },
        (err, result) => resolve(err || typeof result !== "string" ? null : result),
      );
    });
    if (xml !== null) break;
  }
  if (xml === null)
    throw new SamlError("decryption", "the EncryptedAssertion does not decrypt with the SP key");
  const doc = parseSamlXml(xml);
  const assertion = doc.documentElement!;
  if (!is(assertion, NS.assertion, "Assertion")) {
    throw new SamlError(
      "decryption",
      `the EncryptedAssertion holds a ${assertion.localName}, not an Assertion`,
    );
  }
  return { xml, assertion, contentAlgorithm, keyTransportAlgorithm };
}
