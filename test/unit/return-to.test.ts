// The one returnTo rule of the server and the pages (src/shared/return-to.ts; SPEC §4 step 2,
// RFC 9700 §4.11): only a normalised path on the agency's own origin comes out.
import { describe, expect, it } from "vitest";
import { isNormalReturnTo, RETURN_TO_MAX_LENGTH, safeReturnTo } from "../../src/shared/return-to.js";

const ORIGIN = "https://acme.example.com";

describe("safeReturnTo", () => {
  it.each([
    ["/", "/"],
    ["/dashboard", "/dashboard"],
    ["/settings/sso?test=abc&x=1#section", "/settings/sso?test=abc&x=1#section"],
    ["/a/b/../c", "/a/c"],
    ["/a/./b", "/a/b"],
    ["/search?q=caf%C3%A9", "/search?q=caf%C3%A9"],
    ["/path%20with%20spaces", "/path%20with%20spaces"],
    ["/a%2Fb", "/a%2Fb"],
    ["/100%25", "/100%25"],
    ["/a//b", "/a//b"],
    // Non-ASCII is percent-encoded (UTF-8), so it always fits in a Location header.
    ["/日本", "/%E6%97%A5%E6%9C%AC"],
    ["/search?q=日本#章", "/search?q=%E6%97%A5%E6%9C%AC#%E7%AB%A0"],
    ["/café", "/caf%C3%A9"],
  ])("accepts %j as %j", (value, normalised) => {
    expect(safeReturnTo(value, ORIGIN)).toBe(normalised);
    expect(isNormalReturnTo(normalised)).toBe(true);
  });

  it.each([
    "",
    "dashboard",
    "./dashboard",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/a\\b",
    "https://evil.example",
    "https://acme.example.com/dashboard", // absolute, even on the same origin: only paths
    "http:evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    " /dashboard",
    "/dash board",
    // Browsers drop tabs and newlines from URLs: each of these becomes //evil.example.
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\r\n/evil.example",
    "/\tevil.example",
    "/dashboard\t",
    "/\u0000/evil.example",
    "/\u007f/evil.example",
    "/\u0085evil",
    "/\u2028evil",
    "/\u2029evil",
    // Encoded variants: decoding (once or more) must not reveal //, \ or a control character.
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0D%0A/evil.example",
    "/%0d%0aSet-Cookie:x=1",
    "/%2F%2Fevil.example",
    "/%2f%2fevil.example",
    "/%2Fevil.example",
    "/%5Cevil.example",
    "/%5cevil.example",
    "/%252F%252Fevil.example",
    "/%25252F%25252Fevil.example",
    "/%2525252525252F%2525252525252Fevil.example",
    // Dot segments that resolve to a network-path reference.
    "/.//evil.example",
    "/..//evil.example",
    "/a/..//evil.example",
    "/%2E//evil.example",
    "/.%2F/evil.example",
    // Sign-in pages: returning there after signing in would loop.
    "/login",
    "/login?returnTo=/x",
    "/login/2fa",
    "/a/../login",
    `/${"a".repeat(RETURN_TO_MAX_LENGTH)}`,
  ])("refuses %j", (value) => {
    expect(safeReturnTo(value, ORIGIN)).toBeNull();
  });

  it("accepts exactly 2048 characters, and refuses what normalisation makes longer", () => {
    expect(safeReturnTo(`/${"a".repeat(RETURN_TO_MAX_LENGTH - 1)}`, ORIGIN)).toHaveLength(
      RETURN_TO_MAX_LENGTH,
    );
    expect(safeReturnTo(`/${"日".repeat(700)}`, ORIGIN)).toBeNull(); // 9 characters each once encoded
  });

  it("refuses non-strings and a bad origin", () => {
    for (const value of [undefined, null, 42, ["/a"], { toString: () => "/a" }]) {
      expect(safeReturnTo(value, ORIGIN)).toBeNull();
    }
    expect(safeReturnTo("/a", "not an origin")).toBeNull();
  });

  it("gives the same answer whatever the agency's origin", () => {
    for (const origin of [ORIGIN, "http://acme.localhost:3000", "https://[::1]:8443"]) {
      expect(safeReturnTo("/x/../日本?a=1", origin)).toBe("/%E6%97%A5%E6%9C%AC?a=1");
      expect(safeReturnTo("/\t/evil.example", origin)).toBeNull();
    }
  });

  it("isNormalReturnTo holds only for what safeReturnTo returns unchanged", () => {
    expect(isNormalReturnTo("/dashboard")).toBe(true);
    expect(isNormalReturnTo("/日本")).toBe(false);
    expect(isNormalReturnTo("/a/../b")).toBe(false);
    expect(isNormalReturnTo("//evil.example")).toBe(false);
    expect(isNormalReturnTo(undefined)).toBe(false);
  });
});
