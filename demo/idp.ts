/**
 * The demo's own OpenID provider: oidc-provider on a fixed loopback port, one confidential client
 * (CoPilot), a handful of demo people and a real login page. Its client secret and signing key are
 * kept in the demo data directory, so the connection CoPilot stores stays valid from run to run.
 */
import http from "node:http";
import type { JWK } from "jose";
import type { Configuration, KoaContextWithOIDC } from "oidc-provider";
import { escapeHtml, loginInteractions, page, sendHtml } from "../test/support/idp-interactions.js";

export interface DemoPerson {
  sub: string;
  email: string;
  name: string;
  /** What the login page tells about this person in CoPilot. */
  note: string;
}

export interface DemoIdpOptions {
  port: number;
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** Private RS256 signing key (with kid). */
  signingKey: JWK;
  /** Keys for oidc-provider's own cookies. */
  cookieKeys: string[];
  people: DemoPerson[];
  /** The one password every demo person signs in with. */
  password: string;
}

export interface DemoIdp {
  issuer: string;
  discoveryUrl: string;
  close(): Promise<void>;
}

/**
 * oidc-provider warns that Node 20 is not its tested runtime and that its in-memory storage is for
 * development only — both true and expected here, so the demo does not print them.
 */
async function quietly<T>(fn: () => T | Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === "string" && args[0].startsWith("oidc-provider WARNING")) return;
    warn(...args);
  };
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}

const STYLE = `
  body { font-family: system-ui, sans-serif; background: #f1f5f9; color: #0f172a; margin: 0; }
  main { max-width: 26rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: 12px;
         box-shadow: 0 4px 24px rgb(15 23 42 / 0.08); }
  h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
  .brand { color: #7c3aed; font-weight: 700; letter-spacing: .02em; }
  label { display: block; font-weight: 600; margin: 1rem 0 .35rem; }
  input { width: 100%; box-sizing: border-box; padding: .6rem .7rem; border: 1px solid #cbd5e1; border-radius: 8px;
          font-size: 1rem; }
  button { margin-top: 1.25rem; width: 100%; padding: .7rem; border: 0; border-radius: 8px; background: #7c3aed;
           color: #fff; font-size: 1rem; font-weight: 600; cursor: pointer; }
  button.secondary { background: transparent; color: #475569; margin-top: .5rem; }
  [role=alert] { background: #fef2f2; color: #991b1b; padding: .6rem .75rem; border-radius: 8px; }
  table { width: 100%; border-collapse: collapse; font-size: .875rem; margin-top: 1.5rem; }
  td, th { text-align: left; padding: .3rem .25rem; border-top: 1px solid #e2e8f0; vertical-align: top; }
  .muted { color: #64748b; font-size: .875rem; }
  code { font-size: .85em; }
`;

const demoPage = (title: string, body: string) => page(title, body, STYLE);

export async function startDemoIdp(options: DemoIdpOptions): Promise<DemoIdp> {
  const Provider = await quietly(async () => (await import("oidc-provider")).default);
  const issuer = `http://127.0.0.1:${options.port}`;
  const byLogin = (login: string) => {
    const wanted = login.trim().toLowerCase();
    return options.people.find((p) => p.email.toLowerCase() === wanted || p.sub === login.trim());
  };

  const configuration: Configuration = {
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uris: options.redirectUris,
        response_types: ["code"],
        grant_types: ["authorization_code"],
        token_endpoint_auth_method: "client_secret_basic",
        id_token_signed_response_alg: "RS256",
      },
    ],
    jwks: { keys: [options.signingKey] as never },
    cookies: {
      keys: options.cookieKeys,
      names: {
        session: "_demo_idp_session",
        interaction: "_demo_idp_interaction",
        resume: "_demo_idp_resume",
      },
    },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    scopes: ["openid", "profile", "email"],
    conformIdTokenClaims: false,
    responseTypes: ["code"],
    pkce: { required: () => true },
    enabledJWA: { idTokenSigningAlgValues: ["RS256"] },
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, sub) => {
      const person = options.people.find((p) => p.sub === sub);
      if (!person) return undefined;
      return {
        accountId: person.sub,
        claims: () => ({ sub: person.sub, email: person.email, email_verified: true, name: person.name }),
      };
    },
    renderError: (ctx: KoaContextWithOIDC, out) => {
      ctx.type = "html";
      const rows = Object.entries(out)
        .map(([k, v]) => `<p><strong>${escapeHtml(k)}</strong>: ${escapeHtml(String(v))}</p>`)
        .join("\n");
      ctx.body = demoPage("Sign-in error", `<h1>Sign-in error</h1>\n${rows}`);
    },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Grant: 3600,
      Session: 3600,
    },
  };
  const provider = await quietly(() => new Provider(issuer, configuration));
  const callback = provider.callback() as (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

  const peopleTable = () =>
    `<table><thead><tr><th>Demo person</th><th>In CoPilot</th></tr></thead><tbody>
${options.people
  .map((p) => `<tr><td><code>${escapeHtml(p.email)}</code></td><td>${escapeHtml(p.note)}</td></tr>`)
  .join("\n")}
</tbody></table>
<p class="muted">Every demo person's password is <code>${escapeHtml(options.password)}</code>.</p>`;

  const loginPage = (uid: string, _clientId: string, error?: string, login = "") =>
    demoPage(
      "Sign in · Demo IdP",
      `<div class="brand">Demo IdP</div>
<h1>Sign in</h1>
<p class="muted">An OpenID provider bundled with the CoPilot demo (oidc-provider).</p>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/interaction/${escapeHtml(uid)}">
<label for="login">Email</label>
<input id="login" name="login" type="email" autocomplete="username" value="${escapeHtml(login)}" autofocus required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort">
<button type="submit" class="secondary">Cancel</button>
</form>
${peopleTable()}`,
    );

  const interaction = loginInteractions({
    provider: () => provider,
    prefix: "/interaction/",
    loginPage,
    authenticate: (login, password) => (password === options.password ? byLogin(login)?.sub : undefined),
    invalidMessage: "Unknown email or wrong password.",
    abortDescription: "The person cancelled the sign-in",
    style: STYLE,
  });

  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? "/", issuer).pathname;
    const work = pathname.startsWith("/interaction/")
      ? interaction(req, res, pathname)
      : Promise.resolve(callback(req, res));
    work.catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendHtml(res, 500, demoPage("Error", `<h1>Error</h1><p>${escapeHtml(String(err))}</p>`));
    });
  });
  server.keepAliveTimeout = 2000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
