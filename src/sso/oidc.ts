/**
 * The OpenID Connect relying party, one protocol step per function (openid-client v6 for the
 * protocol, jws.ts — node:crypto — for our own ID token signature check):
 *
 *   discover            OpenID Connect Discovery 1.0 §4 (issuer must match, §4.3)
 *   authorizationUrl    RFC 6749 §4.1.1, RFC 7636 §4.3 (PKCE S256), OIDC Core §3.1.2.1 (nonce)
 *   exchangeCode        RFC 6749 §4.1.3, RFC 9207 (iss in the authorization response)
 *   verifyIdToken       OIDC Core §3.1.3.7 — signature against the IdP's JWKS with PINNED
 *                       asymmetric algorithms (openid-client alone neither verifies the signature
 *                       of a code-flow ID token nor refuses algorithms the IdP advertises)
 *   fetchUserinfo       OIDC Core §5.3.2 (the user-info `sub` must equal the ID token's)
 *   callbackClaims      the IdP half of a callback: the steps above in order; for a sign-in,
 *                       user-info only when the ID token lacks a claim that will be read; for a
 *                       test (SPEC §7), user-info whenever the IdP has the endpoint
 *
 * Every request to the IdP goes through the SSRF-guarded fetch (SPEC §10). Failures are
 * SsoStepError naming the step, the cause (for the audit log) and the IdP's own error if any.
 */
import { hash } from "node:crypto";
import { errors as joseErrors } from "jose";
import type { Selectable } from "kysely";
import * as client from "openid-client";
import type { AppContext } from "../context.js";
import type { SsoConnectionsTable } from "../db/schema.js";
import { describeFetchError, SafeFetchError } from "../net/safe-fetch.js";
import { connectionSecret } from "./connections.js";
import { decodeJws, JwsError, SUPPORTED_ALGORITHMS, verifyDecoded } from "./jws.js";
import type { ProtocolMessage } from "./kinds/kind.js";
import { claim } from "./resolve-user.js";

export type SsoStep =
  | "state"
  | "connection"
  | "discovery"
  | "authorize"
  | "callback"
  | "token"
  | "id_token"
  | "userinfo"
  | "mapping"
  | "resolution"
  | "assertion"
  | "groups";

export class SsoStepError extends Error {
  constructor(
    readonly step: SsoStep,
    /** Precise cause for the audit and debug log: never a secret, token or code. */
    override readonly cause: string,
    readonly idpError: string | null = null,
  ) {
    super(`${step}: ${cause}`);
  }
}

/**
 * Asymmetric algorithms only: never `none`, never HMAC (which a public key could forge) — every
 * algorithm jws.ts verifies.
 */
export const ALLOWED_ID_TOKEN_ALGORITHMS: readonly string[] = SUPPORTED_ALGORITHMS;
const CLOCK_TOLERANCE_SECONDS = 60;
const METADATA_TTL_MS = 60 * 60_000;

type ConnectionRow = Selectable<SsoConnectionsTable>;

export interface Provider {
  config: client.Configuration;
  issuer: string;
  jwksUri: string;
  userinfoEndpoint: string | null;
  algorithms: string[];
  /** Claims the ID token must carry with these values (the dialect's: Entra's `tid`, Google's `hd`). */
  requiredClaims: RequiredClaim[];
  /** Parameters the dialect adds to the authorization request (hints only: the token decides). */
  authorizationParams: Record<string, string>;
}

/** A claim the ID token must carry with exactly this value (compared case-insensitively). */
export interface RequiredClaim {
  claim: string;
  value: string;
  /** What the value is, for the cause: "the configured tenant". */
  what: string;
}

/**
 * What a kind of OpenID provider does beyond the standard steps (kinds/azure.ts, kinds/google.ts):
 * the issuer its metadata names, the claims its tokens must carry, the hints its authorization
 * request takes. Every hook is optional; without one the standard rule holds.
 */
export interface OidcDialect {
  /**
   * Discovery §4.3 as this provider practises it: the issuer its ID tokens carry, given the
   * document's and the one the standard rule expects; null leaves the standard rule to decide.
   * Throws SsoStepError (step `discovery`) to refuse the document.
   */
  issuer?(row: ConnectionRow, documentIssuer: string, expected: string): string | null;
  requiredClaims?(row: ConnectionRow, issuer: string): RequiredClaim[];
  authorizationParams?(row: ConnectionRow): Record<string, string>;
}

