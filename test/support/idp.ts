/**
 * In-process test identity providers built on oidc-provider v9.
 *
 * `startIdp()` runs a REAL OpenID provider on 127.0.0.1 (random port, plain http) that behaves like a
 * generic OIDC IdP, Entra ID (Azure), Okta, Auth0 or Google, with one confidential client, a tiny HTML login
 * page (fields `login` / `password`, button "Sign in") that grants consent in the same form post, and hooks
 * to rotate keys, tamper with token responses and the redirect's `iss`, and take the server down.
 *
 * The exported helpers (`withAlgNone`, `withBadSignature`, `resignWith`, `hs256WithPublicKey`, ...) build
 * forged ID tokens from a real one for negative tests.
 */
import { createHmac, createPublicKey, type JsonWebKey, randomBytes } from "node:crypto";
import type http from "node:http";
import {
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  SignJWT,
} from "jose";
import type {
  Adapter,
  AdapterPayload,
  Configuration,
  KoaContextWithOIDC,
  default as ProviderClass,
} from "oidc-provider";
import { escapeHtml, loginInteractions, page } from "./idp-interactions.js";
import { applyPatch, b64json } from "./jwt.js";
import { type DownMode, startLoopbackServer } from "./loopback-server.js";

// ---------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------

export type IdpProfile = "generic" | "azure" | "okta" | "auth0" | "google";
export type IdTokenAlg = "RS256" | "ES256";
export type TokenEndpointAuthMethod = "client_secret_basic" | "client_secret_post";

/** How a "down" IdP misbehaves (loopback-server.ts); its `error` mode answers a 503 with a JSON error body. */
export type { DownMode };

export interface IdpAccount {
  /** The subject (`sub`) and oidc-provider account id. */
  sub: string;
  /** Claims returned in the ID token AND at the userinfo endpoint. A claim set to `undefined` is omitted. */
  claims: Record<string, unknown>;
  /** When set the login form requires it; otherwise any password (even empty) is accepted. */
  password?: string;
}

/** The token endpoint's JSON body as oidc-provider sends it. */
export interface TokenEndpointBody {
  access_token?: string;
  id_token?: string;
  token_type?: string;
  expires_in?: number;
  scope?: string;
  [key: string]: unknown;
}

/** Rewrites the token endpoint response; return the new body (or mutate the given one and return nothing). */
export type TamperFn = (
  body: TokenEndpointBody,
  idp: Idp,
) => TokenEndpointBody | undefined | Promise<TokenEndpointBody | undefined>;

/**
 * Rewrites the user-info endpoint's answer: gets the claims oidc-provider would send (and its status),
 * returns the status and JSON body to send instead (or nothing to leave the answer alone).
 */
export type UserinfoTamperFn = (
  body: Record<string, unknown>,
  status: number,
) => { status: number; body: unknown } | undefined;

export interface IdpOptions {
  /** Vendor behaviour; default `generic`. */
  profile?: IdpProfile;
  /** Redirect URIs of the registered client, e.g. `http://acme.localhost:3000/login/sso`. */
  redirectUris?: string[];
  clientId?: string;
  clientSecret?: string;
  /** Default `client_secret_basic`. oidc-provider enforces the registered method. */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /** Default `RS256`. */
  idTokenSignedResponseAlg?: IdTokenAlg;
  /** Accounts; defaults to one profile-typical account (see `defaultAccounts`). */
  accounts?: IdpAccount[];
  /** azure only: the directory (tenant) id; default {@link DEFAULT_AZURE_TENANT_ID}. */
  tenantId?: string;
  /**
   * azure only: also serve Microsoft's multi-tenant discovery documents at `/common/v2.0` and
   * `/organizations/v2.0`, whose `issuer` is the literal template `http://127.0.0.1:<port>/{tenantid}/v2.0`
   * and whose endpoints live under that prefix (ID tokens still carry the tenant's real issuer).
   */
  azureTemplateIssuer?: boolean;
  /**
   * azure only: verified domains of the tenant (e.g. `contoso.onmicrosoft.com`). Like Entra, the
   * metadata URL `http://127.0.0.1:<port>/<domain>/v2.0/.well-known/openid-configuration` serves the
   * tenant's own document: its issuer and endpoints name the tenant by its GUID, not the domain.
   */
  azureDomains?: string[];
  /** generic / okta / google only: a path for the issuer, e.g. `/oauth2/default` (Okta custom server). */
  issuerPath?: string;
  /**
   * RFC 9207: `undefined` leaves the `iss` parameter of the authorization response alone, a string replaces
   * it with that (wrong) value, `null` removes it. Changeable later with `setTamperRedirectIss`.
   */
  tamperRedirectIss?: string | null;
  /**
   * Refuse token requests that authenticate with the other secret method (basic vs post) than the registered
   * one, like Okta and Auth0 do (oidc-provider alone accepts both). Default true.
   */
  strictTokenEndpointAuthMethod?: boolean;
  /** Extra claim names to support besides the accounts' own claims (rarely needed). */
  extraClaimNames?: string[];
}

