/**
 * Cloudflare Access assertions (SPEC §5): Cloudflare sits in front of CoPilot and adds a signed JWT
 * to every request, in the `Cf-Access-Jwt-Assertion` header and the `CF_Authorization` cookie.
 * `verifyAccessAssertion` checks one against a `cloudflare-access` connection, one function per
 * check, in this order (the signature first: no claim is trusted before it):
 *
 *   checkFormat          a compact JWS (RFC 7515 §7.1) of bounded size, an encoded payload
 *   checkAlgorithm       `alg` is RS256 — never `none`, never HS256 keyed with the public key
 *   checkSignature       against `https://<team domain>/cdn-cgi/access/certs` through the JWKS
 *                        cache (cached, refetched on an unknown `kid` with a cooldown — Cloudflare
 *                        publishes the current and the previous key and rotates every six weeks);
 *                        no key set obtainable → refused (fail closed)
 *   checkIssuer          `iss` exactly `https://<team domain>`
 *   checkAudience        `aud` contains the connection's Application Audience (AUD) tag
 *   checkExpiry          `exp` present and not past, with at most 60 s of clock skew
 *   checkNotBefore       `nbf` (when present) not in the future, same skew
 *   checkIssuedAt        `iat` present and not in the future, same skew
 *   checkType            `type` = `app` (an application token, not the organisation's token)
 *   checkNotServiceToken a service token (`common_name` set) is no person: refused for sign-in
 *   checkEmail           a non-empty `email`
 *
 * `http://` instead of `https://` is used for the certs and the issuer only when the operator
 * allows private IdP URLs (ALLOW_PRIVATE_IDP_URLS, demo and tests) and the team domain is a
 * loopback `host:port`. Failures are CloudflareAssertionError naming the check and a cause fit for
 * the audit log: never the token, never a claim's value other than the issuer URL.
 */
import { errors as joseErrors } from "jose";
import type { Selectable } from "kysely";
import type { AppContext } from "../context.js";
import type { SsoConnectionsTable } from "../db/schema.js";
import { describeFetchError } from "../net/safe-fetch.js";
import { JwksUnavailableError } from "./jwks.js";
import { decodeJws, JwsError, type JwsHeader, parseHeader, splitCompact, verifyDecoded } from "./jws.js";

type ConnectionRow = Selectable<SsoConnectionsTable>;

/** The header Cloudflare Access adds to every request it lets through. */
export const ASSERTION_HEADER = "cf-access-jwt-assertion";
/** The cookie Cloudflare Access sets on the application's domain (same JWT). */
export const ASSERTION_COOKIE = "CF_Authorization";

/** SPEC §5: at most 60 s of clock skew on `exp`, `nbf` and `iat`. */
export const CLOCK_SKEW_SECONDS = 60;
/** Cloudflare Access signs with RS256 only. */
export const ALLOWED_ALGORITHMS = ["RS256"] as const;
/** Cloudflare's assertions are about 1–2 KB; anything far larger is not one. */
const MAX_ASSERTION_LENGTH = 16 * 1024;

export type CloudflareCheck =
  | "configuration"
  | "format"
  | "algorithm"
  | "certs"
  | "signature"
  | "issuer"
  | "audience"
  | "expiry"
  | "not_before"
  | "issued_at"
  | "type"
  | "service_token"
  | "email";

export class CloudflareAssertionError extends Error {
  constructor(
    /** Which check refused the assertion. */
    readonly check: CloudflareCheck,
    /** Precise cause for the audit and debug log: never the token or a personal claim value. */
    readonly detail: string,
    /** The names (never the values) of the claims, once the signature was verified. */
    readonly claimNames: string[] = [],
  ) {
    super(`${check}: ${detail}`);
  }
}

export interface TeamEndpoints {
  /** `https://<team domain>` (or `http://` on loopback when allowed): the expected `iss`. */
  issuer: string;
  /** `<issuer>/cdn-cgi/access/certs`: the team domain's public keys. */
  certsUrl: string;
}

