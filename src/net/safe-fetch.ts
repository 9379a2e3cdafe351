/**
 * SSRF-guarded fetch for admin-entered IdP URLs (SPEC §10 "Operations").
 *
 * createSafeFetch returns a function with the WHATWG `fetch` signature (usable as openid-client's
 * `customFetch` and for JWKS downloads) that, for the first request and for every redirect hop:
 *
 *   1. allows `https:` only (`http:` too when private addresses are allowed — the demo and tests
 *      run on loopback http);
 *   2. refuses an IP-literal host that is not allowed, before anything is sent;
 *   3. for a host name, validates the DNS answer in the very lookup the connection uses: the
 *      shared undici Agent's `connect.lookup` resolves the name, refuses when ANY address is not
 *      allowed (see classifyAddress; OWASP SSRF Prevention Cheat Sheet, "DNS pinning") and hands
 *      exactly those validated addresses to the socket, so no second DNS answer can slip in between
 *      the check and the connect (DNS rebinding). Every new connection is checked this way; a pooled
 *      keep-alive connection was checked when it was opened and stays with its origin, so IdP calls
 *      do not pay a TCP (and TLS) handshake each. The URL host name is kept, so `Host`, SNI and TLS
 *      certificate validation (RFC 6125 / RFC 9110 §4.3.4) still use the host name;
 *   4. follows redirects itself (WHATWG Fetch §4.4 "HTTP-redirect fetch"), at most maxRedirects;
 *      a caller asking for `redirect: "manual"` (openid-client always does) gets the 3xx back;
 *   5. enforces one total deadline across DNS, connect, redirects and body, and a cap on the
 *      decoded body size; the body is buffered and returned as a plain global `Response`.
 *
 * Failures throw SafeFetchError with a `code`; messages name the host only, never a path or a
 * query string (which may carry a secret). An abort requested by the caller's own signal is
 * re-thrown as is.
 *
 * Address policy (classifyAddress, IANA IPv4/IPv6 Special-Purpose Address Registries,
 * RFC 6890): "public" addresses are always allowed; "private" ones (loopback, RFC 1918, ULA,
 * link-local, CGNAT, documentation, benchmarking, deprecated forms) only when allowPrivate is
 * set; "forbidden" ones (unspecified, multicast, broadcast/reserved 240/4, cloud metadata
 * endpoints) never — the demo never needs them, and refusing metadata even with
 * ALLOW_PRIVATE_IDP_URLS=true keeps instance credentials out of reach. IPv4 embedded in IPv6
 * (mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged by its IPv4 address.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP, isIPv4, isIPv6, type LookupFunction } from "node:net";
import { pipeline, type Transform } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { Agent, type Dispatcher } from "undici";

export type SafeFetchErrorCode =
  | "blocked_address"
  | "bad_scheme"
  | "timeout"
  | "too_large"
  | "too_many_redirects"
  | "network";

/** Error thrown by the safe fetch. `host` is the host name of the hop that failed. */
export class SafeFetchError extends Error {
  override readonly name = "SafeFetchError";
  readonly code: SafeFetchErrorCode;
  readonly host: string;

  constructor(code: SafeFetchErrorCode, host: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.host = host;
  }
}

/**
 * What went wrong with a request, for audit causes and diagnostics: a SafeFetchError as
 * `<code>: <message>` ("timeout: request to idp.example.com timed out", "too_large: …"), any other
 * error by its message. Never more than the host of the URL.
 */
