/**
 * A fake Cloudflare Access team domain on loopback: `GET /cdn-cgi/access/certs` in Cloudflare's JSON shape
 * (two RS256 keys, current + previous, with self-signed certificates), key rotation, downtime, and signing of
 * Access JWTs (`Cf-Access-Jwt-Assertion`) — valid ones and forged ones.
 */
import {
  createHash,
  createHmac,
  generateKeyPair as generateNodeKeyPair,
  type KeyObject,
  randomBytes,
  randomUUID,
  sign as signBytes,
} from "node:crypto";
import { promisify } from "node:util";
import { importJWK, type JWK, jwtVerify, SignJWT } from "jose";
import { applyPatch, b64json } from "./jwt.js";
import { type DownMode, startLoopbackServer } from "./loopback-server.js";

/** How the double misbehaves when down (loopback-server.ts); `error` answers a plain-text 503. */
export type CloudflareDownMode = DownMode;

export interface CloudflareKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Public JWK exactly as published: `{ kid, kty, alg, use, e, n }`. */
  publicJwk: JWK;
  /** Self-signed X.509 certificate (PEM) for the key, as in `public_cert(s)`. */
  certPem: string;
}

export interface CloudflareCertsDocument {
  keys: JWK[];
  public_cert: { kid: string; cert: string };
  public_certs: { kid: string; cert: string }[];
}

export interface CloudflareSignOptions {
  /**
   * Which of the fake's keys signs: `current` (default), `previous`, or `next` — the key `rotate()` will
   * publish, i.e. a kid the certs endpoint does not list yet.
   */
  use?: "current" | "previous" | "next";
  /** Override the `kid` header. */
  kid?: string;
  /** Algorithm (default RS256; RS384 / RS512 / PS256 possible with the RSA keys). */
  alg?: string;
  /** Sign with another key (a foreign KeyObject, CryptoKey or private JWK); `kid` defaults to the current. */
  key?: KeyObject | CryptoKey | JWK;
  /** Extra protected header parameters. */
  header?: Record<string, unknown>;
}

export interface CloudflareAccessOptions {
  /** The Application Audience (AUD) tag; default 64 random hex characters. */
  audTag?: string;
  /** The `iss` claim; default `http://127.0.0.1:<port>` (Cloudflare's is `https://<team domain>`). */
  issuer?: string;
  /** Default `email` of signed assertions; default `alice@acme.example`. */
  email?: string;
}

export interface CloudflareRequestLogEntry {
  method: string;
  url: string;
}

export interface FakeCloudflareAccess {
  /** `127.0.0.1:<port>` — what an admin would enter as the team domain (minus the https). */
  readonly teamDomain: string;
  /** `http://127.0.0.1:<port>` unless `options.issuer` was given. */
  readonly issuer: string;
  /** `http://127.0.0.1:<port>/cdn-cgi/access/certs` */
  readonly certsUrl: string;
  readonly origin: string;
  readonly port: number;
  readonly audTag: string;
  readonly currentKid: string;
  readonly previousKid: string;
  /** The kid `rotate()` will publish next (not listed by the certs endpoint yet). */
  readonly nextKid: string;
  readonly keys: { current: CloudflareKey; previous: CloudflareKey; next: CloudflareKey };
  /** Every request received, in order. */
  readonly requests: CloudflareRequestLogEntry[];
  /** How many times the certs endpoint was served (successfully). */
  readonly certsFetches: number;
  /** The current certs document. */
  certs(): CloudflareCertsDocument;
  /**
   * What `GET /cdn-cgi/access/get-identity` answers for this email (merged over `{ email, idp,
   * groups: [] }`), to a request whose `CF_Authorization` cookie is a valid assertion of this double.
   */
  setIdentity(email: string, identity: Record<string, unknown>): void;
  /** How many times get-identity answered an identity. */
  readonly identityFetches: number;
  /** Next becomes current, current becomes previous, the old previous is dropped; returns the new kid. */
  rotate(): Promise<string>;
  /** Take the server down / bring it back (await it; `refuse` closes and re-opens the port). */
  setDown(down: boolean, mode?: CloudflareDownMode): Promise<void>;
  /**
   * An Access JWT: defaults `aud: [audTag]`, `email`, `exp` (+24 h), `iat`, `nbf`, `iss`, `sub`, `type: "app"`,
   * `identity_nonce`, `country`, overridden by `claims` (`undefined` removes a claim).
   */
  sign(claims?: Record<string, unknown>, options?: CloudflareSignOptions): Promise<string>;
  /** Unsigned: header `{"alg":"none"}`, empty signature. */
  signNone(claims?: Record<string, unknown>): string;
  /** Algorithm confusion: HS256 keyed with the current public key (SPKI PEM by default). */
  signHs256WithPublicKey(
    claims?: Record<string, unknown>,
    options?: { secret?: "pem" | "der" | "jwk" },
  ): string;
  /** A service-token assertion: `common_name` = `<client id>.access`, empty `email` and `sub`. */
  signServiceToken(claims?: Record<string, unknown>, options?: CloudflareSignOptions): Promise<string>;
  /** The default claims `sign()` starts from (fresh timestamps). */
  defaultClaims(): Record<string, unknown>;
  close(): Promise<void>;
}