const TEAM_DOMAIN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/;
const LOOPBACK_HOST_PORT = /^(?:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost):\d{1,5}$/;

/**
 * The issuer and the certs URL of a connection's team domain (SPEC §5). The stored team domain is
 * checked again here (a hostname, a port only on loopback when allowed), so a row edited outside
 * the API cannot point the key download elsewhere.
 */
export function teamEndpoints(ctx: AppContext, row: ConnectionRow): TeamEndpoints {
  const team = row.team_domain?.toLowerCase() ?? "";
  if (!TEAM_DOMAIN.test(team)) {
    throw new CloudflareAssertionError("configuration", "the connection's team domain is not a hostname");
  }
  const loopbackHttp = ctx.config.allowPrivateIdpUrls && LOOPBACK_HOST_PORT.test(team);
  if (team.includes(":") && !loopbackHttp) {
    throw new CloudflareAssertionError(
      "configuration",
      "the connection's team domain has a port, which only a loopback team domain may have (ALLOW_PRIVATE_IDP_URLS)",
    );
  }
  const issuer = `${loopbackHttp ? "http" : "https"}://${team}`;
  return { issuer, certsUrl: `${issuer}/cdn-cgi/access/certs` };
}

/** RFC 7515 §7.1: three base64url parts, bounded in size; the header must decode. */
export function checkFormat(token: string): JwsHeader {
  if (token.length > MAX_ASSERTION_LENGTH) {
    throw new CloudflareAssertionError(
      "format",
      `the assertion is longer than ${MAX_ASSERTION_LENGTH} characters`,
    );
  }
  let parts: ReturnType<typeof splitCompact>;
  try {
    parts = splitCompact(token);
  } catch {
    throw new CloudflareAssertionError("format", "the assertion is not a compact JWS");
  }
  try {
    return parseHeader(parts.header);
  } catch (error) {
    // RFC 7797 unencoded payloads and critical extensions are never used by Cloudflare.
    if (error instanceof JwsError && (error.code === "b64" || error.code === "crit"))
      throw new CloudflareAssertionError("format", "the assertion's header uses b64 or crit");
    if (error instanceof JwsError && error.code === "alg_missing")
      throw new CloudflareAssertionError("algorithm", "alg (none given) is not RS256");
    if (error instanceof JwsError && error.code === "embedded_key")
      throw new CloudflareAssertionError(
        "format",
        `the assertion's header ${error.message.replace(/^the JWS header /, "")}`,
      );
    if (error instanceof JwsError && error.code === "format")
      throw new CloudflareAssertionError("format", "the assertion is not a compact JWS");
    throw new CloudflareAssertionError("format", "the assertion's header is not valid JSON");
  }
}