export function describeFetchError(err: unknown): string {
  if (err instanceof SafeFetchError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** One resolved address, as returned by `dns.lookup(host, { all: true })`. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses. Injectable so tests can simulate DNS. */
export type SafeLookup = (hostname: string) => Promise<ResolvedAddress[]>;

export interface SafeFetchOptions {
  /** Allow loopback/private/link-local targets and `http:` (ALLOW_PRIVATE_IDP_URLS). */
  allowPrivate: boolean;
  /** Total deadline for one call, redirects and body included. Default 5000 ms. */
  timeoutMs?: number;
  /** Largest decoded response body accepted. Default 1 000 000 bytes. */
  maxBytes?: number;
  /** Most redirects followed. Default 3. */
  maxRedirects?: number;
  /** Host name resolver; defaults to the system resolver (`dns.lookup`, all addresses). */
  lookup?: SafeLookup;
  /** Extra trusted CA certificates in PEM (tests, private PKI); replaces the default roots. */
  ca?: string | Buffer | Array<string | Buffer>;
}

/**
 * Request options: WHATWG RequestInit, with `body` also typed to take any Uint8Array (as passed by
 * openid-client's `customFetch`, whose typing TS's DOM `BodyInit` does not cover).
 */
export type SafeFetchInit = Omit<RequestInit, "body"> & { body?: BodyInit | Uint8Array | null };

export type SafeFetch = (input: string | URL | Request, init?: SafeFetchInit) => Promise<Response>;

export type AddressClass = "public" | "private" | "forbidden";

type RedirectMode = "follow" | "manual" | "error";

interface PreparedRequest {
  url: URL;
  method: string;
  headers: Headers;
  body: Uint8Array | null;
  redirect: RedirectMode;
  callerSignal: AbortSignal | undefined;
}

/** Outcome of one hop: a redirect to follow, or the final (buffered) response. */
type HopResult = { kind: "redirect"; status: number; location: URL } | { kind: "final"; response: Response };

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const NULL_BODY_STATUSES = new Set([204, 205, 304]);
/** Request headers dropped when a redirect leaves the origin (WHATWG Fetch §4.4 step 13). */
const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];
/** Request-body headers dropped when a redirect turns the request into a GET (WHATWG Fetch §4.4). */
const BODY_HEADERS = [
  "content-type",
  "content-length",
  "content-encoding",
  "content-language",
  "content-location",
];

/**
 * Builds the SSRF-guarded fetch (SPEC §10). See the module header for the guarantees.
 */
export function createSafeFetch(options: SafeFetchOptions): SafeFetch {
  const allowPrivate = options.allowPrivate === true;
  const timeoutMs = positiveInteger(options.timeoutMs ?? 5000, "timeoutMs");
  const maxBytes = positiveInteger(options.maxBytes ?? 1_000_000, "maxBytes");
  const maxRedirects = nonNegativeInteger(options.maxRedirects ?? 3, "maxRedirects");
  const lookup = options.lookup ?? systemLookup;
  const ca = options.ca;

  // One agent for the life of this fetch: its pools keep connections per origin, and every
  // connection it opens goes through the validating lookup.
  const agent = new Agent({
    connect: {
      lookup: validatingLookup(lookup, allowPrivate),
      timeout: timeoutMs,
      ...(ca ? { ca } : {}),
    },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 30_000,
  });

  return async function safeFetch(input, init) {
    const request = await prepareRequest(input, init);
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = request.callerSignal ? AbortSignal.any([request.callerSignal, deadline]) : deadline;
    let url = request.url;
    try {
      for (let redirects = 0; ; redirects++) {
        assertAllowedScheme(url, allowPrivate);
        assertAllowedLiteral(url, allowPrivate);
        const hop = await fetchHop(url, request, { agent, signal, maxBytes });
        if (hop.kind === "final") {
          return finalizeResponse(hop.response, url, redirects > 0);
        }
        if (request.redirect === "error") {
          throw new SafeFetchError("network", url.hostname, `redirect refused for ${url.hostname}`);
        }
        if (redirects >= maxRedirects) {
          throw new SafeFetchError(
            "too_many_redirects",
            url.hostname,
            `too many redirects from ${url.hostname}`,
          );
        }
        applyRedirect(request, hop.status, url, hop.location);
        url = hop.location;
      }
    } catch (error) {
      throw classifyFailure(error, url, deadline, request.callerSignal);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Request preparation
// ---------------------------------------------------------------------------------------------

/**
 * Normalises the fetch arguments (WHATWG Fetch `fetch(input, init)`) into a replayable request:
 * the body is serialised once to bytes so that 307/308 redirects can resend it.
 */
async function prepareRequest(
  input: string | URL | Request,
  init: SafeFetchInit | undefined,
): Promise<PreparedRequest> {
  const base = input instanceof Request ? input : undefined;
  let url: URL;
  try {
    url = new URL(base ? base.url : input instanceof URL ? input.href : String(input));
  } catch {
    throw new SafeFetchError("bad_scheme", "", "invalid URL");
  }
  const headers = new Headers(init?.headers ?? base?.headers);
  let body: Uint8Array | null = null;
  if (typeof init?.body === "string" || init?.body instanceof URLSearchParams) {
    // The two kinds openid-client sends (WHATWG Fetch §5 "extract a body": their implied types).
    const form = init.body instanceof URLSearchParams;
    if (!headers.has("content-type"))
      headers.set(
        "content-type",
        form ? "application/x-www-form-urlencoded;charset=UTF-8" : "text/plain;charset=UTF-8",
      );
    body = Buffer.from(String(init.body));
  } else if (init?.body !== undefined && init.body !== null) {
    // Serialising through a Response also yields the implied Content-Type (form, text, multipart).
    const serialised = new Response(init.body as BodyInit);
    const implied = serialised.headers.get("content-type");
    if (implied && !headers.has("content-type")) headers.set("content-type", implied);
    body = new Uint8Array(await serialised.arrayBuffer());
  } else if (base?.body) {
    body = new Uint8Array(await base.arrayBuffer());
  }
  return {
    url,
    method: (init?.method ?? base?.method ?? "GET").toUpperCase(),
    headers,
    body,
    redirect: (init?.redirect ?? base?.redirect ?? "follow") as RedirectMode,
    callerSignal: init?.signal ?? base?.signal ?? undefined,
  };
}

/** `https:` always; `http:` only with allowPrivate; no credentials in the URL (RFC 9110 §4.2.4). */
function assertAllowedScheme(url: URL, allowPrivate: boolean): void {
  const allowed = url.protocol === "https:" || (allowPrivate && url.protocol === "http:");
  if (!allowed) {
    throw new SafeFetchError(
      "bad_scheme",
      url.hostname,
      `scheme ${url.protocol} is not allowed for ${url.hostname}`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new SafeFetchError(
      "bad_scheme",
      url.hostname,
      `credentials in the URL are not allowed for ${url.hostname}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Resolution and pinning
// ---------------------------------------------------------------------------------------------

/** Default resolver: the system resolver, all addresses, in the order the system returns them. */
function systemLookup(hostname: string): Promise<ResolvedAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses: LookupAddress[]) => {
      if (error) reject(error);
      else resolve(addresses.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })));
    });
  });
}

/**
 * An IP-literal host never reaches the lookup (the socket connects to it directly), so it is
 * checked here, before the request is sent.
 */
function assertAllowedLiteral(url: URL, allowPrivate: boolean): void {
  const host = hostOf(url);
  if (isIP(host) !== 0 && !isAllowedAddress(host, allowPrivate)) {
    throw new SafeFetchError(
      "blocked_address",
      url.hostname,
      `${url.hostname} resolves to a blocked address`,
    );
  }
}

/** URL host name without the brackets of an IPv6 literal. */
function hostOf(url: URL): string {
  const { hostname } = url;
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

/**
 * The `net.connect` lookup of every connection: resolves the host, refuses it when ANY answer is
 * not allowed (OWASP SSRF: validate all answers), and answers the socket with exactly the
 * validated addresses — the check and the connect use the same DNS answer.
 */
function validatingLookup(resolve: SafeLookup, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    const wanted =
      options.family === 4 || options.family === "IPv4"
        ? 4
        : options.family === 6 || options.family === "IPv6"
          ? 6
          : 0;
    resolve(hostname)
      .then((addresses) => {
        if (addresses.length === 0) {
          throw new SafeFetchError("network", hostname, `${hostname} did not resolve`);
        }
        if (addresses.some(({ address }) => !isAllowedAddress(address, allowPrivate))) {
          throw new SafeFetchError("blocked_address", hostname, `${hostname} resolves to a blocked address`);
        }
        const candidates = addresses.filter((a) => wanted === 0 || a.family === wanted);
        const first = candidates[0];
        if (!first) throw new SafeFetchError("network", hostname, `${hostname} has no IPv${wanted} address`);
        if (options.all)
          callback(
            null,
            candidates.map((a) => ({ address: a.address, family: a.family })),
          );
        else callback(null, first.address, first.family);
      })
      .catch((error: unknown) => callback(error as NodeJS.ErrnoException, ""));
  };
}

// ---------------------------------------------------------------------------------------------
// One hop
// ---------------------------------------------------------------------------------------------

/**
 * Sends one request through the shared agent (undici's Dispatcher API: no WHATWG Request/stream
 * objects per call, which cost more CPU than the request itself on a fast IdP) and reads the body
 * under the size cap.
 */
async function fetchHop(
  url: URL,
  request: PreparedRequest,
  limits: { agent: Agent; signal: AbortSignal; maxBytes: number },
): Promise<HopResult> {
  const headers: Record<string, string> = {};
  for (const [name, value] of request.headers) headers[name] = value;
  // Identity only: a compressed body would have to be inflated before its size could be capped.
  headers["accept-encoding"] = "identity";
  const response = await limits.agent.request({
    origin: url.origin,
    path: url.pathname + url.search,
    method: request.method as Dispatcher.HttpMethod,
    headers,
    body: request.body,
    signal: limits.signal,
  });
  const location = headerValue(response.headers.location);
  if (REDIRECT_STATUSES.has(response.statusCode) && location !== null && request.redirect !== "manual") {
    await response.body.dump().catch(() => {});
    return { kind: "redirect", status: response.statusCode, location: parseLocation(location, url) };
  }
  const bytes = await readCapped(response, limits.maxBytes, url.hostname);
  return { kind: "final", response: rebuildResponse(response, bytes) };
}

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}

/** Resolves a Location header against the current URL (RFC 9110 §10.2.2). */
function parseLocation(location: string, base: URL): URL {
  try {
    return new URL(location, base);
  } catch {
    throw new SafeFetchError("network", base.hostname, `invalid redirect from ${base.hostname}`);
  }
}

/** Inflaters for the content codings a server may still send (RFC 9110 §8.4.1). */
const DECODERS: Record<string, () => Transform> = {
  gzip: () => createGunzip(),
  "x-gzip": () => createGunzip(),
  deflate: () => createInflate(),
  br: () => createBrotliDecompress(),
};

/**
 * Reads the decoded body, refusing more than `maxBytes` (checked against Content-Length first,
 * then while streaming, so an endless or decompression-bomb body is cut off early). We ask for
 * `identity`; a server that compresses anyway is inflated here, under the same cap.
 */
async function readCapped(
  response: Dispatcher.ResponseData,
  maxBytes: number,
  host: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () =>
    new SafeFetchError("too_large", host, `response from ${host} exceeds ${maxBytes} bytes`);
  const coding = (headerValue(response.headers["content-encoding"]) ?? "identity").trim().toLowerCase();
  const decoder = coding === "identity" || coding === "" ? undefined : DECODERS[coding];
  if (!decoder && coding !== "identity" && coding !== "") {
    await response.body.dump().catch(() => {});
    throw new SafeFetchError("network", host, `unsupported content coding from ${host}`);
  }
  const declared = Number(headerValue(response.headers["content-length"]) ?? Number.NaN);
  if (!decoder && Number.isFinite(declared) && declared > maxBytes) {
    await response.body.dump().catch(() => {});
    throw tooLarge();
  }
  // pipeline() carries an error (or the deadline's abort) of either stream to the other.
  const source: AsyncIterable<Buffer> = decoder
    ? pipeline(response.body, decoder(), () => {})
    : response.body;
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of source) {
      total += chunk.byteLength;
      if (total > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (error) {
    response.body.destroy();
    throw error;
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** Copies status and headers into a global Response (the body is already decoded). */
function rebuildResponse(source: Dispatcher.ResponseData, bytes: Uint8Array<ArrayBuffer>): Response {
  const status = source.statusCode;
  if (status < 200 || status > 599) {
    throw new TypeError("unexpected HTTP status");
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(source.headers)) {
    if (name === "content-encoding" || name === "content-length" || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.append(name, value);
  }
  const body = NULL_BODY_STATUSES.has(status) ? null : bytes;
  if (body) headers.set("content-length", String(body.byteLength));
  return new Response(body, { status, statusText: source.statusText ?? "", headers });
}

/** Exposes the final URL and redirect flag like a browser Response does. */
function finalizeResponse(response: Response, url: URL, redirected: boolean): Response {
  Object.defineProperty(response, "url", { value: url.href });
  Object.defineProperty(response, "redirected", { value: redirected });
  return response;
}

/**
 * Rewrites the request for the next hop (WHATWG Fetch §4.4 "HTTP-redirect fetch"): 303, and
 * 301/302 after POST, become a body-less GET; credentials are dropped when the origin changes.
 */
function applyRedirect(request: PreparedRequest, status: number, from: URL, to: URL): void {
  const becomesGet =
    (status === 303 && request.method !== "GET" && request.method !== "HEAD") ||
    ((status === 301 || status === 302) && request.method === "POST");
  if (becomesGet) {
    request.method = "GET";
    request.body = null;
    for (const name of BODY_HEADERS) request.headers.delete(name);
  }
  if (from.origin !== to.origin) {
    for (const name of CREDENTIAL_HEADERS) request.headers.delete(name);
  }
}

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

/**
 * Maps any failure to a SafeFetchError, except a caller-requested abort which is re-thrown as is.
 * The message names the host of the failing hop only.
 */
function classifyFailure(
  error: unknown,
  url: URL,
  deadline: AbortSignal,
  callerSignal: AbortSignal | undefined,
): unknown {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof SafeFetchError) return e;
  }
  if (callerSignal?.aborted) return callerSignal.reason;
  if (deadline.aborted) {
    return new SafeFetchError("timeout", url.hostname, `request to ${url.hostname} timed out`, {
      cause: error,
    });
  }
  return new SafeFetchError("network", url.hostname, `request to ${url.hostname} failed`, { cause: error });
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0)
    throw new RangeError(`safe fetch: ${name} must be a positive integer`);
  return value;
}

function nonNegativeInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0)
    throw new RangeError(`safe fetch: ${name} must be a non-negative integer`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Address policy (IANA special-purpose registries, RFC 6890)
// ---------------------------------------------------------------------------------------------

/** [network, prefix length] pairs; IPv4 networks as four octets. */
type Cidr4 = readonly [number, number, number, number, number];

/** Never allowed, even with allowPrivate: unspecified, multicast, reserved/broadcast. */
const FORBIDDEN_V4: readonly Cidr4[] = [
  [0, 0, 0, 0, 8], // "this network" (RFC 791), includes 0.0.0.0
  [224, 0, 0, 0, 4], // multicast (RFC 5771)
  [240, 0, 0, 0, 4], // reserved (RFC 1112), includes 255.255.255.255 broadcast
];

/** Cloud metadata endpoints, never allowed. */
const METADATA_V4 = new Set([
  "169.254.169.254", // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
  "169.254.170.2", // AWS ECS task metadata
  "100.100.100.200", // Alibaba Cloud
]);
const METADATA_V6 = ["fd00:ec2::254"]; // AWS IMDS over IPv6

/** Not public: allowed only with allowPrivate. */
const PRIVATE_V4: readonly Cidr4[] = [
  [10, 0, 0, 0, 8], // RFC 1918
  [100, 64, 0, 0, 10], // CGNAT shared address space (RFC 6598)
  [127, 0, 0, 0, 8], // loopback (RFC 1122)
  [169, 254, 0, 0, 16], // link-local (RFC 3927)
  [172, 16, 0, 0, 12], // RFC 1918
  [192, 0, 0, 0, 24], // IETF protocol assignments (RFC 6890)
  [192, 0, 2, 0, 24], // TEST-NET-1 (RFC 5737)
  [192, 88, 99, 0, 24], // 6to4 relay anycast (RFC 7526)
  [192, 168, 0, 0, 16], // RFC 1918
  [198, 18, 0, 0, 15], // benchmarking (RFC 2544)
  [198, 51, 100, 0, 24], // TEST-NET-2 (RFC 5737)
  [203, 0, 113, 0, 24], // TEST-NET-3 (RFC 5737)
];

/**
 * True when `ip` (IPv4 or IPv6 text, IPv6 zone allowed) is a globally reachable unicast
 * address — the only kind an IdP URL may resolve to without ALLOW_PRIVATE_IDP_URLS.
 */
export function isPublicAddress(ip: string): boolean {
  return classifyAddress(ip) === "public";
}

/** The policy of SPEC §10: public always; private with allowPrivate; forbidden never. */
export function isAllowedAddress(ip: string, allowPrivate: boolean): boolean {
  const kind = classifyAddress(ip);
  return kind === "public" || (allowPrivate && kind === "private");
}

/** Classifies an address; anything unparsable is "forbidden". */
export function classifyAddress(ip: string): AddressClass {
  const text = ip.includes("%") ? ip.slice(0, ip.indexOf("%")) : ip;
  if (isIPv4(text)) return classifyV4(text.split(".").map(Number));
  if (isIPv6(text)) {
    const bytes = parseIPv6(text);
    return bytes ? classifyV6(bytes) : "forbidden";
  }
  return "forbidden";
}

function classifyV4(octets: number[]): AddressClass {
  if (METADATA_V4.has(octets.join("."))) return "forbidden";
  if (FORBIDDEN_V4.some((cidr) => inCidr4(octets, cidr))) return "forbidden";
  if (PRIVATE_V4.some((cidr) => inCidr4(octets, cidr))) return "private";
  return "public";
}

function inCidr4(octets: number[], [a, b, c, d, prefix]: Cidr4): boolean {
  const value = toUint32(octets);
  const network = toUint32([a, b, c, d]);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (value & mask) >>> 0 === (network & mask) >>> 0;
}

function toUint32(octets: number[]): number {
  return ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
}

function classifyV6(bytes: number[]): AddressClass {
  const hex = toHex(bytes);
  if (METADATA_V6.some((address) => toHex(parseIPv6(address) ?? []) === hex)) return "forbidden";
  if (hex === "0".repeat(32)) return "forbidden"; // :: unspecified
  if (bytes[0] === 0xff) return "forbidden"; // ff00::/8 multicast
  if (hex.startsWith("00000000000000000000ffff")) return classifyV4(bytes.slice(12)); // ::ffff:0:0/96 mapped
  if (hex.startsWith("0064ff9b0000000000000000")) return classifyV4(bytes.slice(12)); // 64:ff9b::/96 NAT64
  if (hex.startsWith("2002")) return classifyV4(bytes.slice(2, 6)); // 2002::/16 6to4
  if ((bytes[0]! & 0xe0) !== 0x20) return "private"; // outside 2000::/3: ::1, ULA, link-local, ...
  if (bytes[0] === 0x20 && bytes[1] === 0x01 && (bytes[2]! & 0xfe) === 0) return "private"; // 2001::/23
  if (hex.startsWith("20010db8")) return "private"; // 2001:db8::/32 documentation
  if (bytes[0] === 0x3f && bytes[1] === 0xff && (bytes[2]! & 0xf0) === 0) return "private"; // 3fff::/20 documentation
  return "public";
}

function toHex(bytes: number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Parses IPv6 text (already validated by net.isIPv6, no zone) into 16 bytes. */
function parseIPv6(text: string): number[] | undefined {
  let source = text.toLowerCase();
  const tailV4 = source.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (tailV4?.[1]) {
    const o = tailV4[1].split(".").map(Number);
    const groups = `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
    source = source.slice(0, -tailV4[1].length) + groups;
  }
  const halves = source.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  const bytes: number[] = [];
  for (const group of groups) {
    const value = Number.parseInt(group, 16);
    if (!/^[0-9a-f]{1,4}$/.test(group) || Number.isNaN(value)) return undefined;
    bytes.push(value >> 8, value & 0xff);
  }
  return bytes;
}