const generateRsa = promisify(generateNodeKeyPair);

// ---- minimal DER encoding, just enough for a self-signed X.509 v3 certificate ----

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

const sequence = (...parts: Buffer[]) => der(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => der(0x31, Buffer.concat(parts));

function integer(bytes: Buffer): Buffer {
  let value = bytes;
  while (value.length > 1 && value[0] === 0 && ((value[1] ?? 0) & 0x80) === 0) value = value.subarray(1);
  if (((value[0] ?? 0) & 0x80) !== 0) value = Buffer.concat([Buffer.from([0]), value]);
  return der(0x02, value);
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split(".").map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const chunk: number[] = [];
    let n = arc;
    do {
      chunk.unshift(n & 0x7f);
      n = Math.floor(n / 128);
    } while (n > 0);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] = (chunk[i] ?? 0) | 0x80;
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}

function utcTime(date: Date): Buffer {
  const pad = (n: number) => String(n).padStart(2, "0");
  const text = `${pad(date.getUTCFullYear() % 100)}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(
    date.getUTCHours(),
  )}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  return der(0x17, Buffer.from(text, "ascii"));
}

function selfSignedCertificate(privateKey: KeyObject, publicKey: KeyObject, commonName: string): string {
  const sha256WithRsa = sequence(oid("1.2.840.113549.1.1.11"), Buffer.from([0x05, 0x00]));
  const name = sequence(set(sequence(oid("2.5.4.3"), der(0x0c, Buffer.from(commonName, "utf8")))));
  const now = Date.now();
  const tbs = sequence(
    der(0xa0, integer(Buffer.from([2]))),
    integer(randomBytes(16)),
    sha256WithRsa,
    name,
    sequence(utcTime(new Date(now - 86_400_000)), utcTime(new Date(now + 365 * 86_400_000))),
    name,
    publicKey.export({ type: "spki", format: "der" }),
  );
  const signature = signBytes("sha256", tbs, privateKey);
  const certificate = sequence(tbs, sha256WithRsa, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const body = certificate.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN CERTIFICATE-----\n${body}${body.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`;
}

async function generateCloudflareKey(teamDomain: string): Promise<CloudflareKey> {
  const { privateKey, publicKey } = await generateRsa("rsa", { modulusLength: 2048 });
  // Cloudflare kids are 64 hex characters
  const kid = createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("hex");
  const { e, n } = publicKey.export({ format: "jwk" });
  return {
    kid,
    privateKey,
    publicKey,
    publicJwk: { kid, kty: "RSA", alg: "RS256", use: "sig", e, n },
    certPem: selfSignedCertificate(privateKey, publicKey, teamDomain),
  };
}

function isJwk(key: KeyObject | CryptoKey | JWK): key is JWK {
  return typeof (key as JWK).kty === "string";
}

/** The claims of a Cloudflare Access application token as Cloudflare issues them (24 h, type app). */
export function accessClaims(input: {
  issuer: string;
  aud: string;
  email: string;
  sub: string;
}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    aud: [input.aud],
    email: input.email,
    exp: now + 24 * 3600,
    iat: now,
    nbf: now,
    iss: input.issuer,
    type: "app",
    identity_nonce: randomBytes(12).toString("base64url"),
    sub: input.sub,
    country: "US",
  };
}