/**
 * Discovered providers by connection and configuration version, one cache per application context
 * (ctx.providers): two apps in one process never share one.
 */
export type ProviderCache = Map<string, { provider: Provider; expiresAt: number }>;

export function createProviderCache(): ProviderCache {
  return new Map();
}

function requireUrl(doc: Record<string, unknown>, name: string, allowHttp: boolean): string {
  const v = doc[name];
  if (typeof v !== "string") throw new SsoStepError("discovery", `the discovery document has no ${name}`);
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new SsoStepError("discovery", `the discovery document's ${name} is not a URL`);
  }
  if (url.protocol !== "https:" && !(allowHttp && url.protocol === "http:")) {
    throw new SsoStepError("discovery", `the discovery document's ${name} is not https`);
  }
  return v;
}

const stripSlash = (s: string) => s.replace(/\/+$/, "");

/** OpenID Connect Discovery 1.0 §4: fetch and check the provider metadata. */
async function discover(
  ctx: AppContext,
  row: ConnectionRow,
  dialect: OidcDialect,
): Promise<client.ServerMetadata> {
  const allowHttp = ctx.config.allowPrivateIdpUrls;
  if (!row.discovery_url) {
    return {
      issuer: row.issuer!,
      authorization_endpoint: row.authorization_endpoint!,
      token_endpoint: row.token_endpoint!,
      jwks_uri: row.jwks_uri!,
      ...(row.userinfo_endpoint ? { userinfo_endpoint: row.userinfo_endpoint } : {}),
    };
  }
  let doc: Record<string, unknown>;
  try {
    const res = await ctx.idpFetch(row.discovery_url, { headers: { accept: "application/json" } });
    if (!res.ok) throw new SsoStepError("discovery", `the discovery URL answered HTTP ${res.status}`);
    doc = (await res.json()) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof SsoStepError) throw err;
    throw new SsoStepError(
      "discovery",
      `the discovery URL could not be fetched (${describeFetchError(err)})`,
    );
  }
  if (typeof doc !== "object" || doc === null || typeof doc.issuer !== "string") {
    throw new SsoStepError("discovery", "the discovery document has no issuer");
  }
  // §4.3: the issuer must be the URL the document was fetched from (or the configured issuer),
  // unless the provider's dialect names the issuer its tokens carry otherwise.
  const expected = row.issuer ?? row.discovery_url.replace(/\/\.well-known\/openid-configuration\/?$/, "");
  const own = dialect.issuer?.(row, doc.issuer, expected) ?? null;
  if (own === null && stripSlash(doc.issuer) !== stripSlash(expected)) {
    throw new SsoStepError(
      "discovery",
      `the discovery document's issuer ${doc.issuer} does not match ${expected}`,
    );
  }
  const issuer = own ?? doc.issuer;
  const { userinfo_endpoint: _unchecked, ...rest } = doc;
  return {
    ...(rest as Partial<client.ServerMetadata>),
    issuer,
    authorization_endpoint: requireUrl(doc, "authorization_endpoint", allowHttp),
    token_endpoint: requireUrl(doc, "token_endpoint", allowHttp),
    jwks_uri: requireUrl(doc, "jwks_uri", allowHttp),
    ...(typeof doc.userinfo_endpoint === "string"
      ? { userinfo_endpoint: requireUrl(doc, "userinfo_endpoint", allowHttp) }
      : {}),
  };
}

