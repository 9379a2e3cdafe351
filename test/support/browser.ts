/**
 * A tiny HTTP "browser" for API-level SSO tests: undici requests, no automatic redirects, one cookie jar per
 * instance (RFC 6265 domain / path / expiry / Secure / HttpOnly / SameSite, ports ignored like browsers do),
 * and `*.localhost` resolved to 127.0.0.1 (the `Host` header keeps the name and port).
 */
import dns from "node:dns";
import type { LookupFunction } from "node:net";
import { Agent, request } from "undici";

export interface BrowserResponse {
  status: number;
  /** The URL that produced this response. */
  url: string;
  /** Lower-cased header names; repeated headers (e.g. `set-cookie`) are arrays. */
  headers: Record<string, string | string[]>;
  body: string;
  /** The `Location` header resolved against `url` (absolute), when present. */
  location?: string;
  /** Every URL requested to get here (for `follow`: the whole chain, first to last). */
  chain: string[];
  /** `JSON.parse(body)`. */
  json<T = unknown>(): T;
  /** A single header value (arrays joined with ", "; `set-cookie` entries with "\n"). */
  header(name: string): string | undefined;
}

export interface Cookie {
  name: string;
  value: string;
  /** Host (host-only cookies) or the Domain attribute without a leading dot. */
  domain: string;
  hostOnly: boolean;
  path: string;
  /** Epoch milliseconds, or `null` for a session cookie. */
  expires: number | null;
  secure: boolean;
  httpOnly: boolean;
  sameSite: "strict" | "lax" | "none" | undefined;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: string;
  /**
   * The page that initiated the request (for SameSite and `Origin`). Omitted: a user-typed top-level
   * navigation, i.e. same-site.
   */
  initiator?: string;
  /** `navigate` (default for GET and form posts) or `fetch` (postJson). Affects SameSite=Lax. */
  mode?: "navigate" | "fetch";
}

export interface FollowOptions {
  /**
   * Checked on every URL as it is reached; when it returns true that URL's response is returned (it IS
   * requested).
   */
  until?: (url: URL) => boolean;
  /**
   * Checked on every redirect target before requesting it; when it returns true the redirect response is
   * returned (its `location` is the target, which is NOT requested).
   */
  stopBefore?: (url: URL) => boolean;
  /** Maximum number of redirects followed (default 20). */
  maxHops?: number;
  headers?: Record<string, string>;
}

export interface BrowserOptions {
  /** Sent on every request (e.g. `user-agent`, `accept-language`). */
  headers?: Record<string, string>;
  /** Per-request timeout in ms (headers and body); default 10 000. */
  timeoutMs?: number;
}

