/**
 * A minimal, conforming OpenID provider for the benchmarks, built so that the IdP is never the
 * bottleneck: no login page, no password hashing, no storage but two in-memory maps.
 *
 *   GET  /.well-known/openid-configuration   discovery (OpenID Connect Discovery 1.0 §3)
 *   GET  /authorize                           code flow with PKCE S256: immediately 302 back to the
 *                                             redirect URI with `code`, `state` and `iss` (RFC 9207)
 *   POST /token                               client_secret_basic or client_secret_post; checks the
 *                                             code, client, redirect URI and PKCE verifier; returns an
 *                                             access token and an RS256 ID token (OIDC Core §2)
 *   GET  /userinfo                            the person's claims for a Bearer access token
 *   GET  /jwks                                the public signing key
 *   GET  /cdn-cgi/access/certs                the same key in Cloudflare Access's shape, so the IdP also
 *                                             plays a Cloudflare team domain (`127.0.0.1:<port>`)
 *
 * Who signs in is the benchmark client's choice, like an IdP session cookie: the `bench_user=<n>`
 * cookie (default 1) makes the person `sub-<n>` / `user<n>@bench.test`. The signing key is
 * generated once at start (RSA 2048); signing uses node:crypto directly. Any redirect URI on
 * loopback or `*.localhost` is accepted: this IdP only ever runs on loopback for the benchmarks.
 */
import {
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomUUID,
  sign as rsaSign,
  timingSafeEqual,
} from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { accessClaims } from "../test/support/cloudflare.js";

export interface FastIdpOptions {
  port?: number;
  clientId: string;
  clientSecret: string;
}

export interface FastIdp {
  issuer: string;
  port: number;
  discoveryUrl: string;
  /** `127.0.0.1:<port>`: what a Cloudflare Access connection takes as its team domain. */
  teamDomain: string;
  /** A Cloudflare Access application token for `email`, valid for a day. */
  signCloudflare(input: { email: string; sub: string; aud: string }): string;
  close(): Promise<void>;
}

interface Person {
  sub: string;
  email: string;
  name: string;
}

interface PendingCode {
  clientId: string;
  redirectUri: string;
  nonce: string | null;
  challenge: string;
  person: Person;
  expiresAt: number;
}

const CODE_TTL_MS = 60_000;
const TOKEN_TTL_MS = 120_000;

const b64url = (input: Buffer | string) => Buffer.from(input).toString("base64url");

function personOf(cookieHeader: string | undefined): Person {
  const match = /(?:^|;\s*)bench_user=([A-Za-z0-9_-]{1,64})/.exec(cookieHeader ?? "");
  const n = match?.[1] ?? "1";
  return { sub: `sub-${n}`, email: `user${n}@bench.test`, name: `User ${n}` };
}