/** The provider of a connection, discovered once per configuration version and cached for an hour. */
export async function providerFor(
  ctx: AppContext,
  row: ConnectionRow,
  dialect: OidcDialect = {},
): Promise<Provider> {
  // The version changes with every edit; URL and client id also key the instance-level Google client.
  const key = `${row.id}:${row.config_version}:${row.discovery_url ?? row.issuer}:${row.client_id}`;
  const providers = ctx.providers;
  const cached = providers.get(key);
  if (cached && cached.expiresAt > ctx.now().getTime()) return cached.provider;
  const meta = await discover(ctx, row, dialect);
  const advertised = meta.id_token_signing_alg_values_supported;
  const algorithms = Array.isArray(advertised)
    ? ALLOWED_ID_TOKEN_ALGORITHMS.filter((a) => advertised.includes(a))
    : ["RS256"];
  if (algorithms.length === 0) {
    throw new SsoStepError(
      "discovery",
      `the IdP signs ID tokens only with ${JSON.stringify(advertised)}, none of which is allowed`,
    );
  }
  const secret = connectionSecret(ctx, row) ?? undefined;
  const auth =
    row.token_endpoint_auth_method === "client_secret_post"
      ? client.ClientSecretPost(secret)
      : client.ClientSecretBasic(secret);
  const config = new client.Configuration(meta, row.client_id!, { client_secret: secret }, auth);
  // openid-client's extension points are symbol-keyed properties of the configuration.
  const ext = config as unknown as Record<symbol, unknown>;
  ext[client.customFetch] = ctx.idpFetch;
  ext[client.clockTolerance] = CLOCK_TOLERANCE_SECONDS;
  config.timeout = 10;
  if (ctx.config.allowPrivateIdpUrls) client.allowInsecureRequests(config);
  const provider: Provider = {
    config,
    issuer: meta.issuer,
    jwksUri: meta.jwks_uri!,
    userinfoEndpoint: meta.userinfo_endpoint ?? null,
    algorithms,
    requiredClaims: dialect.requiredClaims?.(row, meta.issuer) ?? [],
    authorizationParams: dialect.authorizationParams?.(row) ?? {},
  };
  forgetProvider(ctx, row.id);
  providers.set(key, { provider, expiresAt: ctx.now().getTime() + METADATA_TTL_MS });
  return provider;
}

/** Drops this context's cached provider of a connection (after an edit, a secret rotation). */
export function forgetProvider(ctx: Pick<AppContext, "providers">, connectionId: string): void {
  for (const k of ctx.providers.keys()) if (k.startsWith(`${connectionId}:`)) ctx.providers.delete(k);
}

/** RFC 6749 §4.1.1 with PKCE (RFC 7636 §4.3, S256) and a nonce (OIDC Core §3.1.2.1). */
export function authorizationUrl(
  provider: Provider,
  row: ConnectionRow,
  params: { state: string; nonce: string; codeVerifier: string },
): URL {
  return client.buildAuthorizationUrl(provider.config, {
    redirect_uri: row.redirect_url!,
    scope: (row.scopes as string[]).join(" "),
    state: params.state,
    nonce: params.nonce,
    code_challenge: pkceChallenge(params.codeVerifier),
    code_challenge_method: "S256",
    ...provider.authorizationParams,
  });
}

/**
 * RFC 7636 §4.2, S256: BASE64URL(SHA256(ASCII(code_verifier))). node:crypto's hash is
 * synchronous; WebCrypto's digest (openid-client's calculatePKCECodeChallenge) costs four times
 * the CPU for the same 43 bytes.
 */
export function pkceChallenge(codeVerifier: string): string {
  return hash("sha256", codeVerifier, "base64url");
}

export function newFlowSecrets() {
  return { nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier() };
}

/**
 * An error's message with its cause's: openid-client wraps oauth4webapi's precise error
 * ("unexpected "response" body "sub" property value") in a generic one ("unexpected JSON attribute
 * value encountered"), and the safe fetch's SafeFetchError names what went wrong on the network.
 */
function errorDetail(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof SafeFetchError) return `${message}: ${describeFetchError(cause)}`;
  return cause instanceof Error && cause.message !== message ? `${message}: ${cause.message}` : message;
}

/**
 * The IdP's own OAuth error: the `error` (and description) of an error redirect or an error
 * body, or the parameters of the first WWW-Authenticate challenge (RFC 6750 §3).
 */
function idpErrorOf(err: unknown): string | null {
  const e: { error?: unknown; error_description?: unknown } =
    err instanceof client.WWWAuthenticateChallengeError ? (err.cause[0]?.parameters ?? {}) : (err as object);
  if (typeof e?.error !== "string") return null;
  return typeof e.error_description === "string"
    ? `${e.error}: ${e.error_description}`.slice(0, 500)
    : e.error;
}