/** Start a fake Cloudflare Access team domain. Always `await cf.close()`. */
export async function startCloudflareAccess(
  options: CloudflareAccessOptions = {},
): Promise<FakeCloudflareAccess> {
  const audTag = options.audTag ?? randomBytes(32).toString("hex");
  const requests: CloudflareRequestLogEntry[] = [];
  let certsFetches = 0;

  const loopback = await startLoopbackServer(
    (req, res) => {
      const pathname = new URL(req.url ?? "/", "http://x").pathname;
      if (pathname === "/cdn-cgi/access/get-identity" && req.method === "GET") {
        void serveIdentity(req.headers.cookie ?? "", res);
        return;
      }
      if (pathname === "/cdn-cgi/access/certs" && (req.method === "GET" || req.method === "HEAD")) {
        certsFetches++;
        res.statusCode = 200;
        res.setHeader("Content-Type", "application/json");
        res.setHeader("Cache-Control", "no-store");
        res.end(req.method === "HEAD" ? undefined : JSON.stringify(certs()));
        return;
      }
      res.statusCode = 404;
      res.setHeader("Content-Type", "text/plain");
      res.end("Not Found");
    },
    {
      onRequest: (req) => requests.push({ method: req.method ?? "GET", url: req.url ?? "/" }),
      answerError: (res) => {
        res.setHeader("Content-Type", "text/plain");
        res.end("Service Unavailable");
      },
    },
  );
  const { port, origin } = loopback;
  const teamDomain = `127.0.0.1:${port}`;
  const issuer = options.issuer ?? origin;
  const certsUrl = `${origin}/cdn-cgi/access/certs`;

  /** SPEC §13: what get-identity answers per email (Cloudflare's shape: email, idp, groups, …). */
  const identities = new Map<string, Record<string, unknown>>();
  let identityFetches = 0;
  async function serveIdentity(cookieHeader: string, res: import("node:http").ServerResponse) {
    const token = /(?:^|;\s*)CF_Authorization=([^;]+)/.exec(cookieHeader)?.[1];
    let email: unknown;
    for (const key of [keys.current, keys.previous]) {
      if (!token || email) break;
      try {
        email = (await jwtVerify(token, key.publicKey, { audience: audTag })).payload.email;
      } catch {
        // not this key
      }
    }
    res.setHeader("Content-Type", "application/json");
    if (typeof email !== "string") {
      res.statusCode = 400;
      res.end(JSON.stringify({ err: "no valid CF_Authorization" }));
      return;
    }
    identityFetches++;
    res.statusCode = 200;
    res.end(
      JSON.stringify({ email, idp: { id: "idp-1", type: "okta" }, groups: [], ...identities.get(email) }),
    );
  }

  const [first, second, third] = await Promise.all([
    generateCloudflareKey(teamDomain),
    generateCloudflareKey(teamDomain),
    generateCloudflareKey(teamDomain),
  ]);
  const keys = { current: first, previous: second, next: third };

  function certs(): CloudflareCertsDocument {
    return {
      keys: [keys.current.publicJwk, keys.previous.publicJwk],
      public_cert: { kid: keys.current.kid, cert: keys.current.certPem },
      public_certs: [
        { kid: keys.current.kid, cert: keys.current.certPem },
        { kid: keys.previous.kid, cert: keys.previous.certPem },
      ],
    };
  }

  const defaultClaims = (): Record<string, unknown> =>
    accessClaims({ issuer, aud: audTag, email: options.email ?? "alice@acme.example", sub: randomUUID() });

  const sign = async (claims: Record<string, unknown> = {}, signOptions: CloudflareSignOptions = {}) => {
    const which = keys[signOptions.use ?? "current"];
    const alg = signOptions.alg ?? "RS256";
    let key: KeyObject | CryptoKey | Uint8Array = which.privateKey;
    if (signOptions.key) {
      const k = signOptions.key;
      key = isJwk(k) ? ((await importJWK(k, alg)) as CryptoKey) : k;
    }
    const header = applyPatch(
      { alg, kid: which.kid, typ: "JWT", ...signOptions.header },
      {
        ...(signOptions.kid !== undefined ? { kid: signOptions.kid } : {}),
      },
    );
    return new SignJWT(applyPatch(defaultClaims(), claims))
      .setProtectedHeader(header as { alg: string })
      .sign(key);
  };

  return {
    teamDomain,
    issuer,
    certsUrl,
    origin,
    port,
    audTag,
    get currentKid() {
      return keys.current.kid;
    },
    get previousKid() {
      return keys.previous.kid;
    },
    get nextKid() {
      return keys.next.kid;
    },
    keys,
    requests,
    get certsFetches() {
      return certsFetches;
    },
    certs,
    setIdentity(email, identity) {
      identities.set(email, identity);
    },
    get identityFetches() {
      return identityFetches;
    },
    async rotate() {
      const fresh = await generateCloudflareKey(teamDomain);
      keys.previous = keys.current;
      keys.current = keys.next;
      keys.next = fresh;
      return keys.current.kid;
    },
    setDown: (isDown, mode) => loopback.setDown(isDown, mode),
    sign,
    signNone(claims = {}) {
      return `${b64json({ alg: "none", typ: "JWT" })}.${b64json(applyPatch(defaultClaims(), claims))}.`;
    },
    signHs256WithPublicKey(claims = {}, hsOptions = {}) {
      const publicKey = keys.current.publicKey;
      let secret: Buffer;
      switch (hsOptions.secret ?? "pem") {
        case "der":
          secret = publicKey.export({ type: "spki", format: "der" });
          break;
        case "jwk":
          secret = Buffer.from(JSON.stringify(keys.current.publicJwk));
          break;
        default:
          secret = Buffer.from(publicKey.export({ type: "spki", format: "pem" }) as string);
      }
      const input = `${b64json({ alg: "HS256", kid: keys.current.kid, typ: "JWT" })}.${b64json(
        applyPatch(defaultClaims(), claims),
      )}`;
      return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
    },
    signServiceToken(claims = {}, signOptions = {}) {
      return sign(
        {
          email: "",
          sub: "",
          common_name: `${randomBytes(16).toString("hex")}.access`,
          identity_nonce: undefined,
          country: undefined,
          ...claims,
        },
        signOptions,
      );
    },
    defaultClaims,
    close: () => loopback.close(),
  };
}