export interface IdpRequestLogEntry {
  method: string;
  /** Path + query as received. */
  url: string;
}

export interface IdpEndpoints {
  authorization: string;
  token: string;
  userinfo: string;
  jwks: string;
}

export interface SignIdTokenOptions {
  /** Default: the client's `id_token_signed_response_alg`. */
  alg?: IdTokenAlg;
  /** Override the `kid` header (e.g. a kid the IdP does not publish). */
  kid?: string;
  /** Extra protected header parameters. */
  header?: Record<string, unknown>;
}

export interface Idp {
  readonly profile: IdpProfile;
  /** The issuer identifier exactly as it appears in discovery and in `iss` claims. */
  readonly issuer: string;
  /** `<issuer>/.well-known/openid-configuration` (no doubled slash for Auth0's trailing-slash issuer). */
  readonly discoveryUrl: string;
  /** azure with `azureTemplateIssuer`: `http://127.0.0.1:<port>/common/v2.0/.well-known/openid-configuration`. */
  readonly commonDiscoveryUrl: string | undefined;
  /** azure with `azureTemplateIssuer`: `http://127.0.0.1:<port>/{tenantid}/v2.0`. */
  readonly templateIssuer: string | undefined;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly port: number;
  /** azure only. */
  readonly tenantId: string | undefined;
  /** azure with `azureDomains`: the metadata URL of the tenant named by one of those domains. */
  domainDiscoveryUrl(domain: string): string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUris: readonly string[];
  readonly tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  readonly idTokenSignedResponseAlg: IdTokenAlg;
  readonly endpoints: IdpEndpoints;
  /** The live account list: mutate it (or use `setClaims` / `patchClaims` / `addAccount`) between sign-ins. */
  readonly accounts: IdpAccount[];
  /** Every request the server received, in order (including ones refused while down). */
  readonly requests: IdpRequestLogEntry[];
  /** How many times the JWKS was fetched. */
  readonly jwksFetches: number;
  /** kid of the key currently signing ID tokens for the client's algorithm. */
  readonly currentKid: string;
  /** Replace the signing keys (RSA and EC) with new ones; returns the new kid for the client's algorithm. */
  rotateKeys(options?: { keepPrevious?: boolean }): Promise<string>;
  /** The published JWKS (public keys). */
  publicJwks(): { keys: JWK[] };
  /** The current private signing JWK for an algorithm (default: the client's). */
  privateJwk(alg?: IdTokenAlg): JWK;
  /** Replace all claims of an account. */
  setClaims(sub: string, claims: Record<string, unknown>): void;
  /** Merge claims into an account (`undefined` values remove a claim). */
  patchClaims(sub: string, patch: Record<string, unknown>): void;
  addAccount(account: IdpAccount): void;
  /** Change the registered client (rebuilds the provider; sessions and codes survive). */
  updateClient(patch: {
    redirectUris?: string[];
    tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
    idTokenSignedResponseAlg?: IdTokenAlg;
  }): void;
  /** Install (or remove with `null`) a token endpoint response rewriter. */
  setTamper(fn: TamperFn | null): void;
  /** Install (or remove with `null`) a user-info endpoint response rewriter (a broken endpoint, another sub). */
  setTamperUserinfo(fn: UserinfoTamperFn | null): void;
  /** See `IdpOptions.tamperRedirectIss`. */
  setTamperRedirectIss(value: string | null | undefined): void;
  /** Take the server down / bring it back. Await it (the `refuse` mode closes and re-opens the port). */
  setDown(down: boolean, mode?: DownMode): Promise<void>;
  /**
   * Sign an ID token with the IdP's REAL current key. Defaults (`iss`, `aud` = client id, `iat`, `exp` in
   * 5 minutes, `sub` of the first account) are overridden by `claims`; `undefined` values remove a claim.
   */
  signIdToken(claims: Record<string, unknown>, options?: SignIdTokenOptions): Promise<string>;
  /** Decode a real ID token, merge `patch` into its claims, re-sign with the IdP's REAL current key. */
  patchIdToken(
    idToken: string,
    patch: Record<string, unknown>,
    options?: SignIdTokenOptions,
  ): Promise<string>;
  /** Stops the server and frees the port. */
  close(): Promise<void>;
}

/** Default Entra ID tenant (directory) id used by the azure profile. */
export const DEFAULT_AZURE_TENANT_ID = "6d3c6b0e-4f2a-4c8e-9a51-2b7f0c1d9e84";