/**
 * RFC 6749 §4.1.3: redeem the code (with the PKCE verifier). openid-client checks the state,
 * the RFC 9207 `iss` parameter when present (required when the IdP advertises it), the token
 * response, and the ID token's claims (iss, aud, azp, exp, iat, nonce).
 */
export async function exchangeCode(
  provider: Provider,
  row: ConnectionRow,
  callbackQuery: string,
  checks: { state: string; nonce: string; codeVerifier: string },
): Promise<{ idToken: string; accessToken: string | null; response: Record<string, unknown> }> {
  const currentUrl = new URL(row.redirect_url!);
  currentUrl.search = callbackQuery;
  try {
    const tokens = await client.authorizationCodeGrant(
      provider.config,
      currentUrl,
      {
        pkceCodeVerifier: checks.codeVerifier,
        expectedNonce: checks.nonce,
        expectedState: checks.state,
        idTokenExpected: true,
      },
      { redirect_uri: row.redirect_url! },
    );
    if (!tokens.id_token) throw new SsoStepError("token", "the token response has no id_token");
    return {
      idToken: tokens.id_token,
      accessToken: tokens.access_token ?? null,
      response: { ...tokens } as Record<string, unknown>,
    };
  } catch (err) {
    throw classifyExchangeError(err, { issuer: provider.issuer, state: checks.state });
  }
}

/** oauth4webapi's error codes (openid-client's ClientError carries the same `code`). */
const OAUTH = {
  INVALID_RESPONSE: "OAUTH_INVALID_RESPONSE",
  JWT_CLAIM_COMPARISON: "OAUTH_JWT_CLAIM_COMPARISON_FAILED",
  JWT_TIMESTAMP_CHECK: "OAUTH_JWT_TIMESTAMP_CHECK_FAILED",
  JSON_ATTRIBUTE_COMPARISON: "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED",
  UNSUPPORTED_OPERATION: "OAUTH_UNSUPPORTED_OPERATION",
} as const;

/** What oauth4webapi attached to an error it raised (its `cause`), when that is an object. */
function detailsOf(err: unknown): Record<string, unknown> | null {
  const cause = (err as { cause?: unknown } | null)?.cause;
  return typeof cause === "object" && cause !== null ? (cause as Record<string, unknown>) : null;
}

/**
 * Which step a failed code exchange (openid-client's authorizationCodeGrant) ended at, decided
 * by the library's error classes and codes and by what it attached to them — never by its
 * message text (which only goes into the cause, for the audit log):
 *
 * - AuthorizationResponseError: the IdP redirected back with `error` (RFC 6749 §4.1.2.1);
 * - ResponseBodyError / WWWAuthenticateChallengeError: the token endpoint refused (§5.2);
 * - a SafeFetchError cause: the network (or the SSRF guard) failed the request;
 * - OAUTH_INVALID_RESPONSE over the authorization response's `parameters`: its `iss`
 *   (RFC 9207: missing, or not the `expected` issuer) or its `state`;
 * - OAUTH_JWT_* codes, or an OAUTH_INVALID_RESPONSE / OAUTH_UNSUPPORTED_OPERATION about the
 *   JWT itself (its claims, its header, or the compact serialization): the ID token;
 * - anything else (status, content type, body of the token response): the code exchange.
 */