function allowedRedirect(value: string | null): URL | null {
  if (!value) return null;
  try {
    const url = new URL(value);
    const host = url.hostname;
    if (url.protocol !== "http:") return null;
    return host === "127.0.0.1" || host === "localhost" || host.endsWith(".localhost") ? url : null;
  } catch {
    return null;
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function startFastIdp(options: FastIdpOptions): Promise<FastIdp> {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const publicJwk = publicKey.export({ format: "jwk" });
  const kid = createHash("sha256").update(`${publicJwk.n}.${publicJwk.e}`).digest("base64url").slice(0, 16);
  const jwks = JSON.stringify({ keys: [{ ...publicJwk, kid, alg: "RS256", use: "sig" }] });

  const codes = new Map<string, PendingCode>();
  const tokens = new Map<string, { person: Person; expiresAt: number }>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, v] of codes) if (v.expiresAt <= now) codes.delete(k);
    for (const [k, v] of tokens) if (v.expiresAt <= now) tokens.delete(k);
  }, 5_000);
  sweep.unref();

  let issuer = "";
  const signJwt = (key: KeyObject, payload: Record<string, unknown>) => {
    const input = `${b64url(JSON.stringify({ alg: "RS256", kid, typ: "JWT" }))}.${b64url(JSON.stringify(payload))}`;
    return `${input}.${b64url(rsaSign("sha256", Buffer.from(input), key))}`;
  };

  const json = (
    res: http.ServerResponse,
    status: number,
    body: unknown,
    extra: http.OutgoingHttpHeaders = {},
  ) => {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      ...extra,
    });
    res.end(text);
  };
  const oauthError = (res: http.ServerResponse, status: number, error: string, description: string) =>
    json(res, status, { error, error_description: description }, { "cache-control": "no-store" });

  const authorize = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    const q = url.searchParams;
    const redirect = allowedRedirect(q.get("redirect_uri"));
    if (!redirect || q.get("client_id") !== options.clientId) {
      return oauthError(res, 400, "invalid_request", "unknown client or redirect_uri");
    }
    const back = (params: Record<string, string>) => {
      for (const [k, v] of Object.entries(params)) redirect.searchParams.set(k, v);
      const state = q.get("state");
      if (state !== null) redirect.searchParams.set("state", state);
      redirect.searchParams.set("iss", issuer);
      res.writeHead(302, { location: redirect.href, "cache-control": "no-store" });
      res.end();
    };
    const scopes = (q.get("scope") ?? "").split(" ");
    if (q.get("response_type") !== "code") return back({ error: "unsupported_response_type" });
    if (!scopes.includes("openid")) return back({ error: "invalid_scope" });
    const challenge = q.get("code_challenge");
    if (!challenge || q.get("code_challenge_method") !== "S256") {
      return back({ error: "invalid_request", error_description: "PKCE S256 is required" });
    }
    const code = randomBytes(24).toString("base64url");
    codes.set(code, {
      clientId: options.clientId,
      redirectUri: q.get("redirect_uri")!,
      nonce: q.get("nonce"),
      challenge,
      person: personOf(req.headers.cookie),
      expiresAt: Date.now() + CODE_TTL_MS,
    });
    back({ code });
  };

  const token = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => {
    const form = new URLSearchParams(body);
    let clientId = form.get("client_id");
    let secret = form.get("client_secret");
    const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? "");
    if (basic) {
      const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " "));
      secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " "));
    }
    if (clientId !== options.clientId || !secret || !safeEqual(secret, options.clientSecret)) {
      return oauthError(res, 401, "invalid_client", "client authentication failed");
    }
    if (form.get("grant_type") !== "authorization_code") {
      return oauthError(res, 400, "unsupported_grant_type", "only authorization_code");
    }
    const code = form.get("code") ?? "";
    const pending = codes.get(code);
    codes.delete(code);
    if (!pending || pending.expiresAt <= Date.now() || pending.clientId !== clientId) {
      return oauthError(res, 400, "invalid_grant", "unknown or expired code");
    }
    if (form.get("redirect_uri") !== pending.redirectUri) {
      return oauthError(res, 400, "invalid_grant", "redirect_uri does not match");
    }
    const verifier = form.get("code_verifier") ?? "";
    if (createHash("sha256").update(verifier).digest("base64url") !== pending.challenge) {
      return oauthError(res, 400, "invalid_grant", "PKCE verification failed");
    }
    const accessToken = randomBytes(24).toString("base64url");
    tokens.set(accessToken, { person: pending.person, expiresAt: Date.now() + TOKEN_TTL_MS });
    const now = Math.floor(Date.now() / 1000);
    const idToken = signJwt(privateKey, {
      iss: issuer,
      sub: pending.person.sub,
      aud: clientId,
      iat: now,
      exp: now + 300,
      ...(pending.nonce ? { nonce: pending.nonce } : {}),
      email: pending.person.email,
      email_verified: true,
      name: pending.person.name,
    });
    json(
      res,
      200,
      {
        access_token: accessToken,
        token_type: "Bearer",
        expires_in: TOKEN_TTL_MS / 1000,
        scope: "openid profile email",
        id_token: idToken,
      },
      { "cache-control": "no-store", pragma: "no-cache" },
    );
  };

  const userinfo = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const entry = bearer ? tokens.get(bearer) : undefined;
    if (!entry || entry.expiresAt <= Date.now()) {
      res.writeHead(401, { "www-authenticate": 'Bearer error="invalid_token"' });
      res.end();
      return;
    }
    const { person } = entry;
    json(res, 200, { sub: person.sub, email: person.email, email_verified: true, name: person.name });
  };

  let discovery = "";
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    switch (`${req.method} ${url.pathname}`) {
      case "GET /.well-known/openid-configuration":
        return json(res, 200, discovery, { "cache-control": "max-age=3600" });
      case "GET /authorize":
        return authorize(req, res, url);
      case "POST /token": {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => token(req, res, Buffer.concat(chunks).toString("utf8")));
        return;
      }
      case "GET /userinfo":
        return userinfo(req, res);
      case "GET /jwks":
      case "GET /cdn-cgi/access/certs":
        return json(res, 200, jwks, { "cache-control": "max-age=3600" });
      default:
        res.writeHead(404);
        res.end();
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  issuer = `http://127.0.0.1:${port}`;
  discovery = JSON.stringify({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    userinfo_endpoint: `${issuer}/userinfo`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ["code"],
    grant_types_supported: ["authorization_code"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    code_challenge_methods_supported: ["S256"],
    scopes_supported: ["openid", "profile", "email"],
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name"],
    authorization_response_iss_parameter_supported: true,
  });

  return {
    issuer,
    port,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    teamDomain: `127.0.0.1:${port}`,
    signCloudflare({ email, sub, aud }) {
      return signJwt(privateKey, { ...accessClaims({ issuer, aud, email, sub }), jti: randomUUID() });
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweep);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