const RESERVED_CLAIMS = new Set([
  "iss",
  "aud",
  "exp",
  "iat",
  "nbf",
  "jti",
  "nonce",
  "at_hash",
  "c_hash",
  "s_hash",
  "auth_time",
  "acr",
  "amr",
  "azp",
  "sid",
  "sub",
]);

const BASE_CLAIM_NAMES = [
  "email",
  "email_verified",
  "name",
  "given_name",
  "family_name",
  "preferred_username",
  "picture",
  "locale",
  "oid",
  "tid",
  "ver",
  "upn",
  "userPrincipalName",
  "xms_edov",
  "hd",
  "groups",
  "roles",
];

/** Profile-typical default accounts (used when `options.accounts` is not given). */
export function defaultAccounts(profile: IdpProfile, tenantId = DEFAULT_AZURE_TENANT_ID): IdpAccount[] {
  switch (profile) {
    case "azure":
      return [
        {
          sub: "AAAAAAAAAAAAAAAAAAAAAKc9d8Qm1WJ0HkQn1Ej2rUo",
          claims: {
            oid: "00000000-0000-0000-66f3-3332eca7ea81",
            tid: tenantId,
            preferred_username: "alice@contoso.onmicrosoft.com",
            userPrincipalName: "alice@contoso.onmicrosoft.com",
            email: "alice@contoso.com",
            name: "Alice Contoso",
          },
        },
      ];
    case "google":
      return [
        {
          sub: "110169484474386276334",
          claims: {
            email: "alice@acme.example",
            email_verified: true,
            hd: "acme.example",
            name: "Alice Acme",
          },
        },
      ];
    case "okta":
      return [
        {
          sub: "00u1a2b3c4d5e6f7g8h9",
          claims: { email: "alice@acme.example", email_verified: true, name: "Alice Okta" },
        },
      ];
    case "auth0":
      return [
        {
          sub: "auth0|64f1c2d3e4f5a6b7c8d9e0f1",
          claims: { email: "alice@acme.example", email_verified: true, name: "Alice Auth0" },
        },
      ];
    default:
      return [
        {
          sub: "user-alice",
          claims: { email: "alice@acme.example", email_verified: true, name: "Alice Example" },
        },
      ];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Forged-token helpers (no IdP needed)
// ---------------------------------------------------------------------------------------------------------

/** Split a compact JWS and decode its header and payload (no verification). */
export function decodeJwtParts(token: string): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signature: string;
} {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("not a compact JWS");
  return {
    header: decodeProtectedHeader(token) as Record<string, unknown>,
    payload: decodeJwt(token) as Record<string, unknown>,
    signature: parts[2] ?? "",
  };
}

/** The same claims (optionally patched) with `{"alg":"none"}` and an empty signature: `header.payload.` */
export function withAlgNone(idToken: string, claimsPatch?: Record<string, unknown>): string {
  const { header, payload } = decodeJwtParts(idToken);
  const newHeader = applyPatch(header, { alg: "none", kid: undefined });
  return `${b64json(newHeader)}.${b64json(applyPatch(payload, claimsPatch))}.`;
}

/** The same token with some signature bytes flipped (header and payload untouched). */
export function withBadSignature(idToken: string): string {
  const [h, p, s] = idToken.split(".");
  if (h === undefined || p === undefined || s === undefined) throw new Error("not a compact JWS");
  const sig = Buffer.from(s, "base64url");
  if (sig.length === 0) throw new Error("token has no signature");
  for (let i = 0; i < Math.min(8, sig.length); i++) {
    const index = Math.floor((sig.length * (i + 1)) / 9);
    sig[index] = (sig[index] ?? 0) ^ 0xff;
  }
  return `${h}.${p}.${sig.toString("base64url")}`;
}

/**
 * Re-sign a token's (patched) claims with another key — typically a foreign key the IdP never published.
 * The header keeps the original `kid` unless `options.kid` is given (`null` removes it), so a relying party
 * finds the IdP's real key by kid and the signature check must fail.
 */
export async function resignWith(
  idToken: string,
  claimsPatch: Record<string, unknown>,
  key: JWK | CryptoKey,
  options: { alg?: string; kid?: string | null; header?: Record<string, unknown> } = {},
): Promise<string> {
  const { header, payload } = decodeJwtParts(idToken);
  const jwkAlg = isJwk(key) ? key.alg : undefined;
  const alg = options.alg ?? jwkAlg ?? (typeof header.alg === "string" ? header.alg : "RS256");
  const signingKey = isJwk(key) ? await importJWK(key, alg) : key;
  const kid = options.kid === null ? undefined : (options.kid ?? (header.kid as string | undefined));
  const protectedHeader = applyPatch({ ...header, ...options.header }, { alg, kid });
  return new SignJWT(applyPatch(payload, claimsPatch) as JWTPayload)
    .setProtectedHeader(protectedHeader as { alg: string })
    .sign(signingKey);
}

function isJwk(key: JWK | CryptoKey): key is JWK {
  return typeof (key as JWK).kty === "string";
}

/**
 * The classic algorithm-confusion forgery: `alg: HS256`, HMAC keyed with the IdP's PUBLIC key. `secret`
 * picks the byte string a confused verifier would use: the SPKI PEM (default, what vulnerable libraries
 * load), the SPKI DER, or the JWK JSON.
 */
export function hs256WithPublicKey(
  idToken: string,
  publicJwk: JWK,
  options: {
    claimsPatch?: Record<string, unknown>;
    secret?: "pem" | "der" | "jwk";
    kid?: string | null;
  } = {},
): string {
  const { header, payload } = decodeJwtParts(idToken);
  const publicOnly = publicJwkOf(publicJwk);
  const keyObject = createPublicKey({ key: publicOnly as JsonWebKey, format: "jwk" });
  let secret: Buffer;
  switch (options.secret ?? "pem") {
    case "der":
      secret = keyObject.export({ type: "spki", format: "der" });
      break;
    case "jwk":
      secret = Buffer.from(JSON.stringify(publicOnly));
      break;
    default:
      secret = Buffer.from(keyObject.export({ type: "spki", format: "pem" }) as string);
  }
  const kid = options.kid === null ? undefined : (options.kid ?? (header.kid as string | undefined));
  const signingInput = `${b64json(applyPatch(header, { alg: "HS256", kid }))}.${b64json(applyPatch(payload, options.claimsPatch))}`;
  const signature = createHmac("sha256", secret).update(signingInput).digest("base64url");
  return `${signingInput}.${signature}`;
}

/** A fresh signing key pair as JWKs (with `kid`, `alg`, `use`), e.g. a foreign key for `resignWith`. */
export async function generateSigningJwk(alg: IdTokenAlg | "RS384" | "PS256" = "RS256"): Promise<{
  privateJwk: JWK;
  publicJwk: JWK;
  kid: string;
}> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwkOf(privateJwk));
  Object.assign(privateJwk, { kid, alg, use: "sig" });
  return { privateJwk, publicJwk: publicJwkOf(privateJwk), kid };
}