export function classifyExchangeError(
  err: unknown,
  expected: { issuer: string; state: string },
): SsoStepError {
  if (err instanceof SsoStepError) return err;
  if (err instanceof client.AuthorizationResponseError) {
    return new SsoStepError("callback", "the IdP returned an error instead of a code", idpErrorOf(err));
  }
  if (err instanceof client.ResponseBodyError) {
    return new SsoStepError(
      "token",
      `the token endpoint refused the code (HTTP ${err.status})`,
      idpErrorOf(err),
    );
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    return new SsoStepError(
      "token",
      `the token endpoint refused the client (HTTP ${err.status}, a ${err.cause[0]?.scheme ?? "WWW-Authenticate"} challenge)`,
      idpErrorOf(err),
    );
  }
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause instanceof SafeFetchError) {
    return new SsoStepError("token", `the code exchange failed: ${describeFetchError(cause)}`);
  }
  const detail = errorDetail(err);
  const code = err instanceof client.ClientError ? err.code : undefined;
  // openid-client's ClientError wraps oauth4webapi's OperationProcessingError (same code), whose
  // own cause is what the check compared.
  const inner = err instanceof client.ClientError ? cause : undefined;
  const details = detailsOf(inner);
  if (code === OAUTH.INVALID_RESPONSE && details?.parameters instanceof URLSearchParams) {
    const what = details.parameters.has("response")
      ? "parameters"
      : !("expected" in details) || details.expected === expected.issuer
        ? "iss"
        : "state";
    return new SsoStepError("callback", `the authorization response's ${what} is wrong (${detail})`);
  }
  const aboutTheJwt =
    code === OAUTH.JWT_CLAIM_COMPARISON ||
    code === OAUTH.JWT_TIMESTAMP_CHECK ||
    ((code === OAUTH.INVALID_RESPONSE || code === OAUTH.UNSUPPORTED_OPERATION) &&
      (typeof (inner as { cause?: unknown } | undefined)?.cause === "string" ||
        (details !== null && ("claims" in details || "header" in details))));
  if (aboutTheJwt) return new SsoStepError("id_token", `the ID token was refused: ${detail}`);
  const body = details?.body as { id_token?: unknown; access_token?: unknown } | undefined;
  if (
    code === OAUTH.INVALID_RESPONSE &&
    typeof body === "object" &&
    body !== null &&
    typeof body.access_token === "string" &&
    typeof body.id_token !== "string"
  ) {
    return new SsoStepError("token", "the token response has no id_token");
  }
  return new SsoStepError("token", `the code exchange failed: ${detail}`);
}

/** What the flow's state vouches for: the nonce sent, and when the flow started (the state's time). */
export interface FlowChecks {
  nonce: string;
  /** The state's issue time, ms since the epoch: an ID token issued before it cannot answer this flow. */
  flowStartedAt: number;
}

/** The claims of an ID token after verifyIdToken's checks (OIDC Core §2), plus whatever else it carries. */
export interface IdTokenClaims extends Record<string, unknown> {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
}

/**
 * OIDC Core §3.1.3.7: our own check of the signature (jws.ts: node:crypto, synchronous, with the
 * algorithms pinned and the key from the IdP's JWKS) and of the claims, each below with its rule.
 * `iat` must be neither in the future nor before the flow began (both with the clock skew).
 */
