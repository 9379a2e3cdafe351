/**
 * Redaction of the protocol messages a connection trace keeps (SPEC §17). Pure functions, and they
 * FAIL CLOSED: a value is kept only when its key is on an allow-list of protocol fields that are
 * neither secret nor personal (an issuer, an audience, a scope, an expiry, an IdP's error code);
 * every other value — tokens, codes, states, nonces, signatures, subjects, emails, names, unknown
 * fields — becomes a type-and-length hint such as `"[redacted: 43 chars]"`. Names (of parameters,
 * claims, headers) are kept: they are what an admin needs to see which claims arrived.
 *
 * Used by every connection kind to record what it exchanged with the IdP; the output is stored
 * as is and shown to the agency's admins.
 */

/** The placeholder of a value that is not kept (objects and arrays are walked, never kept whole). */
export const REDACTED = "[redacted]";
export const SIGNATURE_REDACTED = "[signature redacted]";

/** A kept string longer than this is cut (an IdP's error text, a long scope list). */
const MAX_KEPT_STRING = 1024;
/** Names longer than this are cut, and objects deeper than this are not walked further. */
const MAX_NAME = 200;
const MAX_DEPTH = 8;
const MAX_ENTRIES = 200;

/**
 * Claims whose values are protocol facts, neither secret nor personal: who issued the token, for
 * whom, when, how the user authenticated, the tenant, the Workspace domain, Cloudflare's token type.
 * Every other claim (sub, email, name, nonce, sid, jti, oid, identity_nonce, country, …) is redacted.
 */
export const KEPT_CLAIMS: ReadonlySet<string> = new Set([
  "iss",
  "aud",
  "azp",
  "exp",
  "iat",
  "nbf",
  "auth_time",
  "amr",
  "acr",
  "tid",
  "ver",
  "hd",
  "type",
]);

const KEPT_JWT_HEADER: ReadonlySet<string> = new Set(["alg", "kid", "typ"]);

/** Query parameters kept per message: the request we send, the callback the IdP sends back. */
const KEPT_PARAMS: Record<"authorization_request" | "callback", ReadonlySet<string>> = {
  authorization_request: new Set([
    "response_type",
    "scope",
    "client_id",
    "redirect_uri",
    "code_challenge_method",
    "prompt",
    "response_mode",
    "hd",
  ]),
  callback: new Set(["iss", "error", "error_description", "scope", "hd", "response_mode"]),
};

const KEPT_TOKEN_RESPONSE: ReadonlySet<string> = new Set([
  "token_type",
  "expires_in",
  "scope",
  "error",
  "error_description",
]);

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The hint left in place of a value: its type (and a string's length), never the value. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return `[redacted: ${value.length} chars]`;
  if (typeof value === "number" || typeof value === "bigint") return "[redacted: number]";
  if (typeof value === "boolean") return "[redacted: boolean]";
  if (depth >= MAX_DEPTH) return REDACTED;
  if (Array.isArray(value)) return value.slice(0, MAX_ENTRIES).map((v) => redactValue(v, depth + 1));
  if (typeof value === "object") return walk(value as Record<string, unknown>, new Set(), depth + 1);
  return REDACTED;
}

/** A kept value: a primitive or a list of primitives; anything else is walked and redacted. */
function keepValue(value: unknown, depth: number): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return cut(value, MAX_KEPT_STRING);
  if (typeof value === "number" || typeof value === "boolean") return value;
  if (Array.isArray(value) && value.every((v) => ["string", "number", "boolean"].includes(typeof v))) {
    return value.slice(0, MAX_ENTRIES).map((v) => (typeof v === "string" ? cut(v, MAX_KEPT_STRING) : v));
  }
  return redactValue(value, depth);
}

/** Names kept; the values of `kept` names kept, every other value redacted (nested ones too). */
function walk(
  obj: Record<string, unknown>,
  kept: ReadonlySet<string>,
  depth: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [key, value] of Object.entries(obj)) {
    if (++n > MAX_ENTRIES) break;
    const name = cut(key, MAX_NAME);
    setOwn(out, name, kept.has(key) ? keepValue(value, depth) : redactValue(value, depth));
  }
  return out;
}

/** An own property, whatever the name (a received `__proto__` key stays data, not a prototype). */
function setOwn(out: Record<string, unknown>, name: string, value: unknown): void {
  Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A URL we sent the browser to or received it back on: origin and path, and the parameters
 * (query, and fragment when there is one) by name, with the values of the message's allow-list.
 * Credentials in the URL (`user:pass@`) are dropped. Not a URL → `{ malformed: true }`.
 */
export function redactUrl(
  url: string | URL,
  kind: "authorization_request" | "callback",
):
  | { url: string; params: Record<string, unknown>; fragment?: Record<string, unknown> }
  | { malformed: true } {
  let parsed: URL;
  try {
    parsed = typeof url === "string" ? new URL(url) : new URL(url.href);
  } catch {
    return { malformed: true };
  }
  const kept = KEPT_PARAMS[kind];
  const paramsOf = (search: URLSearchParams) => {
    const params: Record<string, unknown> = {};
    let n = 0;
    for (const [key, value] of search) {
      if (++n > MAX_ENTRIES) break;
      const name = cut(key, MAX_NAME);
      const shown = kept.has(key) ? cut(value, MAX_KEPT_STRING) : redactValue(value);
      const before = Object.hasOwn(params, name) ? params[name] : undefined;
      setOwn(
        params,
        name,
        before === undefined ? shown : Array.isArray(before) ? [...before, shown] : [before, shown],
      );
    }
    return params;
  };
  const fragment = parsed.hash.length > 1 ? paramsOf(new URLSearchParams(parsed.hash.slice(1))) : null;
  return {
    url: cut(`${parsed.origin}${parsed.pathname}`, MAX_KEPT_STRING),
    params: paramsOf(parsed.searchParams),
    ...(fragment ? { fragment } : {}),
  };
}

/** `redactUrl` for a callback that arrived as a path and query (`/login/sso?code=…`). */
export function redactCallback(origin: string, pathAndQuery: string) {
  try {
    return redactUrl(new URL(pathAndQuery, origin), "callback");
  } catch {
    return { malformed: true as const };
  }
}

function decodeSegment(segment: string): Record<string, unknown> | null {
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return isPlainObject(value) ? value : null;
  } catch {
    return null;
  }
}