/** Strip the private members of a JWK. */
export function publicJwkOf(jwk: JWK): JWK {
  const {
    d: _d,
    p: _p,
    q: _q,
    dp: _dp,
    dq: _dq,
    qi: _qi,
    oth: _oth,
    k: _k,
    priv: _priv,
    ...rest
  } = jwk as JWK & { priv?: string };
  return rest;
}

// ---------------------------------------------------------------------------------------------------------
// oidc-provider loading (silences its "Unsupported runtime" notice on Node 20) and a per-IdP adapter
// ---------------------------------------------------------------------------------------------------------

let providerModule: Promise<typeof ProviderClass> | undefined;

function loadProvider(): Promise<typeof ProviderClass> {
  providerModule ??= (async () => {
    const originalWarn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === "string" && args[0].startsWith("oidc-provider WARNING: Unsupported runtime"))
        return;
      originalWarn(...args);
    };
    try {
      return (await import("oidc-provider")).default;
    } finally {
      console.warn = originalWarn;
    }
  })();
  return providerModule;
}

interface StoredEntry {
  payload: AdapterPayload;
  expiresAt: number;
}

/** An in-memory oidc-provider adapter whose storage belongs to one IdP (and survives provider rebuilds). */
function memoryAdapterFactory(store: Map<string, StoredEntry>): (model: string) => Adapter {
  const get = (key: string): StoredEntry | undefined => {
    const entry = store.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry;
  };
  const index = new Map<string, string>();
  const grants = new Map<string, Set<string>>();

  return (model: string): Adapter => {
    const keyFor = (id: string) => `${model}:${id}`;
    const find = async (id: string | undefined) => (id === undefined ? undefined : get(keyFor(id))?.payload);
    return {
      async upsert(id, payload, expiresIn) {
        const key = keyFor(id);
        store.set(key, {
          payload,
          expiresAt: typeof expiresIn === "number" ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY,
        });
        if (model === "Session" && typeof payload.uid === "string")
          index.set(`sessionUid:${payload.uid}`, id);
        if (typeof payload.userCode === "string") index.set(`userCode:${payload.userCode}`, id);
        if (typeof payload.grantId === "string") {
          const members = grants.get(payload.grantId) ?? new Set<string>();
          members.add(key);
          grants.set(payload.grantId, members);
        }
      },
      find,
      async findByUid(uid) {
        return find(index.get(`sessionUid:${uid}`));
      },
      async findByUserCode(userCode) {
        return find(index.get(`userCode:${userCode}`));
      },
      async consume(id) {
        const entry = get(keyFor(id));
        if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        store.delete(keyFor(id));
      },
      async revokeByGrantId(grantId) {
        for (const key of grants.get(grantId) ?? []) store.delete(key);
        grants.delete(grantId);
      },
    };
  };
}

