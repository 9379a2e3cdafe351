// The safe parser every SAML document goes through (SPEC §12): no DTD at all, one root, 256 KB,
// UTF-8 only; and the text reader that never truncates at a comment.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SamlError } from "../../src/sso/saml/errors.js";
import { decodeBase64Message, MAX_SAML_XML_BYTES, parseSamlXml, textOf } from "../../src/sso/saml/xml.js";
import { type LoopbackServer, startLoopbackServer } from "../support/loopback-server.js";

function refusal(fn: () => unknown): SamlError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SamlError);
    return err as SamlError;
  }
  throw new Error("the document was accepted");
}

let outside: LoopbackServer;
let fetched = 0;
beforeAll(async () => {
  outside = await startLoopbackServer((_req, res) => {
    fetched++;
    res.end("<!ENTITY leak 'secret'>");
  });
});
afterAll(async () => {
  await outside.close();
});

describe("parseSamlXml", () => {
  it("parses a plain document", () => {
    const doc = parseSamlXml('<?xml version="1.0" encoding="UTF-8"?><a xmlns="urn:x"><b>1</b></a>');
    expect(doc.documentElement?.localName).toBe("a");
  });

  it("refuses a billion-laughs document before expanding anything", () => {
    const lol = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>`;
    expect(refusal(() => parseSamlXml(lol)).check).toBe("doctype");
  });

  it("refuses an external entity and fetches nothing", () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % ext SYSTEM "${outside.origin}/evil.dtd"> %ext;<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>`;
    expect(refusal(() => parseSamlXml(xxe))).toMatchObject({ check: "doctype" });
    expect(fetched).toBe(0);
  });

  it("refuses a DOCTYPE without entities, in any case, and a lone ENTITY declaration", () => {
    expect(refusal(() => parseSamlXml("<!DOCTYPE r><r/>")).check).toBe("doctype");
    expect(refusal(() => parseSamlXml("<!doctype r><r/>")).check).toBe("doctype");
    expect(refusal(() => parseSamlXml('<r><![CDATA[x]]><!ENTITY x "y"></r>')).check).toBe("doctype");
  });

  it("refuses two roots, text or a processing instruction outside the root, and no root", () => {
    expect(refusal(() => parseSamlXml("<a/><b/>")).check).toMatch(/^(root|xml)$/);
    expect(refusal(() => parseSamlXml("<a/>trailing")).check).toMatch(/^(root|xml)$/);
    expect(refusal(() => parseSamlXml('<?xml-stylesheet href="x"?><a/>')).check).toBe("root");
    expect(refusal(() => parseSamlXml("   ")).check).toMatch(/^(root|xml)$/);
  });

  it("refuses malformed XML and an unbound prefix", () => {
    expect(refusal(() => parseSamlXml("<a><b></a>")).check).toBe("xml");
    expect(refusal(() => parseSamlXml("<p:a/>")).check).toBe("xml");
  });

  it("refuses elements nested deeper than 64 levels", () => {
    expect(parseSamlXml(`${"<a>".repeat(64)}${"</a>".repeat(64)}`).documentElement?.localName).toBe("a");
    const deep = `${"<a>".repeat(20_000)}${"</a>".repeat(20_000)}`;
    expect(refusal(() => parseSamlXml(deep))).toMatchObject({
      check: "xml",
      cause: expect.stringMatching(/deeper than 64/),
    });
  });

  it("refuses a document over 256 KB", () => {
    const big = `<a>${"x".repeat(MAX_SAML_XML_BYTES)}</a>`;
    expect(refusal(() => parseSamlXml(big)).check).toBe("size");
    expect(refusal(() => parseSamlXml(Buffer.from(big))).check).toBe("size");
  });

  it("refuses non-UTF-8: invalid bytes, UTF-16, another declared encoding, NUL", () => {
    expect(
      refusal(() => parseSamlXml(Buffer.from([0x3c, 0x61, 0x3e, 0xc3, 0x28, 0x3c, 0x2f, 0x61, 0x3e]))).check,
    ).toBe("encoding");
    expect(refusal(() => parseSamlXml(Buffer.from("\ufeff<a/>", "utf16le"))).check).toBe("encoding");
    expect(refusal(() => parseSamlXml('<?xml version="1.0" encoding="UTF-7"?><a/>')).check).toBe("encoding");
    expect(refusal(() => parseSamlXml('<?xml version="1.0" encoding="ISO-8859-1"?><a/>')).check).toBe(
      "encoding",
    );
    expect(refusal(() => parseSamlXml("<a>\u0000</a>")).check).toBe("encoding");
    // A UTF-8 byte-order mark is fine.
    expect(parseSamlXml(Buffer.from("\ufeff<a/>", "utf8")).documentElement?.localName).toBe("a");
  });
});

describe("decodeBase64Message", () => {
  it("decodes base64 with MIME line breaks", () => {
    const b64 = Buffer.from("<a/>".repeat(40)).toString("base64");
    const wrapped = b64.replace(/(.{76})/g, "$1\r\n");
    expect(decodeBase64Message(wrapped).toString()).toBe("<a/>".repeat(40));
  });

  it("refuses input too long for 256 KB before decoding it, and what is not base64", () => {
    expect(refusal(() => decodeBase64Message("A".repeat(400 * 1024))).check).toBe("size");
    expect(refusal(() => decodeBase64Message("not base64!")).check).toBe("input");
    expect(refusal(() => decodeBase64Message("")).check).toBe("input");
  });
});

describe("textOf", () => {
  it("reads all the text, around comments and CDATA, never the first node only", () => {
    const doc = parseSamlXml("<n>victim@acme.test<!---->.evil.test</n>");
    expect(textOf(doc.documentElement!)).toBe("victim@acme.test.evil.test");
    const cdata = parseSamlXml("<n>victim@acme.test<![CDATA[.evil]]>.test</n>");
    expect(textOf(cdata.documentElement!)).toBe("victim@acme.test.evil.test");
    const nested = parseSamlXml("<n>a<?pi x?><b>b<c>c</c></b>d<!--x-->e</n>");
    expect(textOf(nested.documentElement!)).toBe("abcde");
  });
});
