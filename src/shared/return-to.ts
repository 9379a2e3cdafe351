/**
 * Where to go after signing in (`returnTo`): ONE rule for the server (SSO start, password and
 * 2FA answers, Cloudflare Access) and the pages (web/src/router.tsx). Dependency-free on purpose:
 * the pages import it at run time through Vite, the server through Node.
 *
 * SPEC §4 step 2 ("returnTo accepts same-site relative paths only"); RFC 9700 §4.11 (open
 * redirectors). A value is accepted only when it is a path on the agency's own origin:
 *
 *   - it starts with a single `/` and has no backslash, control character (C0, DEL, C1), space or
 *     Unicode line separator anywhere — browsers drop tabs and newlines from URLs, so `/\t/evil`
 *     would become `//evil`, a network-path reference to another host;
 *   - percent-decoding it (repeatedly, leniently, as some proxies and servers do) reveals neither
 *     `//`, a backslash nor a control character (`/%2F%2Fevil`, `/%5Cevil`, `/%09/evil`);
 *   - resolving it against the origin with the WHATWG URL parser keeps that origin, and the
 *     resolved path does not start with `//` (dot segments: `/.//evil` resolves to `//evil`);
 *   - it is not a sign-in page (`/login…`): returning there after signing in would loop.
 *
 * What is returned is the parser's normalised path + query + fragment: dot segments resolved and
 * everything outside ASCII percent-encoded (`/日本` → `/%E6%97%A5%E6%9C%AC`), so it can always be
 * sent in a `Location` header.
 */

/** Longest returnTo accepted (before and after normalisation). */
export const RETURN_TO_MAX_LENGTH = 2048;

/** Decoding rounds after which a still-changing value counts as nested encoding (refused). */
const MAX_DECODING_ROUNDS = 5;

/** The origin `isNormalReturnTo` resolves against: the result of the rule does not depend on it. */
const ANY_ORIGIN = "http://return-to.invalid";

/**
 * The normalised same-origin path `value` stands for, or null when it may not be used as a place
 * to return to. `origin` is the agency's origin (`https://acme.example.com[:port]`).
 */
export function safeReturnTo(value: unknown, origin: string): string | null {
  if (typeof value !== "string" || value.length === 0 || value.length > RETURN_TO_MAX_LENGTH) return null;
  if (value[0] !== "/" || value[1] === "/") return null;
  if (hasCharIn(value, isRawForbidden)) return null;

  let base: URL;
  try {
    base = new URL(origin);
  } catch {
    return null;
  }
  if (!revealsNothingWhenDecoded(value, base)) return null;

  const url = parse(value, base);
  if (!url || url.origin !== base.origin) return null;
  const path = `${url.pathname}${url.search}${url.hash}`;
  if (path.startsWith("//") || path.length > RETURN_TO_MAX_LENGTH) return null;
  if (url.pathname === "/login" || url.pathname.startsWith("/login/")) return null;
  return path;
}

/** True when `path` is already what safeReturnTo returns for it (a stored, normalised returnTo). */
export function isNormalReturnTo(path: unknown): path is string {
  return typeof path === "string" && safeReturnTo(path, ANY_ORIGIN) === path;
}

/**
 * Lenient percent-decoding, repeated until nothing changes: no round may show `//` at the start
 * (also after dot-segment resolution), a backslash or a control character.
 */
function revealsNothingWhenDecoded(value: string, base: URL): boolean {
  let current = value;
  for (let round = 0; round <= MAX_DECODING_ROUNDS; round++) {
    if (current.startsWith("//") || current.includes("\\") || hasCharIn(current, isControl)) return false;
    if (round > 0 && parse(current, base)?.pathname.startsWith("//")) return false;
    const decoded = percentDecodeBytes(current);
    if (decoded === current) return true;
    current = decoded;
  }
  // Still changing after several decodings: nested encoding that nothing legitimate produces.
  return false;
}

function parse(value: string, base: URL): URL | null {
  try {
    return new URL(value, base);
  } catch {
    return null;
  }
}

/** True when some UTF-16 code unit of `value` satisfies `test`. */
function hasCharIn(value: string, test: (code: number) => boolean): boolean {
  for (let i = 0; i < value.length; i++) {
    if (test(value.charCodeAt(i))) return true;
  }
  return false;
}

/** C0 controls and DEL (RFC 3986 excludes them; browsers strip or reinterpret them). */
function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f;
}

/**
 * Not allowed unencoded: C0 controls, space, DEL, C1 controls, U+2028/U+2029, and the backslash
 * (which WHATWG URL parsing treats as `/` in http(s) URLs).
 */
function isRawForbidden(code: number): boolean {
  return (
    code <= 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029 || code === 0x5c
  );
}

/**
 * Lenient percent-decoding (RFC 3986 §2.1): each valid `%XX` becomes the character with that
 * code, invalid sequences stay as they are. Multi-byte UTF-8 is not reassembled: it cannot hide an
 * ASCII `/`, `\` or control character, which is all the caller looks for.
 */
function percentDecodeBytes(value: string): string {
  return value.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}
