/**
 * Safe XML for SAML (SPEC §12): every document from outside — a Response, IdP metadata, a
 * decrypted Assertion — goes through `parseSamlXml`, which refuses before any DOM exists:
 *   - a decoded document over 256 KB (`size`), base64 input too long for that (`size`);
 *   - anything but UTF-8: an invalid byte sequence, a UTF-16/32 byte-order mark, an XML
 *     declaration naming another encoding, a NUL (`encoding`);
 *   - any DOCTYPE or ENTITY declaration at all (`doctype`): no DTD means no entity expansion
 *     (billion laughs), no external entity (XXE, no outbound fetch: xmldom never fetches, and we
 *     stop before it could read a DTD);
 * and after parsing (xmldom 0.9 with every warning and error fatal) refuses more than one root,
 * text or processing instructions outside the root (`root`), and malformed XML (`xml`).
 *
 * The DOM helpers match elements by namespace URI AND local name (never by prefix, never by
 * XPath over the whole document), and `textOf` reads the full text of an element: comments are
 * not text, so `user@evil.com<!---->.acme.com` reads as `user@evil.com.acme.com` (never the
 * first text node only, the comment-injection truncation of CVE-2017-11427 and its family).
 */
import { DOMParser, type Document, type Element, type Node } from "@xmldom/xmldom";
import { SamlError } from "./errors.js";

export const NS = {
  protocol: "urn:oasis:names:tc:SAML:2.0:protocol",
  assertion: "urn:oasis:names:tc:SAML:2.0:assertion",
  metadata: "urn:oasis:names:tc:SAML:2.0:metadata",
  ds: "http://www.w3.org/2000/09/xmldsig#",
  xenc: "http://www.w3.org/2001/04/xmlenc#",
  xenc11: "http://www.w3.org/2009/xmlenc11#",
} as const;

/** Deeper element nesting is refused (see parseSamlXml). */
export const MAX_DEPTH = 64;

/** SPEC §12: the decoded document at most 256 KB. */
export const MAX_SAML_XML_BYTES = 256 * 1024;

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;
const PROCESSING_INSTRUCTION_NODE = 7;
const DOCUMENT_TYPE_NODE = 10;

/**
 * Decodes a base64 message (the `SAMLResponse` form field) to its bytes, refusing input that
 * cannot be a document within `maxBytes` before decoding it, and anything that is not base64.
 */
export function decodeBase64Message(input: string, maxBytes = MAX_SAML_XML_BYTES): Buffer {
  // Line breaks (MIME style, 76 columns) are allowed; the raw input is bounded first so a huge
  // field costs nothing but this comparison.
  const maxEncoded = Math.ceil(maxBytes / 3) * 4;
  if (input.length > maxEncoded + Math.ceil(maxEncoded / 64) * 2 + 8) {
    throw new SamlError(
      "size",
      `the base64 message is ${input.length} characters, over the limit for ${maxBytes} bytes`,
    );
  }
  const compact = input.replace(/[\r\n\t ]+/g, "");
  if (compact.length === 0) throw new SamlError("input", "the message is empty");
  if (compact.length > maxEncoded) {
    throw new SamlError(
      "size",
      `the base64 message is ${compact.length} characters, over the limit for ${maxBytes} bytes`,
    );
  }
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) {
    throw new SamlError("input", "the message is not valid base64");
  }
  const bytes = Buffer.from(compact, "base64");
  if (bytes.length > maxBytes) {
    throw new SamlError(
      "size",
      `the decoded document is ${bytes.length} bytes, over the ${maxBytes}-byte limit`,
    );
  }
  return bytes;
}

/** Bytes (or a string already decoded) to the document text, UTF-8 only. */
function toUtf8Text(input: string | Uint8Array, maxBytes: number): string {
  let text: string;
  if (typeof input === "string") {
    const size = Buffer.byteLength(input, "utf8");
    if (size > maxBytes) {
      throw new SamlError("size", `the document is ${size} bytes, over the ${maxBytes}-byte limit`);
    }
    text = input;
  } else {
    if (input.length > maxBytes) {
      throw new SamlError("size", `the document is ${input.length} bytes, over the ${maxBytes}-byte limit`);
    }
    const b = input;
    if ((b[0] === 0xfe && b[1] === 0xff) || (b[0] === 0xff && b[1] === 0xfe) || (b[0] === 0 && b[1] === 0)) {
      throw new SamlError("encoding", "the document is not UTF-8 (UTF-16 or UTF-32 byte order)");
    }
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(b);
    } catch {
      throw new SamlError("encoding", "the document is not valid UTF-8");
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.includes("\u0000")) throw new SamlError("encoding", "the document contains a NUL character");
  const declaration = /^<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']/.exec(text);
  if (declaration && declaration[1]!.toLowerCase() !== "utf-8" && declaration[1]!.toLowerCase() !== "utf8") {
    throw new SamlError("encoding", "the XML declaration names an encoding other than UTF-8");
  }
  return text;
}

export interface ParseOptions {
  maxBytes?: number;
}

/**
 * Parses an untrusted SAML document (bytes or text) with every refusal above. The returned
 * document has exactly one root element.
 */