/** SPEC §5 "RS256": `none` and HMAC (keyable with the public key) are refused before any key is used. */
export function checkAlgorithm(header: JwsHeader): void {
  const alg = typeof header.alg === "string" ? header.alg : "(none given)";
  if (!(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new CloudflareAssertionError("algorithm", `alg ${alg.slice(0, 20)} is not RS256`);
  }
}

/**
 * SPEC §5 "RS256 signature against https://<team domain>/cdn-cgi/access/certs". The key comes
 * from the JWKS cache (refetch on an unknown kid, with a cooldown; no key set → fail closed).
 * Returns the verified payload as an object.
 */
export async function checkSignature(
  ctx: AppContext,
  token: string,
  certsUrl: string,
): Promise<Record<string, unknown>> {
  try {
    const decoded = decodeJws(token, ALLOWED_ALGORITHMS);
    const key = await ctx.jwks.getKey(certsUrl, decoded.header);
    return verifyDecoded(decoded, key);
  } catch (error) {
    if (error instanceof JwsError && error.code === "payload") {
      throw new CloudflareAssertionError("format", "the assertion's payload is not a JSON object");
    }
    throw signatureError(error, certsUrl);
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "the team domain";
  }
}

/** Names what went wrong with the key or the signature (never the token). */
function signatureError(error: unknown, certsUrl: string): CloudflareAssertionError {
  const host = hostOf(certsUrl);
  if (error instanceof JwksUnavailableError) {
    const cause = error.cause;
    const why = cause === undefined ? "no key set was ever downloaded" : describeFetchError(cause);
    return new CloudflareAssertionError("certs", `the certs of ${host} could not be fetched (${why})`);
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) {
    return new CloudflareAssertionError(
      "signature",
      `no key of ${host}/cdn-cgi/access/certs matches the assertion's kid (also after a refetch)`,
    );
  }
  if (error instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new CloudflareAssertionError(
      "signature",
      `several keys of ${host} match an assertion without kid`,
    );
  }
  if (error instanceof JwsError) {
    if (error.code === "signature")
      return new CloudflareAssertionError(
        "signature",
        `the signature does not verify with the key of ${host}`,
      );
    if (error.code === "alg_not_allowed")
      return new CloudflareAssertionError("algorithm", "the assertion's alg is not RS256");
    if (error.code === "format" || error.code === "header")
      return new CloudflareAssertionError("format", "the assertion is not a compact JWS");
    return new CloudflareAssertionError(
      "signature",
      `the assertion could not be verified (${error.message})`,
    );
  }
  if (error instanceof joseErrors.JOSEError) {
    return new CloudflareAssertionError("signature", `the assertion could not be verified (${error.code})`);
  }
  return new CloudflareAssertionError(
    "signature",
    `the assertion could not be verified (${error instanceof Error ? error.name : "unknown error"})`,
  );
}

/** SPEC §5 "iss = https://<team domain>", compared exactly. */
export function checkIssuer(claims: Record<string, unknown>, issuer: string, names: string[]): void {
  if (claims.iss !== issuer) {
    const got = typeof claims.iss === "string" ? claims.iss.slice(0, 200) : "(none)";
    throw new CloudflareAssertionError("issuer", `iss ${got} is not ${issuer}`, names);
  }
}

/** SPEC §5 "aud contains the AUD tag" (a string or an array of strings, RFC 7519 §4.1.3). */
export function checkAudience(claims: Record<string, unknown>, audience: string, names: string[]): void {
  const aud = claims.aud;
  const values = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
  if (!values.some((v) => v === audience)) {
    throw new CloudflareAssertionError(
      "audience",
      aud === undefined
        ? "the assertion has no aud"
        : "aud does not contain the connection's Application Audience (AUD) tag",
      names,
    );
  }
}

function numericDate(claims: Record<string, unknown>, name: string): number | undefined {
  const v = claims[name];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** SPEC §5 "exp … with at most 60 s of clock skew": required; refused once exp + 60 s has passed. */
export function checkExpiry(claims: Record<string, unknown>, nowSeconds: number, names: string[]): void {
  const exp = numericDate(claims, "exp");
  if (exp === undefined)
    throw new CloudflareAssertionError("expiry", "the assertion has no numeric exp", names);
  if (exp <= nowSeconds - CLOCK_SKEW_SECONDS) {
    throw new CloudflareAssertionError(
      "expiry",
      `the assertion expired ${Math.round(nowSeconds - exp)} s ago (skew allowed: ${CLOCK_SKEW_SECONDS} s)`,
      names,
    );
  }
}

/** SPEC §5 "nbf … with at most 60 s of clock skew": when present, not later than now + 60 s. */
export function checkNotBefore(claims: Record<string, unknown>, nowSeconds: number, names: string[]): void {
  if (claims.nbf === undefined) return;
  const nbf = numericDate(claims, "nbf");
  if (nbf === undefined) throw new CloudflareAssertionError("not_before", "nbf is not a number", names);
  if (nbf > nowSeconds + CLOCK_SKEW_SECONDS) {
    throw new CloudflareAssertionError(
      "not_before",
      `the assertion is not valid for another ${Math.round(nbf - nowSeconds)} s (skew allowed: ${CLOCK_SKEW_SECONDS} s)`,
      names,
    );
  }
}

/** SPEC §5 "iat with at most 60 s of clock skew": required, not later than now + 60 s. */
export function checkIssuedAt(claims: Record<string, unknown>, nowSeconds: number, names: string[]): void {
  const iat = numericDate(claims, "iat");
  if (iat === undefined)
    throw new CloudflareAssertionError("issued_at", "the assertion has no numeric iat", names);
  if (iat > nowSeconds + CLOCK_SKEW_SECONDS) {
    throw new CloudflareAssertionError(
      "issued_at",
      `the assertion is issued ${Math.round(iat - nowSeconds)} s in the future (skew allowed: ${CLOCK_SKEW_SECONDS} s)`,
      names,
    );
  }
}

/** Cloudflare's application token has `type: "app"` (the organisation token has `org`). */
export function checkType(claims: Record<string, unknown>, names: string[]): void {
  if (claims.type !== "app") {
    const got = typeof claims.type === "string" ? claims.type.slice(0, 20) : "(none)";
    throw new CloudflareAssertionError("type", `type ${got} is not app`, names);
  }
}

/**
 * A service token (`common_name` = `<client id>.access`, no email) authenticates a machine, not a
 * person: refused for people's sign-in whatever else it carries.
 */
export function checkNotServiceToken(claims: Record<string, unknown>, names: string[]): void {
  const cn = claims.common_name;
  if (typeof cn === "string" ? cn.trim() !== "" : cn !== undefined && cn !== null) {
    throw new CloudflareAssertionError(
      "service_token",
      "the assertion is a service token (common_name set): service tokens cannot sign people in",
      names,
    );
  }
}

/** SPEC §5 "an email claim": a non-empty string. */
export function checkEmail(claims: Record<string, unknown>, names: string[]): void {
  const email = claims.email;
  if (typeof email !== "string" || email.trim() === "") {
    throw new CloudflareAssertionError(
      "email",
      email === undefined ? "the assertion has no email" : "the assertion's email is empty",
      names,
    );
  }
}

/**
 * Verifies a Cloudflare Access assertion for a `cloudflare-access` connection (SPEC §5). Returns
 * the verified claims; throws CloudflareAssertionError naming the check that refused it.
 */
export async function verifyAccessAssertion(
  ctx: AppContext,
  row: ConnectionRow,
  token: string,
): Promise<Record<string, unknown>> {
  if (row.type !== "cloudflare-access" || !row.audience) {
    throw new CloudflareAssertionError(
      "configuration",
      "the connection is not a complete Cloudflare Access connection",
    );
  }
  const { issuer, certsUrl } = teamEndpoints(ctx, row);
  const header = checkFormat(token);
  checkAlgorithm(header);
  const claims = await checkSignature(ctx, token, certsUrl);
  const names = Object.keys(claims).sort();
  const nowSeconds = Math.floor(ctx.now().getTime() / 1000);
  checkIssuer(claims, issuer, names);
  checkAudience(claims, row.audience, names);
  checkExpiry(claims, nowSeconds, names);
  checkNotBefore(claims, nowSeconds, names);
  checkIssuedAt(claims, nowSeconds, names);
  checkType(claims, names);
  checkNotServiceToken(claims, names);
  checkEmail(claims, names);
  return claims;
}

/** The audience tags an assertion names, read WITHOUT verification: only to pick a connection. */
export function unverifiedAudiences(token: string): string[] {
  const part = token.split(".")[1];
  if (!part || part.length > MAX_ASSERTION_LENGTH) return [];
  try {
    const payload = JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as { aud?: unknown };
    const aud = payload?.aud;
    if (typeof aud === "string") return [aud];
    return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === "string") : [];
  } catch {
    return [];
  }
}
