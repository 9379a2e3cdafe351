/**
 * A simulated Cloudflare Access in front of CoPilot, on its own loopback port.
 *
 * Like the real one, it first asks who you are (here: a list of demo people instead of an identity
 * provider), then forwards every request to CoPilot with a freshly signed `Cf-Access-Jwt-Assertion`
 * (RS256, `aud` = the application's AUD tag, `iss` = the team domain, `email`, `sub`). It also serves the team
 * domain's `/cdn-cgi/access/certs`, so the "team domain" CoPilot is configured with is this proxy itself
 * (`127.0.0.1:<port>`, allowed because the demo sets ALLOW_PRIVATE_IDP_URLS). Requests always reach
 * CoPilot with the Host `demo.localhost:<port>`, the agency's domain.
 */
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import { importJWK, type JWK, SignJWT } from "jose";

export interface CloudflareProxyOptions {
  port: number;
  /** Where CoPilot listens (loopback). */
  upstreamPort: number;
  /** The agency's domain: the browser-facing host is `<agencyHost>:<port>`. */
  agencyHost: string;
  /** Application Audience (AUD) tag. */
  audTag: string;
  /** Private RS256 key (with kid). */
  signingKey: JWK;
  /**
   * The people one can be at the chooser. `sub` is their id at the demo IdP: as if Cloudflare Access
   * used that IdP, so both connections resolve to the same CoPilot user (one Remote ID per person).
   */
  people: Array<{ sub: string; email: string; name: string; note: string }>;
}

export interface CloudflareProxy {
  /** What an admin enters as the team domain: `127.0.0.1:<port>`. */
  teamDomain: string;
  /** `http://<agencyHost>:<port>` — the browser-facing origin. */
  origin: string;
  identityCookie: string;
  close(): Promise<void>;
}

export const IDENTITY_COOKIE = "CF_demo_identity";
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
]);

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

function publicJwk(jwk: JWK): JWK {
  const { kty, n, e, kid } = jwk;
  return { kty, n, e, kid, alg: "RS256", use: "sig" };
}

export async function startCloudflareProxy(options: CloudflareProxyOptions): Promise<CloudflareProxy> {
  const teamDomain = `127.0.0.1:${options.port}`;
  const issuer = `http://${teamDomain}`;
  const origin = `http://${options.agencyHost}:${options.port}`;
  const key = await importJWK(options.signingKey, "RS256");
  const certs = JSON.stringify({ keys: [publicJwk(options.signingKey)] });

  const assertion = (email: string) => {
    const sub = options.people.find((p) => p.email === email)?.sub ?? randomUUID();
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      email,
      type: "app",
      identity_nonce: randomBytes(12).toString("base64url"),
      country: "XX",
    })
      .setProtectedHeader({ alg: "RS256", kid: options.signingKey.kid!, typ: "JWT" })
      .setIssuer(issuer)
      .setAudience([options.audTag])
      .setSubject(sub)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 24 * 3600)
      .sign(key);
  };

  const chooser = (redirectTo: string) => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cloudflare Access (simulated)</title>