export function parseSamlXml(input: string | Uint8Array, options: ParseOptions = {}): Document {
  const text = toUtf8Text(input, options.maxBytes ?? MAX_SAML_XML_BYTES);
  // No DTD of any kind: checked on the text, before the parser could see one.
  if (/<!DOCTYPE/i.test(text)) throw new SamlError("doctype", "the document has a DOCTYPE");
  if (/<!ENTITY/i.test(text)) throw new SamlError("doctype", "the document declares an entity");
  let doc: Document;
  try {
    doc = new DOMParser({
      onError: (level, message) => {
        throw new SamlError("xml", `the XML is not well-formed (${level}${location(message)})`);
      },
    }).parseFromString(text, "text/xml");
  } catch (err) {
    if (err instanceof SamlError) throw err;
    // xmldom wraps what onError throws in a ParseError; keep only the position.
    const message = err instanceof Error ? err.message : "";
    const inner = findSamlError(err);
    if (inner) throw inner;
    throw new SamlError("xml", `the XML is not well-formed${location(message)}`);
  }
  let roots = 0;
  for (let n = doc.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === DOCUMENT_TYPE_NODE) throw new SamlError("doctype", "the document has a DOCTYPE");
    if (n.nodeType === ELEMENT_NODE) roots++;
    else if (n.nodeType === PROCESSING_INSTRUCTION_NODE && (n as { target?: string }).target !== "xml") {
      throw new SamlError("root", "the document has a processing instruction outside its root");
    } else if (
      (n.nodeType === TEXT_NODE || n.nodeType === CDATA_SECTION_NODE) &&
      (n.nodeValue ?? "").trim()
    ) {
      throw new SamlError("root", "the document has text outside its root element");
    }
  }
  if (roots !== 1 || !doc.documentElement) {
    throw new SamlError("root", `the document has ${roots} root elements, expected exactly one`);
  }
  // A SAML message nests about ten deep; a hostile one thousands deep would exhaust the stack of
  // the recursive canonicalization in xml-crypto (a crash, not a refusal).
  const stack: [Element, number][] = [[doc.documentElement, 1]];
  while (stack.length) {
    const [el, depth] = stack.pop()!;
    if (depth > MAX_DEPTH)
      throw new SamlError("xml", `the document nests elements deeper than ${MAX_DEPTH} levels`);
    for (const child of childElements(el)) stack.push([child, depth + 1]);
  }
  return doc;
}

function findSamlError(err: unknown): SamlError | null {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    if (e instanceof SamlError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

function location(message: string): string {
  const m = /line:(\d+),col:(\d+)/.exec(message);
  return m ? ` at line ${m[1]}, column ${m[2]}` : "";
}

export function isElement(node: Node | null | undefined): node is Element {
  return !!node && node.nodeType === ELEMENT_NODE;
}

export function is(el: Element, ns: string, localName: string): boolean {
  return el.namespaceURI === ns && el.localName === localName;
}

/** The element children of `el` with that namespace and local name, in document order. */
export function childElements(el: Element, ns?: string, localName?: string): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (!isElement(n)) continue;
    if (ns !== undefined && localName !== undefined && !is(n, ns, localName)) continue;
    out.push(n);
  }
  return out;
}

/** The one child `ns:localName` of `el`, null when there is none; two of them are refused. */
export function optionalChild(
  el: Element,
  ns: string,
  localName: string,
  check: import("./errors.js").SamlCheck = "xml",
): Element | null {
  const found = childElements(el, ns, localName);
  if (found.length > 1)
    throw new SamlError(check, `${el.localName} has ${found.length} ${localName} elements`);
  return found[0] ?? null;
}

export function requiredChild(
  el: Element,
  ns: string,
  localName: string,
  check: import("./errors.js").SamlCheck = "xml",
): Element {
  const found = optionalChild(el, ns, localName, check);
  if (!found) throw new SamlError(check, `${el.localName} has no ${localName}`);
  return found;
}

/** Every element `ns:localName` under `root` (root included), anywhere, in document order. */
export function descendants(root: Element, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  const stack: Element[] = [root];
  while (stack.length) {
    const el = stack.pop()!;
    if (is(el, ns, localName)) out.push(el);
    const kids = childElements(el);
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
  return out;
}

/**
 * The full text of an element: every text and CDATA node under it, in order; comments and
 * processing instructions are not text. Never the first text node only.
 */
export function textOf(el: Element): string {
  let out = "";
  // Document order without recursion: each node, then its children, then its next sibling.
  const stack: Node[] = [];
  for (let n = el.lastChild; n; n = n.previousSibling) stack.push(n);
  while (stack.length) {
    const n = stack.pop()!;
    if (n.nodeType === TEXT_NODE || n.nodeType === CDATA_SECTION_NODE) out += n.nodeValue ?? "";
    else if (n.nodeType === ELEMENT_NODE) {
      for (let c = n.lastChild; c; c = c.previousSibling) stack.push(c);
    }
    // Comments and processing instructions are not text.
  }
  return out;
}

/** The attribute's value, or null when absent (xmldom returns "" for both). */
export function attr(el: Element, name: string): string | null {
  return el.hasAttribute(name) ? el.getAttribute(name) : null;
}