// ---------------------------------------------------------------------------------------------------------
// Small http helpers
// ---------------------------------------------------------------------------------------------------------

const PROFILE_NAMES: Record<IdpProfile, string> = {
  generic: "Test IdP",
  azure: "Test Entra ID",
  okta: "Test Okta",
  auth0: "Test Auth0",
  google: "Test Google",
};

// ---------------------------------------------------------------------------------------------------------
// startIdp
// ---------------------------------------------------------------------------------------------------------

interface KeyPairJwks {
  rsa: JWK;
  ec: JWK;
}

async function generateKeySet(): Promise<KeyPairJwks> {
  const [rsa, ec] = await Promise.all([generateSigningJwk("RS256"), generateSigningJwk("ES256")]);
  return { rsa: rsa.privateJwk, ec: ec.privateJwk };
}

// RSA key generation is slow (~0.1-0.5 s); keep one key set generated ahead in the background so that
// consecutive startIdp()/rotateKeys() calls overlap it with other work. Every IdP still gets unique keys.
let spareKeySet: Promise<KeyPairJwks> | undefined;

function takeKeySet(): Promise<KeyPairJwks> {
  const taken = spareKeySet ?? generateKeySet();
  spareKeySet = generateKeySet();
  spareKeySet.catch(() => {
    spareKeySet = undefined;
  });
  return taken;
}