export async function verifyIdToken(
  ctx: AppContext,
  provider: Provider,
  row: ConnectionRow,
  idToken: string,
  flow: FlowChecks,
): Promise<IdTokenClaims> {
  const { nonce } = flow;
  let payload: Record<string, unknown>;
  try {
    // §3.1.3.7 steps 6–8: a JWS (never unsigned, never encrypted), an alg the IdP may use and we
    // pinned (asymmetric only), the signature against the IdP's published key.
    const decoded = decodeJws(idToken, provider.algorithms);
    const key = await ctx.jwks.getKey(provider.jwksUri, decoded.header);
    payload = verifyDecoded(decoded, key);
  } catch (err) {
    throw idTokenRefusal(err, provider);
  }
  const now = Math.floor(ctx.now().getTime() / 1000);
  // §3.1.3.7 step 2, RFC 7519 §4.1.1: the issuer exactly the provider's (after discovery's check).
  if (payload.iss === undefined) throw refused('missing required "iss" claim');
  if (payload.iss !== provider.issuer) throw refused('unexpected "iss" claim value');
  // Step 3, RFC 7519 §4.1.3: `aud` is this client or an array containing it.
  const aud = audienceOf(payload.aud);
  if (payload.aud === undefined) throw refused('missing required "aud" claim');
  if (!aud?.includes(row.client_id!)) throw refused('unexpected "aud" claim value');
  // Step 9, RFC 7519 §4.1.4: not expired (60 s of clock skew, on the application's clock).
  if (payload.exp === undefined) throw refused('missing required "exp" claim');
  if (typeof payload.exp !== "number" || !Number.isFinite(payload.exp))
    throw refused('"exp" claim must be a number');
  if (payload.exp <= now - CLOCK_TOLERANCE_SECONDS) throw refused('"exp" claim timestamp check failed');
  // RFC 7519 §4.1.5: not before `nbf`, when the IdP set one.
  if (payload.nbf !== undefined) {
    if (typeof payload.nbf !== "number" || !Number.isFinite(payload.nbf))
      throw refused('"nbf" claim must be a number');
    if (payload.nbf > now + CLOCK_TOLERANCE_SECONDS) throw refused('"nbf" claim timestamp check failed');
  }
  // Step 10, RFC 7519 §4.1.6: `iat` is required by OIDC Core §2 and must be a number.
  if (payload.iat === undefined) throw refused('missing required "iat" claim');
  if (typeof payload.iat !== "number" || !Number.isFinite(payload.iat))
    throw new SsoStepError("id_token", "the ID token's iat is not a number");
  // OIDC Core §2: `sub` is required, a non-empty string.
  if (payload.sub === undefined) throw refused('missing required "sub" claim');
  if (typeof payload.sub !== "string" || payload.sub === "")
    throw refused('"sub" claim must be a non-empty string');
  // Step 11: the nonce of this flow's authorization request.
  if (payload.nonce !== nonce) throw new SsoStepError("id_token", "the ID token's nonce does not match");
  if (payload.iat * 1000 > ctx.now().getTime() + CLOCK_TOLERANCE_SECONDS * 1000) {
    throw new SsoStepError("id_token", "the ID token was issued in the future");
  }
  // An ID token issued before the authorization request was made cannot be its answer (a replayed
  // or pre-minted token whose exp is still in the future).
  const earliest = flow.flowStartedAt - CLOCK_TOLERANCE_SECONDS * 1000;
  if (payload.iat * 1000 < earliest) {
    throw new SsoStepError(
      "id_token",
      `the ID token was issued (iat ${new Date(payload.iat * 1000).toISOString()}) before this flow began (${new Date(flow.flowStartedAt).toISOString()}, ${CLOCK_TOLERANCE_SECONDS} s of clock skew allowed)`,
    );
  }
  const claims: IdTokenClaims = {
    ...payload,
    iss: payload.iss,
    sub: payload.sub,
    aud: typeof payload.aud === "string" ? payload.aud : aud,
    exp: payload.exp,
    iat: payload.iat,
  };
  // Steps 4–5: with several audiences (or an azp at all), azp must be this client.
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if ((audiences.length > 1 || claims.azp !== undefined) && claims.azp !== row.client_id) {
    throw new SsoStepError("id_token", "the ID token's azp is not this client");
  }
  for (const required of provider.requiredClaims) {
    const got = typeof claims[required.claim] === "string" ? String(claims[required.claim]) : null;
    if (got?.toLowerCase() !== required.value.toLowerCase()) {
      throw new SsoStepError(
        "id_token",
        `the ID token's ${required.claim} ${got ?? "(missing)"} is not ${required.what}`,
      );
    }
  }
  return claims;
}

/** RFC 7519 §4.1.3: `aud` is a string or an array of strings; anything else is no audience. */
function audienceOf(aud: unknown): string[] | undefined {
  if (typeof aud === "string") return [aud];
  if (Array.isArray(aud) && aud.every((a): a is string => typeof a === "string")) return aud;
  return undefined;
}

/** A claim check that failed, worded as jose worded it (tests and audit readers know these). */
function refused(what: string): SsoStepError {
  return new SsoStepError("id_token", `the ID token was refused: ${what}`);
}

/** The cause of a refusal by jws.ts or the JWKS cache, for the audit log (never the token). */
function idTokenRefusal(err: unknown, provider: Provider): SsoStepError {
  if (err instanceof JwsError) {
    switch (err.code) {
      case "format":
      case "header":
        return new SsoStepError("id_token", `the ID token is not a JWS (${err.message})`);
      case "alg_missing":
        return new SsoStepError(
          "id_token",
          `the ID token's algorithm (none) is not allowed (allowed: ${provider.algorithms.join(", ")})`,
        );
      case "alg_not_allowed":
        return new SsoStepError(
          "id_token",
          `the ID token's ${err.message.replace(/ \(allowed: .*$/, "")} (allowed: ${provider.algorithms.join(", ")})`,
        );
      case "signature":
        return new SsoStepError("id_token", "the ID token's signature is invalid");
      default:
        return new SsoStepError("id_token", `the ID token was refused: ${err.message}`);
    }
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return new SsoStepError("id_token", "no key of the IdP's JWKS matches the ID token");
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys)
    return new SsoStepError(
      "id_token",
      "several keys of the IdP's JWKS match the ID token, which names no kid",
    );
  const msg = err instanceof Error ? err.message : String(err);
  return new SsoStepError("id_token", `the ID token was refused: ${msg}`);
}

