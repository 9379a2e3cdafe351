/**
 * `npm run demo`: CoPilot with everything it needs to show SSO end to end, in one process.
 *
 *   CoPilot              http://demo.localhost:3000   (embedded PostgreSQL in ./.demo-data)
 *   Demo IdP             http://127.0.0.1:3001        (oidc-provider, demo people, its own login page)
 *   Cloudflare Access    http://demo.localhost:3002   (simulated: signs an assertion for every request)
 *
 * It seeds — idempotently, so running it again works — the agency `demo` on demo.localhost (pro
 * plan), an admin with a password, a few users with sub-accounts, a generic OIDC connection to the
 * demo IdP whose test really ran and passed, a Cloudflare Access connection, and turns SSO on. The
 * connections go through the admin API like an admin's browser would. Ctrl-C stops everything.
 *
 * DEMO_DATA_DIR moves the data (default ./.demo-data). DEMO_PORT moves CoPilot (the IdP and the proxy take the next two ports unless DEMO_IDP_PORT /
 * DEMO_CLOUDFLARE_PORT say otherwise); LOG_LEVEL shows CoPilot's request log (default warn).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import "../src/features.js";
import { createAgency, findAgencyBySlug } from "../src/agencies/agencies.js";
import { buildApp, WEB_DIR } from "../src/app.js";
import { startControlServer } from "../src/cli/control-socket.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { type AppContext, createContext } from "../src/context.js";
import { randomToken } from "../src/crypto/tokens.js";
import { DatabaseLockedError, openDatabase } from "../src/db/database.js";
import { cookieName } from "../src/http/cookies.js";
import { createLogger } from "../src/logger.js";
import { createSession, revokeSession } from "../src/sessions/sessions.js";
import { createUser, findUserByEmail, updateUser, verifyPassword } from "../src/users/users.js";
import { Browser, type BrowserResponse, signInAtIdp } from "../test/support/browser.js";
import { type CloudflareProxy, IDENTITY_COOKIE, startCloudflareProxy } from "./cloudflare-proxy.js";
import { type DemoIdp, type DemoPerson, startDemoIdp } from "./idp.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DATA_DIR = path.resolve(process.env.DEMO_DATA_DIR || path.join(ROOT, ".demo-data"));
const DATA_DIR_SHOWN = path.relative(process.cwd(), DATA_DIR) || ".";
const AGENCY = { name: "Demo Agency", slug: "demo", domain: "demo.localhost" } as const;
const ADMIN = { email: "admin@demo.test", name: "Demo Admin", password: "demo-admin-password" } as const;
const IDP_PASSWORD = "demo";
const OIDC_NAME = "Demo IdP";
const CLOUDFLARE_NAME = "Cloudflare Access";

const SUB_ACCOUNTS = ["Main Street Bakery", "Harbor Dental", "Summit Fitness"];

/** People of CoPilot (sub-accounts by name). */
const USERS: Array<{ email: string; name: string; role: "admin" | "analyst"; subAccounts: string[] }> = [
  { email: "alice@demo.test", name: "Alice Admin", role: "admin", subAccounts: [] },
  { email: "bob@demo.test", name: "Bob Analyst", role: "analyst", subAccounts: SUB_ACCOUNTS.slice(0, 2) },
  { email: "erin@demo.test", name: "Erin Analyst", role: "analyst", subAccounts: SUB_ACCOUNTS.slice(2) },
  { email: "dave@demo.test", name: "Dave No-Access", role: "analyst", subAccounts: [] },
];

/** People of the demo IdP (and of the simulated Cloudflare Access). */
const PEOPLE: DemoPerson[] = [
  { sub: "demo-alice", email: "alice@demo.test", name: "Alice Admin", note: "agency admin" },
  {
    sub: "demo-bob",
    email: "bob@demo.test",
    name: "Bob Analyst",
    note: "analyst with two sub-accounts",
  },
  {
    sub: "demo-carol",
    email: "carol@demo.test",
    name: "Carol Contractor",
    note: "not a CoPilot user: “No user found with this email.”",
  },
  {
    sub: "demo-dave",
    email: "dave@demo.test",
    name: "Dave No-Access",
    note: "analyst without a sub-account: “not authorized”",
  },
];

function portVar(name: string, fallback: number): number {
  const raw = process.env[name];
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) {
    console.error(`${name} must be a port number`);
    process.exit(1);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// Demo state kept between runs: the IdP's client secret and keys, the Cloudflare AUD tag and key.
// ---------------------------------------------------------------------------------------------------------

interface DemoState {
  idp: { clientId: string; clientSecret: string; signingKey: JWK; cookieKeys: string[] };
  cloudflare: { audTag: string; signingKey: JWK };
}

async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty: jwk.kty!, n: jwk.n!, e: jwk.e! });
  return { ...jwk, kid, alg: "RS256", use: "sig" };
}