<style>
  body { font-family: system-ui, sans-serif; background: #fff7ed; color: #1c1917; margin: 0; }
  main { max-width: 28rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: 12px;
         box-shadow: 0 4px 24px rgb(28 25 23 / 0.08); }
  .brand { color: #f38020; font-weight: 700; }
  button { display: block; width: 100%; margin: .5rem 0; padding: .7rem; text-align: left; border-radius: 8px;
           border: 1px solid #fed7aa; background: #fff; font-size: 1rem; cursor: pointer; }
  button:hover { background: #ffedd5; }
  .muted { color: #78716c; font-size: .875rem; }
</style></head><body><main>
<div class="brand">Cloudflare Access · simulated by the CoPilot demo</div>
<h1>Who are you?</h1>
<p class="muted">The real Cloudflare Access would ask your identity provider. Here you pick a demo person;
every request then reaches CoPilot with a signed <code>Cf-Access-Jwt-Assertion</code> for that email.</p>
<form method="post" action="/cdn-cgi/access/login">
<input type="hidden" name="redirect_url" value="${escapeHtml(redirectTo)}">
${options.people
  .map(
    (p) =>
      `<button name="email" value="${escapeHtml(p.email)}"><strong>${escapeHtml(p.name)}</strong> · ${escapeHtml(p.email)}<br><span class="muted">${escapeHtml(p.note)}</span></button>`,
  )
  .join("\n")}
</form>
<p class="muted"><a href="/cdn-cgi/access/logout">Forget who I am</a></p>
</main></body></html>`;

  const safeRedirect = (value: string | null) =>
    value?.startsWith("/") && !value.startsWith("//") ? value : "/login/sso/cloudflare";

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", origin);
    const hostname = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();

    if (url.pathname === "/cdn-cgi/access/certs") {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=60" });
      res.end(certs);
      return;
    }
    // Cookies and Origin checks need the agency's host: send other hosts there.
    if (hostname !== options.agencyHost) {
      res.writeHead(302, { location: `${origin}${url.pathname}${url.search}` });
      res.end();
      return;
    }
    if (url.pathname === "/cdn-cgi/access/logout") {
      res.writeHead(302, {
        location: "/cdn-cgi/access/login",
        "set-cookie": `${IDENTITY_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`,
      });
      res.end();
      return;
    }
    if (url.pathname === "/cdn-cgi/access/login") {
      if (req.method === "POST") {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
          const email = form.get("email") ?? "";
          if (!options.people.some((p) => p.email === email)) {
            res.writeHead(400, { "content-type": "text/plain" });
            res.end("Unknown demo person");
            return;
          }
          res.writeHead(303, {
            location: safeRedirect(form.get("redirect_url")),
            "set-cookie": `${IDENTITY_COOKIE}=${encodeURIComponent(email)}; Path=/; HttpOnly; SameSite=Lax`,
          });
          res.end();
        });
        return;
      }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(chooser(safeRedirect(url.searchParams.get("redirect_url"))));
      return;
    }

    const email = cookieValue(req.headers.cookie, IDENTITY_COOKIE);
    if (!email || !options.people.some((p) => p.email === email)) {
      const back = `${url.pathname}${url.search}`;
      res.writeHead(302, { location: `/cdn-cgi/access/login?redirect_url=${encodeURIComponent(back)}` });
      res.end();
      return;
    }

    void assertion(email).then(
      (jwt) => {
        const headers: http.OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(req.headers)) {
          // Nobody in front of Cloudflare can inject an assertion: it is always ours.
          if (HOP_BY_HOP.has(name) || name.startsWith("cf-access-")) continue;
          headers[name] = value;
        }
        headers.host = `${options.agencyHost}:${options.port}`;
        headers["cf-access-jwt-assertion"] = jwt;
        headers["cf-access-authenticated-user-email"] = email;
        const upstream = http.request(
          { host: "127.0.0.1", port: options.upstreamPort, method: req.method, path: req.url, headers },
          (up) => {
            const out: http.OutgoingHttpHeaders = {};
            for (const [name, value] of Object.entries(up.headers)) {
              if (!HOP_BY_HOP.has(name)) out[name] = value;
            }
            res.writeHead(up.statusCode ?? 502, out);
            up.pipe(res);
          },
        );
        upstream.on("error", () => {
          if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
          res.end("CoPilot is not reachable");
        });
        req.pipe(upstream);
      },
      () => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end("could not sign the assertion");
      },
    );
  });
  server.keepAliveTimeout = 2000;
  await listen(server, options.port, "127.0.0.1");
  // Browsers may try demo.localhost on ::1 first: answer there too when the machine has IPv6.
  const server6 = http.createServer(server.listeners("request")[0] as http.RequestListener);
  const has6 = await listen(server6, options.port, "::1").then(
    () => true,
    () => false,
  );
  const closeServer = (s: http.Server) =>
    new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  return {
    teamDomain,
    origin,
    identityCookie: IDENTITY_COOKIE,
    close: async () => {
      await Promise.all([closeServer(server), has6 ? closeServer(server6) : Promise.resolve()]);
    },
  };
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