/** Start a test IdP. Always `await idp.close()` (e.g. in `afterAll`). */
export async function startIdp(options: IdpOptions = {}): Promise<Idp> {
  const Provider = await loadProvider();
  const profile: IdpProfile = options.profile ?? "generic";
  const tenantId = profile === "azure" ? (options.tenantId ?? DEFAULT_AZURE_TENANT_ID) : undefined;
  const accounts: IdpAccount[] = options.accounts ?? defaultAccounts(profile, tenantId);
  const requests: IdpRequestLogEntry[] = [];
  const store = new Map<string, StoredEntry>();
  const adapter = memoryAdapterFactory(store);
  const cookieKeys = [randomBytes(32).toString("base64url")];

  let client = {
    clientId: options.clientId ?? `test-client-${profile}`,
    clientSecret: options.clientSecret ?? randomBytes(24).toString("base64url"),
    redirectUris: [...(options.redirectUris ?? ["http://127.0.0.1/callback"])],
    tokenEndpointAuthMethod:
      options.tokenEndpointAuthMethod ?? ("client_secret_basic" as TokenEndpointAuthMethod),
    idTokenSignedResponseAlg: options.idTokenSignedResponseAlg ?? ("RS256" as IdTokenAlg),
  };
  let keys = await takeKeySet();
  let previousKeys: KeyPairJwks[] = [];
  let tamper: TamperFn | null = null;
  let tamperUserinfo: UserinfoTamperFn | null = null;
  let redirectIss: string | null | undefined = options.tamperRedirectIss;
  let jwksFetches = 0;
  const strictAuthMethod = options.strictTokenEndpointAuthMethod ?? true;

  // Listen first: the issuer needs the port.
  const loopback = await startLoopbackServer(
    (req, res) => {
      void handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          res.statusCode = 500;
          res.setHeader("Content-Type", "text/plain");
          res.end(`test idp error: ${error instanceof Error ? error.message : String(error)}`);
        } else {
          res.destroy();
        }
      });
    },
    {
      onRequest: (req) => requests.push({ method: req.method ?? "GET", url: req.url ?? "/" }),
      answerError: (res) => {
        res.setHeader("Content-Type", "application/json");
        res.end(JSON.stringify({ error: "temporarily_unavailable" }));
      },
    },
  );
  const { port, origin } = loopback;

  let mountPath = "";
  if (profile === "azure") mountPath = `/${tenantId}/v2.0`;
  else if (options.issuerPath && profile !== "auth0") {
    mountPath = `/${options.issuerPath.replace(/^\/+|\/+$/g, "")}`;
  }
  const issuer = profile === "auth0" ? `${origin}/` : `${origin}${mountPath}`;
  const discoveryUrl = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  const templateMounts =
    profile === "azure" && options.azureTemplateIssuer ? ["/common/v2.0", "/organizations/v2.0"] : [];
  const templateIssuer = templateMounts.length ? `${origin}/{tenantid}/v2.0` : undefined;
  const commonDiscoveryUrl = templateMounts.length
    ? `${origin}/common/v2.0/.well-known/openid-configuration`
    : undefined;
  const mounts = [mountPath, ...templateMounts];
  const domainDiscoveryPaths = new Set(
    profile === "azure"
      ? (options.azureDomains ?? []).map((d) => `/${d.toLowerCase()}/v2.0/.well-known/openid-configuration`)
      : [],
  );
  const interactionPrefix = `${mountPath}/interaction/`;
  const endpoints: IdpEndpoints = {
    authorization: `${origin}${mountPath}/auth`,
    token: `${origin}${mountPath}/token`,
    userinfo: `${origin}${mountPath}/me`,
    jwks: `${origin}${mountPath}/jwks`,
  };

  // ---- claims ----
  const accountClaims = (account: IdpAccount): Record<string, unknown> => {
    const claims: Record<string, unknown> = {};
    if (profile === "azure") {
      claims.ver = "2.0";
      claims.tid = tenantId;
    }
    for (const [key, value] of Object.entries(account.claims)) {
      if (key === "sub") continue;
      if (value === undefined) delete claims[key];
      else claims[key] = value;
    }
    return { sub: account.sub, ...claims };
  };
  const claimNames = (): string[] => {
    const names = new Set<string>([...BASE_CLAIM_NAMES, ...(options.extraClaimNames ?? [])]);
    for (const account of accounts) for (const key of Object.keys(account.claims)) names.add(key);
    return [...names].filter((name) => !RESERVED_CLAIMS.has(name)).sort();
  };
  const findAccountByLogin = (login: string): IdpAccount | undefined => {
    const wanted = login.trim().toLowerCase();
    if (!wanted) return undefined;
    return (
      accounts.find((a) => a.sub === login.trim()) ??
      accounts.find((a) =>
        ["email", "preferred_username", "userPrincipalName", "upn"].some(
          (field) =>
            typeof a.claims[field] === "string" && (a.claims[field] as string).toLowerCase() === wanted,
        ),
      )
    );
  };

  // ---- provider (rebuilt on key rotation, client change, or new claim names) ----
  let provider!: ProviderClass;
  let providerCallback!: (req: http.IncomingMessage, res: http.ServerResponse) => unknown;
  let builtClaimNames = "";

  const build = (): void => {
    const names = claimNames();
    builtClaimNames = names.join(",");
    const configuration: Configuration = {
      adapter,
      clients: [
        {
          client_id: client.clientId,
          client_secret: client.clientSecret,
          redirect_uris: client.redirectUris,
          response_types: ["code"],
          grant_types: ["authorization_code"],
          token_endpoint_auth_method: client.tokenEndpointAuthMethod,
          id_token_signed_response_alg: client.idTokenSignedResponseAlg,
        },
      ],
      jwks: { keys: [keys.rsa, keys.ec, ...previousKeys.flatMap((k) => [k.rsa, k.ec])] as never },
      cookies: {
        keys: cookieKeys,
        // Distinct names per port: two IdPs on 127.0.0.1 would otherwise overwrite each other's cookies.
        names: {
          session: `_session_${port}`,
          interaction: `_interaction_${port}`,
          resume: `_interaction_resume_${port}`,
        },
      },
      claims: { openid: ["sub", ...names] },
      scopes: ["openid", "profile", "email"],
      conformIdTokenClaims: false,
      responseTypes: ["code"],
      pkce: { required: () => true },
      enabledJWA: { idTokenSigningAlgValues: ["RS256", "ES256"] },
      features: {
        devInteractions: { enabled: false },
        claimsParameter: { enabled: true },
        rpInitiatedLogout: { enabled: false },
      },
      interactions: { url: (_ctx, interaction) => `${interactionPrefix}${interaction.uid}` },
      findAccount: (_ctx, sub) => {
        const account = accounts.find((a) => a.sub === sub);
        if (!account) return undefined;
        return { accountId: account.sub, claims: () => accountClaims(account) as { sub: string } };
      },
      renderError: (ctx, out) => {
        ctx.type = "html";
        const rows = Object.entries(out)
          .map(([k, v]) => `<p><strong>${escapeHtml(k)}</strong>: ${escapeHtml(String(v))}</p>`)
          .join("\n");
        ctx.body = page("Sign-in error", `<h1>Sign-in error</h1>\n${rows}`);
      },
      clientBasedCORS: () => true,
      ttl: {
        AccessToken: 3600,
        AuthorizationCode: 60,
        BackchannelAuthenticationRequest: 600,
        ClientCredentials: 600,
        DeviceCode: 600,
        Grant: 86400,
        IdToken: 3600,
        Interaction: 3600,
        PreAuthorizedCode: 600,
        RefreshToken: 86400,
        Session: 86400,
      },
    };
    const next = new Provider(issuer, configuration);
    next.silent = true;
    next.use(async (ctx: KoaContextWithOIDC, nextMiddleware: () => Promise<unknown>) => {
      await nextMiddleware();
      await afterProvider(ctx);
    });
    provider = next;
    providerCallback = next.callback() as typeof providerCallback;
  };

  const afterProvider = async (ctx: KoaContextWithOIDC): Promise<void> => {
    const body = ctx.body as TokenEndpointBody | undefined;
    if (
      ctx.method === "POST" &&
      ctx.path.endsWith("/token") &&
      body &&
      typeof body === "object" &&
      body.id_token
    ) {
      const fn = tamper;
      if (fn) {
        const copy = { ...body };
        ctx.body = (await fn(copy, idp)) ?? copy;
      }
    }
    if (tamperUserinfo && ctx.path.endsWith("/me") && body && typeof body === "object") {
      const out = tamperUserinfo({ ...(body as Record<string, unknown>) }, ctx.status);
      if (out) {
        ctx.status = out.status;
        ctx.body = out.body;
      }
    }
    if (
      ctx.method === "GET" &&
      ctx.path.endsWith("/.well-known/openid-configuration") &&
      templateIssuer &&
      body &&
      typeof body === "object" &&
      templateMounts.some((m) => (ctx.req as { originalUrl?: string }).originalUrl?.startsWith(`${m}/`))
    ) {
      ctx.body = { ...body, issuer: templateIssuer };
    }
    if (redirectIss !== undefined && (ctx.status === 302 || ctx.status === 303)) {
      const location = ctx.response.get("Location");
      if (location) {
        const target = new URL(location, origin);
        const toClient = client.redirectUris.some((uri) => {
          const registered = new URL(uri);
          return registered.origin === target.origin && registered.pathname === target.pathname;
        });
        if (toClient && target.searchParams.has("iss")) {
          if (redirectIss === null) target.searchParams.delete("iss");
          else target.searchParams.set("iss", redirectIss);
          ctx.response.set("Location", target.href);
        }
      }
    }
  };

  build();

  // ---- interactions (login form + automatic consent) ----
  const loginPage = (uid: string, clientId: string, error?: string, login = ""): string =>
    page(
      `Sign in - ${PROFILE_NAMES[profile]}`,
      `<h1>Sign in to ${escapeHtml(PROFILE_NAMES[profile])}</h1>
<p>Application: <code>${escapeHtml(clientId)}</code></p>
${error ? `<p role="alert" id="error">${escapeHtml(error)}</p>\n` : ""}<form method="post" action="${escapeHtml(`${interactionPrefix}${uid}`)}">
<p><label for="login">Email or username</label><br><input id="login" name="login" type="text" autocomplete="username" value="${escapeHtml(login)}" autofocus></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><button type="submit">Sign in</button></p>
</form>
<form method="post" action="${escapeHtml(`${interactionPrefix}${uid}/abort`)}">
<p><button type="submit">Cancel</button></p>
</form>`,
    );

  const handleInteraction = loginInteractions({
    provider: () => provider,
    prefix: interactionPrefix,
    loginPage,
    authenticate: (login, password) => {
      const account = findAccountByLogin(login);
      return account && (account.password === undefined || account.password === password)
        ? account.sub
        : undefined;
    },
    invalidMessage: "Invalid login or password.",
    abortDescription: "End-User aborted interaction",
  });

  const authMethodMatches = (req: http.IncomingMessage): boolean => {
    if (!strictAuthMethod) return true;
    const basic = /^basic\s/i.test(req.headers.authorization ?? "");
    return client.tokenEndpointAuthMethod === "client_secret_basic" ? basic : !basic;
  };

  // ---- request dispatch ----
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const rawUrl = req.url ?? "/";
    let pathname = new URL(rawUrl, origin).pathname;
    if (domainDiscoveryPaths.has(pathname.toLowerCase())) {
      // Entra answers a domain tenant's metadata URL with the tenant's own (GUID-named) document.
      pathname = `${mountPath}/.well-known/openid-configuration`;
      req.url = pathname;
    }
    const url = req.url ?? rawUrl;

    if (pathname.startsWith(interactionPrefix)) {
      await handleInteraction(req, res, pathname);
      return;
    }

    if (claimNames().join(",") !== builtClaimNames) build();

    const mount = mounts
      .filter((m) => m === "" || pathname === m || pathname.startsWith(`${m}/`))
      .sort((a, b) => b.length - a.length)[0];
    if (mount === undefined) {
      res.statusCode = 404;
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ error: "not_found" }));
      return;
    }
    if (pathname.endsWith("/jwks")) jwksFetches++;
    if (req.method === "POST" && pathname === `${mount}/token` && !authMethodMatches(req)) {
      // oidc-provider accepts basic and post interchangeably; real IdPs (Okta, Auth0) enforce the registered one
      res.statusCode = 401;
      res.setHeader("Content-Type", "application/json");
      if (client.tokenEndpointAuthMethod === "client_secret_basic")
        res.setHeader("WWW-Authenticate", 'Basic realm="token"');
      res.end(
        JSON.stringify({
          error: "invalid_client",
          error_description: `client authentication failed (registered method: ${client.tokenEndpointAuthMethod})`,
        }),
      );
      return;
    }
    if (mount !== "") {
      (req as { originalUrl?: string }).originalUrl = url;
      req.url = url.slice(mount.length) || "/";
    }
    await providerCallback(req, res);
  };

  const accountBySub = (sub: string): IdpAccount => {
    const account = accounts.find((a) => a.sub === sub);
    if (!account) throw new Error(`test idp: no account with sub ${sub}`);
    return account;
  };

  const keyFor = (alg: IdTokenAlg): JWK => (alg === "ES256" ? keys.ec : keys.rsa);

  const signIdToken = async (
    claims: Record<string, unknown>,
    opts: SignIdTokenOptions = {},
  ): Promise<string> => {
    const alg = opts.alg ?? client.idTokenSignedResponseAlg;
    const jwk = keyFor(alg);
    const now = Math.floor(Date.now() / 1000);
    const defaults: Record<string, unknown> = {
      iss: issuer,
      aud: client.clientId,
      sub: accounts[0]?.sub ?? "user",
      iat: now,
      exp: now + 300,
    };
    const payload = applyPatch(defaults, claims);
    const header = applyPatch(
      { alg, kid: jwk.kid, ...opts.header },
      opts.kid !== undefined ? { kid: opts.kid } : {},
    );
    return new SignJWT(payload as JWTPayload)
      .setProtectedHeader(header as { alg: string })
      .sign(await importJWK(jwk, alg));
  };

  const idp: Idp = {
    profile,
    issuer,
    discoveryUrl,
    commonDiscoveryUrl,
    templateIssuer,
    origin,
    port,
    tenantId,
    domainDiscoveryUrl: (domain) => `${origin}/${domain}/v2.0/.well-known/openid-configuration`,
    get clientId() {
      return client.clientId;
    },
    get clientSecret() {
      return client.clientSecret;
    },
    get redirectUris() {
      return client.redirectUris;
    },
    get tokenEndpointAuthMethod() {
      return client.tokenEndpointAuthMethod;
    },
    get idTokenSignedResponseAlg() {
      return client.idTokenSignedResponseAlg;
    },
    endpoints,
    accounts,
    requests,
    get jwksFetches() {
      return jwksFetches;
    },
    get currentKid() {
      return keyFor(client.idTokenSignedResponseAlg).kid ?? "";
    },
    async rotateKeys({ keepPrevious = false } = {}) {
      const fresh = await takeKeySet();
      previousKeys = keepPrevious ? [keys, ...previousKeys] : [];
      keys = fresh;
      build();
      return keyFor(client.idTokenSignedResponseAlg).kid ?? "";
    },
    publicJwks() {
      return { keys: [keys.rsa, keys.ec, ...previousKeys.flatMap((k) => [k.rsa, k.ec])].map(publicJwkOf) };
    },
    privateJwk(alg = client.idTokenSignedResponseAlg) {
      return { ...keyFor(alg) };
    },
    setClaims(sub, claims) {
      accountBySub(sub).claims = { ...claims };
    },
    patchClaims(sub, patch) {
      const account = accountBySub(sub);
      account.claims = applyPatch(account.claims, patch);
    },
    addAccount(account) {
      accounts.push(account);
    },
    updateClient(patch) {
      client = {
        ...client,
        ...(patch.redirectUris ? { redirectUris: [...patch.redirectUris] } : {}),
        ...(patch.tokenEndpointAuthMethod ? { tokenEndpointAuthMethod: patch.tokenEndpointAuthMethod } : {}),
        ...(patch.idTokenSignedResponseAlg
          ? { idTokenSignedResponseAlg: patch.idTokenSignedResponseAlg }
          : {}),
      };
      build();
    },
    setTamper(fn) {
      tamper = fn;
    },
    setTamperUserinfo(fn) {
      tamperUserinfo = fn;
    },
    setTamperRedirectIss(value) {
      redirectIss = value;
    },
    setDown: (isDown, mode) => loopback.setDown(isDown, mode),
    signIdToken,
    async patchIdToken(idToken, patch, opts) {
      const { payload } = decodeJwtParts(idToken);
      return signIdToken(applyPatch(payload, patch), opts);
    },
    close: () => loopback.close(),
  };
  return idp;
}