async function loadState(): Promise<DemoState> {
  const file = path.join(DATA_DIR, "demo.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as DemoState;
  const state: DemoState = {
    idp: {
      clientId: "copilot-demo",
      clientSecret: randomToken(32),
      signingKey: await newSigningKey(),
      cookieKeys: [randomToken(32)],
    },
    cloudflare: { audTag: randomToken(32).replace(/[^A-Za-z0-9]/g, "x"), signingKey: await newSigningKey() },
  };
  mkdirSync(DATA_DIR, { recursive: true });
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  return state;
}

// ---------------------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------------------

async function seedPeople(ctx: AppContext): Promise<string> {
  const db = ctx.db;
  let agency = await findAgencyBySlug(db, AGENCY.slug);
  if (!agency) {
    agency = await createAgency(db, {
      name: AGENCY.name,
      slug: AGENCY.slug,
      plan: "pro",
      domain: AGENCY.domain,
    });
  } else if (agency.plan !== "pro" || agency.domain !== AGENCY.domain) {
    await db
      .updateTable("agencies")
      .set({ plan: "pro", domain: AGENCY.domain, updated_at: new Date() })
      .where("id", "=", agency.id)
      .execute();
  }
  const agencyId = agency.id;

  const subAccountIds = new Map<string, string>();
  for (const name of SUB_ACCOUNTS) {
    const found = await db
      .selectFrom("sub_accounts")
      .select("id")
      .where("agency_id", "=", agencyId)
      .where("name", "=", name)
      .executeTakeFirst();
    const id = found?.id ?? crypto.randomUUID();
    if (!found) await db.insertInto("sub_accounts").values({ id, agency_id: agencyId, name }).execute();
    subAccountIds.set(name, id);
  }

  const admin = await findUserByEmail(db, agencyId, ADMIN.email);
  if (!admin) {
    await createUser(db, agencyId, { ...ADMIN, role: "admin" });
  } else if (!admin.active || !(await verifyPassword(admin.password_hash, ADMIN.password))) {
    // Someone changed it during an earlier run: the printed credentials must work.
    await updateUser(db, agencyId, admin.id, { password: ADMIN.password, active: true, role: "admin" });
  }
  for (const u of USERS) {
    if (await findUserByEmail(db, agencyId, u.email)) continue;
    await createUser(db, agencyId, {
      email: u.email,
      name: u.name,
      role: u.role,
      subAccountIds: u.subAccounts.map((name) => subAccountIds.get(name)!),
    });
  }
  return agencyId;
}

type Json = Record<string, any>;

class SeedError extends Error {}

/** Drives the admin API with a session of the demo admin, like the settings pages do. */
class AdminApi {
  constructor(
    readonly browser: Browser,
    readonly origin: string,
  ) {}

  async call(method: string, urlPath: string, body?: unknown): Promise<BrowserResponse> {
    return this.browser.postJson(`${this.origin}${urlPath}`, body, { method });
  }

  async expect(method: string, urlPath: string, status: number, body?: unknown): Promise<Json> {
    const res = await this.call(method, urlPath, body);
    if (res.status !== status) {
      throw new SeedError(`${method} ${urlPath} answered ${res.status}: ${res.body.slice(0, 400)}`);
    }
    return res.body ? res.json<Json>() : {};
  }
}

/** Creates the connection, or brings an existing one (same name and type) to this configuration. */
async function upsertConnection(api: AdminApi, body: Json, same: (c: Json) => boolean): Promise<Json> {
  const { connections } = await api.expect("GET", "/api/admin/sso", 200);
  const existing = (connections as Json[]).find((c) => c.type === body.type && c.name === body.name);
  if (!existing) return (await api.expect("POST", "/api/admin/sso/connections", 201, body)).connection;
  if (same(existing)) return existing;
  return (await api.expect("PUT", `/api/admin/sso/connections/${existing.id}`, 200, body)).connection;
}

async function enableConnection(api: AdminApi, connection: Json): Promise<void> {
  if (!connection.enabled) {
    await api.expect("PUT", `/api/admin/sso/connections/${connection.id}/enabled`, 200, { enabled: true });
  }
  const { settings } = await api.expect("GET", "/api/admin/sso", 200);
  if (!settings.enabled) await api.expect("PUT", "/api/admin/sso/settings", 200, { enabled: true });
}

const hasPassedTest = (c: Json) => c.latestTest?.status === "passed";

async function seedOidc(api: AdminApi, idp: DemoIdp, state: DemoState): Promise<string> {
  const connection = await upsertConnection(
    api,
    {
      type: "oidc",
      name: OIDC_NAME,
      clientId: state.idp.clientId,
      clientSecret: state.idp.clientSecret,
      discoveryUrl: idp.discoveryUrl,
      scopes: ["openid", "profile", "email"],
    },
    (c) =>
      c.discoveryUrl === idp.discoveryUrl &&
      c.clientId === state.idp.clientId &&
      c.redirectUrl === `${api.origin}/login/sso`,
  );
  if (!hasPassedTest(connection)) {
    // The real test: the admin signs in at the IdP and comes back to the SSO settings page.
    const started = await api.expect("POST", `/api/admin/sso/connections/${connection.id}/tests`, 201);
    const back = await signInAtIdp(api.browser, started.authorizationUrl, "alice@demo.test", {
      password: IDP_PASSWORD,
    });
    const testId = started.test.id as string;
    if (back.status !== 302 || !back.location?.includes(`/settings/sso?test=${testId}`)) {
      throw new SeedError(`the OIDC test did not come back to the settings page (${back.status})`);
    }
    const { test } = await api.expect("GET", `/api/admin/sso/tests/${testId}`, 200);
    if (test.status !== "passed") {
      throw new SeedError(`the OIDC test ${test.status}: ${test.message} ${JSON.stringify(test.diagnostic)}`);
    }
  }
  await enableConnection(api, connection);
  return connection.id as string;
}

/**
 * The Cloudflare Access connection, tested through the simulated proxy (the test URL is opened on
 * the proxy's origin, where every request carries an assertion). Returns why it is not enabled, if so.
 */
async function seedCloudflare(
  api: AdminApi,
  proxy: CloudflareProxy,
  state: DemoState,
): Promise<string | null> {
  let connection: Json;
  try {
    connection = await upsertConnection(
      api,
      {
        type: "cloudflare-access",
        name: CLOUDFLARE_NAME,
        teamDomain: proxy.teamDomain,
        audience: state.cloudflare.audTag,
      },
      (c) => c.teamDomain === proxy.teamDomain && c.audience === state.cloudflare.audTag,
    );
  } catch (err) {
    return `the connection could not be saved (${err instanceof Error ? err.message : String(err)})`;
  }
  if (!hasPassedTest(connection)) {
    const started = await api.call("POST", `/api/admin/sso/connections/${connection.id}/tests`);
    if (started.status !== 201) {
      const reason = started.json<Json>().error?.message ?? `HTTP ${started.status}`;
      return `this server cannot test Cloudflare Access connections yet (${reason})`;
    }
    const { test, authorizationUrl } = started.json<Json>();
    const target = new URL(authorizationUrl as string, api.origin);
    const viaProxy = `${proxy.origin}${target.pathname}${target.search}`;
    api.browser.jar.setCookie(proxy.origin, `${IDENTITY_COOKIE}=alice%40demo.test; Path=/`);
    const back = await api.browser.follow(viaProxy, {
      stopBefore: (u) => u.pathname === "/settings/sso" || u.pathname === "/login",
    });
    const { test: finished } = await api.expect("GET", `/api/admin/sso/tests/${test.id}`, 200);
    if (finished.status !== "passed") {
      return `its test ${finished.status} (${finished.message ?? back.location ?? back.status})`;
    }
  }
  try {
    await enableConnection(api, connection);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------------------

function buildPagesIfMissing(): void {
  if (existsSync(path.join(WEB_DIR, "index.html"))) return;
  console.log("demo: building the pages (dist/web) once with vite …");
  const r = spawnSync("npx", ["vite", "build", "--logLevel", "warn"], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) {
    console.error("demo: the page build failed; the API still works, the pages will not");
  }
}

async function main(): Promise<void> {
  const port = portVar("DEMO_PORT", 3000);
  const idpPort = portVar("DEMO_IDP_PORT", port + 1);
  const cfPort = portVar("DEMO_CLOUDFLARE_PORT", port + 2);
  const origin = `http://${AGENCY.domain}:${port}`;

  buildPagesIfMissing();
  const state = await loadState();

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "development",
    PORT: String(port),
    PUBLIC_URL: `http://localhost:${port}`,
    DATA_DIR,
    ALLOW_PRIVATE_IDP_URLS: "true",
    LOG_LEVEL: process.env.LOG_LEVEL || "warn",
  };
  delete env.DATABASE_URL; // the demo always uses its own embedded database
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`config: ${p}`);
      process.exit(1);
    }
    throw err;
  }

  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\ndemo: ${signal}, stopping …`);
    void stopAll().then(() => process.exit(0));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  try {
    const idp = await startDemoIdp({
      port: idpPort,
      clientId: state.idp.clientId,
      clientSecret: state.idp.clientSecret,
      redirectUris: [`${origin}/login/sso`],
      signingKey: state.idp.signingKey,
      cookieKeys: state.idp.cookieKeys,
      people: PEOPLE,
      password: IDP_PASSWORD,
    });
    stops.push(idp.close);

    const opened = await openDatabase({ databaseUrl: null, dataDir: DATA_DIR });
    stops.push(opened.close);
    const log = createLogger(config.logLevel);
    const ctx = createContext(config, opened.db, { log });
    const app = await buildApp(ctx);
    // "localhost": Fastify listens on every loopback address (127.0.0.1 and ::1), nothing else.
    await app.listen({ port, host: "localhost" });
    stops.push(() => app.close());
    stops.push(await startControlServer(ctx, DATA_DIR));

    const proxy = await startCloudflareProxy({
      port: cfPort,
      upstreamPort: port,
      agencyHost: AGENCY.domain,
      audTag: state.cloudflare.audTag,
      signingKey: state.cloudflare.signingKey,
      people: PEOPLE,
    });
    stops.push(proxy.close);

    // ---- seed ----
    const agencyId = await seedPeople(ctx);
    const adminUser = (await findUserByEmail(ctx.db, agencyId, ADMIN.email))!;
    const { token } = await createSession(ctx, {
      userId: adminUser.id,
      agencyId,
      method: "demo-seed",
      ip: "127.0.0.1",
      userAgent: "copilot-demo",
    });
    const browser = new Browser();
    const sessionCookie = cookieName("session", new URL(origin).protocol === "https:");
    browser.jar.setCookie(origin, `${sessionCookie}=${token}; Path=/; HttpOnly; SameSite=Lax`);
    const api = new AdminApi(browser, origin);
    let cloudflareProblem: string | null;
    try {
      await seedOidc(api, idp, state);
      cloudflareProblem = await seedCloudflare(api, proxy, state);
    } finally {
      await revokeSession(ctx.db, token);
      await browser.close();
    }

    const cf = cloudflareProblem
      ? [
          `  Cloudflare Access  not enabled: ${cloudflareProblem}.`,
          `                     The simulated proxy still runs at ${proxy.origin}/ (certs: http://${proxy.teamDomain}/cdn-cgi/access/certs)`,
        ]
      : [
          `  Cloudflare Access  ${proxy.origin}/login/sso/cloudflare`,
          "                     a simulated Cloudflare Access in front of CoPilot: pick who you are, it signs",
          "                     a Cf-Access-Jwt-Assertion for every request (alice, bob, carol or dave)",
        ];
    console.log(
      [
        "",
        `CoPilot SSO demo is running (data in ${DATA_DIR_SHOWN}, Ctrl-C stops everything)`,
        "",
        `  Sign-in page       ${origin}/login`,
        `  Password sign-in   ${ADMIN.email} / ${ADMIN.password}   (agency admin)`,
        `  SSO sign-in        "Sign in with ${OIDC_NAME}" on the sign-in page, then at the demo IdP:`,
        ...PEOPLE.map((p) => `                       ${p.email.padEnd(18)} / ${IDP_PASSWORD}   ${p.note}`),
        `  SSO settings       ${origin}/settings/sso   (setup wizard, tests, toggles; sign in as an admin)`,
        ...cf,
        `  Demo IdP           ${idp.discoveryUrl}`,
        `  API reference      ${origin}/docs`,
        `  Command line       DATA_DIR=${DATA_DIR_SHOWN} npm run cli -- user create --agency demo --email new@demo.test --role analyst`,
        "",
        `  *.localhost resolves to this machine in Chromium and Firefox; with curl: curl -H 'Host: ${AGENCY.domain}' http://127.0.0.1:${port}/api/auth/methods`,
        "",
      ].join("\n"),
    );
  } catch (err) {
    await stopAll();
    if (err instanceof DatabaseLockedError) {
      console.error(`demo: ${err.message}`);
    } else if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
      const e = err as NodeJS.ErrnoException & { port?: number };
      console.error(
        `demo: a port is already in use (${e.message}). Stop what uses it or set DEMO_PORT (and DEMO_IDP_PORT, DEMO_CLOUDFLARE_PORT).`,
      );
    } else if (err instanceof SeedError) {
      console.error(`demo: seeding failed: ${err.message}`);
    } else {
      console.error(`demo: ${err instanceof Error ? err.stack : String(err)}`);
    }
    process.exit(1);
  }
}

void main();