/** OIDC Core §5.3: the user-info claims; their `sub` must equal the ID token's (§5.3.2). */
export async function fetchUserinfo(
  provider: Provider,
  accessToken: string | null,
  subject: string,
): Promise<Record<string, unknown>> {
  if (!provider.userinfoEndpoint || !accessToken) return {};
  try {
    return (await client.fetchUserInfo(provider.config, accessToken, subject)) as Record<string, unknown>;
  } catch (err) {
    // openid-client wraps oauth4webapi's error (both carry its code); the innermost cause names
    // the attribute compared.
    const subMismatch = (e: unknown): boolean => {
      const x = e as { code?: unknown; cause?: unknown; attribute?: unknown } | null;
      if (!x || typeof x !== "object") return false;
      if (x.attribute === "sub") return true;
      return x.code === OAUTH.JSON_ATTRIBUTE_COMPARISON && subMismatch(x.cause);
    };
    if (subMismatch(err)) {
      // The body names the other person: never in the cause (it goes to the audit log).
      throw new SsoStepError("userinfo", "the user-info sub is not the ID token's sub");
    }
    if (err instanceof client.WWWAuthenticateChallengeError) {
      throw new SsoStepError(
        "userinfo",
        `the user-info endpoint refused the access token (HTTP ${err.status}, a ${err.cause[0]?.scheme ?? "WWW-Authenticate"} challenge)`,
        idpErrorOf(err),
      );
    }
    throw new SsoStepError("userinfo", `the user-info call failed: ${errorDetail(err)}`, idpErrorOf(err));
  }
}

/**
 * The IdP half of a callback (SPEC §4 step 3): provider, code exchange, ID token check, then the
 * user-info call. The ID token's claims win where both have one (they are signed).
 *
 * - `login`: user-info only when the ID token lacks one of the `wanted` claims; when it carries
 *   every one, user-info could not change the outcome and the round trip is skipped (OIDC Core
 *   §5.4: claims may be returned in the ID token or from user-info).
 * - `test`: user-info whenever the IdP has the endpoint (SPEC §7: a test passes only when the
 *   user-info call succeeds), so a broken endpoint or one answering for another `sub` fails the
 *   test instead of the first sign-in whose ID token lacks a claim.
 */
export async function callbackClaims(
  ctx: AppContext,
  row: ConnectionRow,
  callbackQuery: string,
  checks: { state: string; nonce: string; codeVerifier: string; flowStartedAt: number },
  wanted: readonly (string | null)[],
  purpose: "login" | "test",
  dialect: OidcDialect,
  /** The protocol messages, raw, as they arrive (the trace redacts them before it keeps any). */
  messages: ProtocolMessage[] = [],
): Promise<Record<string, unknown>> {
  const at = () => ctx.now().toISOString();
  messages.push({ name: "callback", at: at(), data: { query: callbackQuery } });
  const provider = await providerFor(ctx, row, dialect);
  const tokens = await exchangeCode(provider, row, callbackQuery, checks);
  messages.push({ name: "token_response", at: at(), data: tokens.response });
  messages.push({ name: "id_token", at: at(), data: { jwt: tokens.idToken } });
  const idClaims: Record<string, unknown> = await verifyIdToken(ctx, provider, row, tokens.idToken, checks);
  if (purpose === "test") {
    if (!provider.userinfoEndpoint) return idClaims;
    if (!tokens.accessToken) {
      throw new SsoStepError("userinfo", "the token response has no access token for the user-info call");
    }
  } else if (wanted.every((name) => name === null || claim(idClaims, name) !== undefined)) {
    return idClaims;
  }
  const userinfo = await fetchUserinfo(provider, tokens.accessToken, String(idClaims.sub));
  messages.push({ name: "userinfo_response", at: at(), data: userinfo });
  return { ...userinfo, ...idClaims };
}