export type RedactedJwt =
  | { header: Record<string, unknown>; payload: Record<string, unknown>; signature: string }
  | { malformed: true };

/**
 * A compact JWS (an ID token, a Cloudflare Access assertion): the header's `alg`, `kid`, `typ`,
 * the payload's claims by name with the values of {@link KEPT_CLAIMS}, and no signature. Anything
 * that is not a JWS of two JSON objects → `{ malformed: true }` (never the raw text).
 */
export function redactJwt(compact: unknown): RedactedJwt {
  if (typeof compact !== "string") return { malformed: true };
  const parts = compact.split(".");
  if (parts.length !== 3) return { malformed: true };
  const header = decodeSegment(parts[0]!);
  const payload = decodeSegment(parts[1]!);
  if (!header || !payload) return { malformed: true };
  return {
    header: walk(header, KEPT_JWT_HEADER, 1),
    payload: walk(payload, KEPT_CLAIMS, 1),
    signature: SIGNATURE_REDACTED,
  };
}

/**
 * A token endpoint's JSON answer: `token_type`, `expires_in`, `scope` (and an error answer's
 * `error` / `error_description`) kept; the tokens and everything else redacted. The ID token is
 * recorded on its own, through {@link redactJwt}.
 */
export function redactTokenResponse(body: unknown): Record<string, unknown> | { malformed: true } {
  if (!isPlainObject(body)) return { malformed: true };
  return walk(body, KEPT_TOKEN_RESPONSE, 1);
}

/** A user-info answer (or any claim set): every claim's name, the values of {@link KEPT_CLAIMS}. */
export function redactClaims(obj: unknown): Record<string, unknown> | { malformed: true } {
  if (!isPlainObject(obj)) return { malformed: true };
  return walk(obj, KEPT_CLAIMS, 1);
}

/**
 * An IdP response's HTTP headers (and its `status`): the status, `content-type` and the scheme of
 * `www-authenticate` kept (its parameters can name the user or echo a token); every other header
 * by name only.
 */
export function redactHeaders(obj: unknown): Record<string, unknown> | { malformed: true } {
  if (!isPlainObject(obj)) return { malformed: true };
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [rawKey, value] of Object.entries(obj)) {
    if (++n > MAX_ENTRIES) break;
    const key = cut(rawKey.toLowerCase(), MAX_NAME);
    const text = Array.isArray(value) ? value.join(", ") : value;
    if (key === "status" && typeof value === "number") setOwn(out, key, value);
    else if (key === "content-type" && typeof text === "string") setOwn(out, key, cut(text, MAX_NAME));
    else if (key === "www-authenticate" && typeof text === "string") {
      const scheme = /^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)/.exec(text)?.[1];
      setOwn(
        out,
        key,
        scheme ? (text.trim().length > scheme.length ? `${scheme} ${REDACTED}` : scheme) : REDACTED,
      );
    } else setOwn(out, key, redactValue(text));
  }
  return out;
}

const EMAIL_PATTERN = /[^\s@"<>(),;:]+@[^\s@"'<>(),;:]+\.[A-Za-z0-9-]{2,}/g;
const JWT_PATTERN = /\beyJ[\w-]*\.[\w-]+\.[\w-]*/g;

/**
 * A cause as a trace keeps it. Causes are written by our code and name fields, steps and checks,
 * but some quote what the IdP sent (the resolution names the email it looked for): email
 * addresses and anything shaped like a JWT are taken out.
 */
export function redactCause(cause: string): string {
  return cause.replace(JWT_PATTERN, "[redacted token]").replace(EMAIL_PATTERN, "[redacted email]");
}

/**
 * A raw protocol message of a flow (kinds/kind.ts ProtocolMessage) as a trace keeps it: each
 * known message by its own rule, anything else by the fail-closed default. `callbackUrl` is the
 * URL the callback arrived on (the connection's redirect URL), when the kind has one.
 */
export function redactMessage(
  message: { name: string; at: string; data: unknown },
  callbackUrl: string | null,
): { name: string; at: string; data: unknown } {
  const data = isPlainObject(message.data) ? message.data : {};
  const redacted = (() => {
    switch (message.name) {
      case "callback":
        return typeof data.query === "string" && callbackUrl
          ? redactUrl(`${callbackUrl.split("?")[0]}?${data.query}`, "callback")
          : { malformed: true };
      case "token_response":
        return redactTokenResponse(data);
      case "id_token":
        return redactJwt(data.jwt);
      case "userinfo_response":
        return redactClaims(data);
      case "cloudflare_assertion":
        return {
          source: data.source === "header" || data.source === "cookie" ? data.source : REDACTED,
          ...redactJwt(data.jwt),
        };
      case "saml_response":
        // The SAML library's summary is redacted by construction (saml/summary.ts: IDs, issuers,
        // URLs, times, element and attribute NAMES, never a NameID or a value); kept as JSON.
        return isPlainObject(data.summary) ? JSON.parse(JSON.stringify(data.summary)) : { malformed: true };
      default:
        return redactValue(message.data);
    }
  })();
  return { name: message.name, at: message.at, data: redacted };
}