const lookup: LookupFunction = (hostname, options, callback) => {
  const name = hostname.toLowerCase();
  if (name === "localhost" || name.endsWith(".localhost")) {
    if (options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
    else callback(null, "127.0.0.1", 4);
    return;
  }
  (dns.lookup as unknown as LookupFunction)(hostname, options, callback);
};

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/** Hosts where browsers accept and send `Secure` cookies over plain http. */
function isTrustworthy(url: URL): boolean {
  if (url.protocol === "https:") return true;
  const host = url.hostname.toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || host === "127.0.0.1" || host === "[::1]";
}

/** Scheme + registrable domain (approximated as the last two labels; IPs and single labels as is). */
export function siteOf(input: string | URL): string {
  const url = typeof input === "string" ? new URL(input) : input;
  const host = url.hostname.toLowerCase();
  if (isIp(host)) return `${url.protocol}//${host}`;
  const labels = host.split(".");
  return `${url.protocol}//${labels.slice(-2).join(".")}`;
}

function defaultPath(url: URL): string {
  const path = url.pathname;
  if (!path.startsWith("/")) return "/";
  const last = path.lastIndexOf("/");
  return last <= 0 ? "/" : path.slice(0, last);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}

function domainMatches(host: string, cookie: Cookie): boolean {
  if (cookie.hostOnly) return host === cookie.domain;
  return host === cookie.domain || (!isIp(host) && host.endsWith(`.${cookie.domain}`));
}

export class CookieJar {
  private cookies: Cookie[] = [];

  /** Store one `Set-Cookie` header value received from `url`. Invalid cookies are ignored like browsers do. */
  setCookie(url: string | URL, header: string, now = Date.now()): void {
    const target = typeof url === "string" ? new URL(url) : url;
    const host = target.hostname.toLowerCase();
    const [pair = "", ...attributes] = header.split(";");
    const eq = pair.indexOf("=");
    if (eq <= 0) return;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (!name) return;

    const cookie: Cookie = {
      name,
      value,
      domain: host,
      hostOnly: true,
      path: defaultPath(target),
      expires: null,
      secure: false,
      httpOnly: false,
      sameSite: undefined,
    };
    let maxAge: number | undefined;
    for (const attribute of attributes) {
      const i = attribute.indexOf("=");
      const key = (i < 0 ? attribute : attribute.slice(0, i)).trim().toLowerCase();
      const val = i < 0 ? "" : attribute.slice(i + 1).trim();
      switch (key) {
        case "expires": {
          const time = Date.parse(val);
          if (!Number.isNaN(time)) cookie.expires = time;
          break;
        }
        case "max-age": {
          if (/^-?\d+$/.test(val)) maxAge = Number(val);
          break;
        }
        case "domain": {
          const domain = val.replace(/^\./, "").toLowerCase();
          if (domain) {
            if (host !== domain && (isIp(host) || !host.endsWith(`.${domain}`))) return;
            cookie.domain = domain;
            cookie.hostOnly = false;
          }
          break;
        }
        case "path":
          if (val.startsWith("/")) cookie.path = val;
          break;
        case "secure":
          cookie.secure = true;
          break;
        case "httponly":
          cookie.httpOnly = true;
          break;
        case "samesite": {
          const v = val.toLowerCase();
          if (v === "strict" || v === "lax" || v === "none") cookie.sameSite = v;
          break;
        }
        default:
      }
    }
    if (maxAge !== undefined) cookie.expires = maxAge <= 0 ? 0 : now + maxAge * 1000;
    if (cookie.secure && !isTrustworthy(target)) return;

    this.cookies = this.cookies.filter(
      (c) => !(c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path),
    );
    if (cookie.expires !== null && cookie.expires <= now) return;
    this.cookies.push(cookie);
  }

  /**
   * Cookies a browser would send to `url`. `crossSite`: the request comes from another site;
   * `unsafeOrFetch`: a non-GET navigation or a fetch/XHR (SameSite=Lax cookies are then withheld cross-site).
   */
  cookiesFor(
    url: string | URL,
    context: { crossSite?: boolean; unsafeOrFetch?: boolean } = {},
    now = Date.now(),
  ): Cookie[] {
    const target = typeof url === "string" ? new URL(url) : url;
    const host = target.hostname.toLowerCase();
    this.cookies = this.cookies.filter((c) => c.expires === null || c.expires > now);
    return this.cookies
      .filter((c) => domainMatches(host, c))
      .filter((c) => pathMatches(target.pathname || "/", c.path))
      .filter((c) => !c.secure || isTrustworthy(target))
      .filter((c) => {
        if (!context.crossSite) return true;
        if (c.sameSite === "strict") return false;
        if (c.sameSite === "none") return true;
        // Lax, and unspecified (browsers default to Lax)
        return !context.unsafeOrFetch;
      })
      .sort((a, b) => b.path.length - a.path.length);
  }

  /** The `Cookie` request header value for `url` (empty string when none). */
  header(url: string | URL, context: { crossSite?: boolean; unsafeOrFetch?: boolean } = {}): string {
    return this.cookiesFor(url, context)
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  /** A cookie by name as it would be sent to `url`. */
  get(url: string | URL, name: string): Cookie | undefined {
    return this.cookiesFor(url).find((c) => c.name === name);
  }

  all(): Cookie[] {
    return this.cookies.map((c) => ({ ...c }));
  }

  delete(name: string, domain?: string): void {
    this.cookies = this.cookies.filter(
      (c) => !(c.name === name && (domain === undefined || c.domain === domain)),
    );
  }

  clear(): void {
    this.cookies = [];
  }
}

function normalizeHeaders(
  raw: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value !== undefined) out[key.toLowerCase()] = value;
  }
  return out;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export class Browser {
  readonly jar = new CookieJar();
  /** Every URL this browser requested, in order. */
  readonly history: string[] = [];
  private readonly agent: Agent;
  private readonly defaultHeaders: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(options: BrowserOptions = {}) {
    this.defaultHeaders = { "user-agent": "copilot-sso-test-browser/1.0", ...options.headers };
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.agent = new Agent({ connect: { lookup }, keepAliveTimeout: 500 });
  }

  /** One request, no redirect following. Cookies are sent from and stored into this browser's jar. */
  async request(method: string, url: string, options: RequestOptions = {}): Promise<BrowserResponse> {
    const target = new URL(url);
    const upper = method.toUpperCase();
    const mode = options.mode ?? "navigate";
    const crossSite = options.initiator !== undefined && siteOf(options.initiator) !== siteOf(target);
    const headers: Record<string, string> = { ...this.defaultHeaders };
    const cookie = this.jar.header(target, { crossSite, unsafeOrFetch: mode === "fetch" || upper !== "GET" });
    if (cookie) headers.cookie = cookie;
    Object.assign(headers, options.headers);

    this.history.push(target.href);
    const response = await request(target, {
      method: upper as "GET",
      headers,
      body: options.body,
      dispatcher: this.agent,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    const body = await response.body.text();
    const responseHeaders = normalizeHeaders(
      response.headers as Record<string, string | string[] | undefined>,
    );
    const setCookie = responseHeaders["set-cookie"];
    for (const value of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      this.jar.setCookie(target, value);
    }
    const rawLocation = responseHeaders.location;
    const location = typeof rawLocation === "string" ? new URL(rawLocation, target).href : undefined;
    return makeResponse(response.statusCode, target.href, responseHeaders, body, location, [target.href]);
  }

  /** A top-level GET navigation (no redirect following). */
  get(
    url: string,
    options: { headers?: Record<string, string>; initiator?: string } = {},
  ): Promise<BrowserResponse> {
    return this.request("GET", url, options);
  }

  /**
   * Submit an HTML form (`application/x-www-form-urlencoded`). `origin` is the page's origin (default: the
   * target's, i.e. a same-origin form); `null` omits the `Origin` header.
   */
  postForm(
    url: string,
    fields: Record<string, string> | URLSearchParams,
    options: { origin?: string | null; headers?: Record<string, string> } = {},
  ): Promise<BrowserResponse> {
    const origin = options.origin === undefined ? new URL(url).origin : options.origin;
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
    if (origin !== null) headers.origin = origin;
    return this.request("POST", url, {
      body: new URLSearchParams(fields).toString(),
      headers: { ...headers, ...options.headers },
      ...(origin !== null ? { initiator: origin } : {}),
    });
  }

  /**
   * A `fetch()`-style JSON request (default POST). `origin` as in `postForm` (default same-origin).
   */
  postJson(
    url: string,
    body: unknown,
    options: { origin?: string | null; headers?: Record<string, string>; method?: string } = {},
  ): Promise<BrowserResponse> {
    const origin = options.origin === undefined ? new URL(url).origin : options.origin;
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
    };
    if (origin !== null) headers.origin = origin;
    return this.request(options.method ?? "POST", url, {
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: { ...headers, ...options.headers },
      mode: "fetch",
      ...(origin !== null ? { initiator: origin } : {}),
    });
  }

  /**
   * GET `start` (or continue from a response) and follow 301/302/303/307/308 redirects across hosts. Returns
   * the first non-redirect response, or stops early per `until` / `stopBefore`. 307/308 after a POST are
   * not re-posted (the body is gone); they are followed as GET.
   */
  async follow(start: string | BrowserResponse, options: FollowOptions = {}): Promise<BrowserResponse> {
    const maxHops = options.maxHops ?? 20;
    const chain: string[] = [];
    let response: BrowserResponse;
    let crossSiteChain = false;
    if (typeof start === "string") {
      response = await this.get(start, { headers: options.headers ?? {} });
      chain.push(response.url);
      if (options.until?.(new URL(response.url))) return withChain(response, chain);
    } else {
      response = start;
      chain.push(...start.chain);
    }
    for (let hops = 0; REDIRECT_STATUSES.has(response.status) && response.location; hops++) {
      const next = new URL(response.location);
      if (options.stopBefore?.(next)) return withChain(response, chain);
      if (hops >= maxHops) throw new Error(`too many redirects (> ${maxHops}): ${chain.join(" -> ")}`);
      crossSiteChain ||= siteOf(response.url) !== siteOf(next);
      const previous = response.url;
      response = await this.request("GET", next.href, {
        headers: options.headers ?? {},
        // a redirect chain that crossed sites makes the navigation cross-site for SameSite=Strict
        initiator: crossSiteChain ? previous : next.href,
      });
      chain.push(response.url);
      if (options.until?.(next)) break;
    }
    return withChain(response, chain);
  }

  /**
   * Submit the `index`-th form of an HTML response: its action (resolved against the page URL, default the
   * page itself), its hidden/default inputs, overridden by `fields`.
   */
  submitForm(page: BrowserResponse, fields: Record<string, string>, index = 0): Promise<BrowserResponse> {
    const form = parseForms(page.body, page.url)[index];
    if (!form) throw new Error(`no form #${index} on ${page.url}`);
    const merged = { ...form.fields, ...fields };
    if (form.method === "get") {
      const url = new URL(form.action);
      for (const [k, v] of Object.entries(merged)) url.searchParams.set(k, v);
      return this.get(url.href, { initiator: page.url });
    }
    return this.postForm(form.action, merged, { origin: new URL(page.url).origin });
  }

  /** Close pooled connections. */
  async close(): Promise<void> {
    await this.agent.close();
  }
}

function makeResponse(
  status: number,
  url: string,
  headers: Record<string, string | string[]>,
  body: string,
  location: string | undefined,
  chain: string[],
): BrowserResponse {
  return {
    status,
    url,
    headers,
    body,
    ...(location !== undefined ? { location } : {}),
    chain,
    json<T = unknown>(): T {
      return JSON.parse(body) as T;
    },
    header(name: string): string | undefined {
      const value = headers[name.toLowerCase()];
      if (value === undefined) return undefined;
      if (Array.isArray(value)) return value.join(name.toLowerCase() === "set-cookie" ? "\n" : ", ");
      return value;
    },
  };
}

function withChain(response: BrowserResponse, chain: string[]): BrowserResponse {
  return { ...response, chain: [...chain] };
}

export interface ParsedForm {
  action: string;
  method: "get" | "post";
  /** Named inputs with their `value` (text, hidden, password...; checkboxes only when `checked`). */
  fields: Record<string, string>;
}

function attr(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, "i").exec(tag);
  if (!match) return undefined;
  return decodeEntities(match[1] ?? match[2] ?? match[3] ?? "");
}

function decodeEntities(value: string): string {
  return value
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/** A minimal HTML form scraper (good enough for server-rendered test pages). */
export function parseForms(html: string, baseUrl: string): ParsedForm[] {
  const forms: ParsedForm[] = [];
  const formRe = /<form\b([^>]*)>([\s\S]*?)<\/form>/gi;
  for (let m = formRe.exec(html); m; m = formRe.exec(html)) {
    const openTag = `<form ${m[1] ?? ""}>`;
    const inner = m[2] ?? "";
    const fields: Record<string, string> = {};
    const inputRe = /<input\b[^>]*>/gi;
    for (let i = inputRe.exec(inner); i; i = inputRe.exec(inner)) {
      const tag = i[0];
      const name = attr(tag, "name");
      if (!name) continue;
      const type = (attr(tag, "type") ?? "text").toLowerCase();
      if (type === "submit" || type === "button" || type === "image" || type === "file") continue;
      if ((type === "checkbox" || type === "radio") && !/\schecked\b/i.test(tag)) continue;
      fields[name] = attr(tag, "value") ?? (type === "checkbox" ? "on" : "");
    }
    const method = (attr(openTag, "method") ?? "get").toLowerCase() === "post" ? "post" : "get";
    forms.push({ action: new URL(attr(openTag, "action") ?? "", baseUrl).href, method, fields });
  }
  return forms;
}

export interface SignInOptions {
  /** Password for the login form (default empty; accounts without a password accept anything). */
  password?: string;
  /**
   * Origin of the IdP. Default: the origin where the login form is found, or — when the IdP already has a
   * session and answers with a redirect straight away — the first redirect that carries `state` plus
   * `code` or `error` and leaves the current origin is taken as the callback.
   */
  idpOrigin?: string;
  /**
   * Do not request the relying party's callback: return the IdP's redirect response instead (its
   * `location` is the callback URL with `code`/`state`/`iss`). Used when no relying party server runs.
   */
  stopAtCallback?: boolean;
  maxHops?: number;
}

function isLoginForm(response: BrowserResponse): boolean {
  return response.status === 200 && /<form\b/i.test(response.body) && /name="login"/.test(response.body);
}

function looksLikeCallback(from: string, to: URL): boolean {
  return (
    new URL(from).origin !== to.origin &&
    to.searchParams.has("state") &&
    (to.searchParams.has("code") || to.searchParams.has("error"))
  );
}

/**
 * Drive a sign-in at a test IdP (see `idp.ts`): follow `authorizationUrl` (an IdP authorization URL or a
 * relying party URL that redirects there) to the IdP's login form, post `login` / `password`, then follow
 * redirects until the first URL off the IdP's origin — the relying party's callback — and return that
 * response (or, with `stopAtCallback`, the IdP redirect pointing at it). Throws when the IdP re-renders the
 * login form (wrong credentials) or no callback is reached.
 */
export async function signInAtIdp(
  browser: Browser,
  authorizationUrl: string,
  login: string,
  options: SignInOptions = {},
): Promise<BrowserResponse> {
  const maxHops = options.maxHops ?? 20;
  let idpOrigin = options.idpOrigin ? new URL(options.idpOrigin).origin : undefined;
  let submitted = false;
  let response = await browser.get(authorizationUrl);
  const chain = [response.url];

  for (let hops = 0; hops <= maxHops; hops++) {
    if (isLoginForm(response)) {
      if (submitted) {
        const error = /<p role="alert"[^>]*>([^<]*)</.exec(response.body)?.[1] ?? "login form shown again";
        throw new Error(`IdP sign-in as ${JSON.stringify(login)} failed: ${decodeEntities(error)}`);
      }
      idpOrigin ??= new URL(response.url).origin;
      const form = parseForms(response.body, response.url).find((f) => "login" in f.fields);
      if (!form) throw new Error(`no login form on ${response.url}`);
      response = await browser.postForm(
        form.action,
        { ...form.fields, login, password: options.password ?? "" },
        { origin: new URL(response.url).origin },
      );
      submitted = true;
      chain.push(response.url);
      continue;
    }
    if (!REDIRECT_STATUSES.has(response.status) || !response.location) {
      throw new Error(
        `sign-in did not reach a callback: ${response.status} at ${response.url}\n${response.body.slice(0, 500)}`,
      );
    }
    const next = new URL(response.location);
    const leavingIdp =
      idpOrigin !== undefined
        ? new URL(response.url).origin === idpOrigin && next.origin !== idpOrigin
        : looksLikeCallback(response.url, next);
    if (leavingIdp && options.stopAtCallback) return withChain(response, chain);
    const previous = response.url;
    response = await browser.get(next.href, { initiator: previous });
    chain.push(response.url);
    if (leavingIdp) return withChain(response, chain);
  }
  throw new Error(`too many redirects during sign-in: ${chain.join(" -> ")}`);
}
