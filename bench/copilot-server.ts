/**
 * CoPilot as the benchmarks run it: the real application (`buildApp`), compiled (dist/src, the
 * build `npm start` runs; processes.ts starts it with npm start's node options and
 * NODE_ENV=production), on a fresh database — PGlite
 * in a temporary directory or a new database on a PostgreSQL server — with, before `listen`, two
 * routes that are not CoPilot's:
 *
 *   GET /api/bench/ceiling          the same bytes as `GET /api/auth/me` (body and headers),
 *                                   unauthenticated: what Fastify + this app's global hooks for an API
 *                                   request (the agency of the Host, Cache-Control: no-store) cost at
 *                                   the least (the ceiling)
 *   GET /bench/ceiling              the same body outside /api/ (no agency lookup, no Cache-Control):
 *                                   the ceiling as it was before issue 15, for information
 *   GET /bench/cloudflare-verify    the server's own Cloudflare Access verification
 *                                   (`verifyAccessAssertion`, JWKS cache included) of the request's
 *                                   assertion, then the ceiling's bytes: verification alone, without
 *                                   the sign-in that `GET /login/sso/cloudflare` performs
 *
 * The seed goes straight to the database (the way an operator's bulk import would): the agency
 * `bench` on `bench.localhost` (pro, SSO enabled, one sub-account), its users in bulk with
 * `INSERT … SELECT generate_series`, an enabled OIDC connection to the benchmark IdP and an enabled
 * Cloudflare Access connection whose team domain is that IdP. More users and more agencies are added
 * on request (see `handlers`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import "../src/features.js";
import { freePort } from "../scripts/postgres.js";
import { buildApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { createContext } from "../src/context.js";
import { randomToken } from "../src/crypto/tokens.js";
import { openDatabase } from "../src/db/database.js";
import { createLogger } from "../src/logger.js";
import { createSession } from "../src/sessions/sessions.js";
import { verifyAccessAssertion } from "../src/sso/cloudflare.js";
import { rowValues } from "../src/sso/connections.js";
import { createJwksCache } from "../src/sso/jwks.js";
import { normalizeConnection } from "../src/sso/kinds/index.js";
import { startupDone } from "../src/startup-memory.js";
import { adminQuery, insertBenchUsers, oidcConnectionRow } from "./seed.js";

export interface CopilotServerOptions {
  storage: "pglite" | "postgres";
  /** For postgres: the server's admin URL; a fresh database is created on it. */
  adminUrl?: string;
  idp: { discoveryUrl: string; clientId: string; clientSecret: string; teamDomain: string };
  audTag: string;
  initialUsers: number;
  logLevel: string;
  /**
   * Measurement-only changes to the running server, to size a proposed change before anyone makes
   * it (never part of the reported CoPilot numbers unless named in the table):
   *   idp-keepalive   IdP calls through Node's global fetch (pooled keep-alive connections) instead of
   *                   the SSRF-guarded fetch, which opens and closes a connection per call. NOT safe
   *                   for production (no SSRF guard): an upper bound for reusing connections.
   */
  experiments?: string[];
}

export const MAIN_DOMAIN = "bench.localhost";

export async function startCopilotServer(options: CopilotServerOptions) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `copilot-bench-${options.storage}-`));
  let databaseUrl: string | null = null;
  let dbName: string | null = null;
  if (options.storage === "postgres") {
    if (!options.adminUrl) throw new Error("postgres storage needs adminUrl");
    dbName = `copilot_bench_${randomToken(6)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, "x")}`;
    await adminQuery(options.adminUrl, `CREATE DATABASE ${dbName}`);
    databaseUrl = options.adminUrl.replace(/\/[^/]*$/, `/${dbName}`);
  }
  const port = await freePort();
  const config = loadConfig({
    NODE_ENV: "production",
    PORT: String(port),
    HOST: "127.0.0.1",
    PUBLIC_URL: `http://localhost:${port}`,
    DATA_DIR: dataDir,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    JWT_SECRET: randomToken(48),
    ENCRYPTION_KEY: randomToken(32),
    ALLOW_PRIVATE_IDP_URLS: "true",
    LOG_LEVEL: options.logLevel,
  });
  const opened = await openDatabase({ databaseUrl, dataDir });
  const db = opened.db;
  // The bulk seeding of table 4 (a million users in one statement) outlasts the server's statement
  // timeout on a loaded machine: on PostgreSQL it runs on a handle of its own without one, so the
  // app's handle keeps exactly the settings `npm start` gives it. (PGlite has one opener and no timeout.)
  const seeder = databaseUrl
    ? await openDatabase({ databaseUrl, dataDir, migrate: false, timeouts: { statementMs: 0 } })
    : null;
  const seedDb = seeder?.db ?? db;
  const ctx = createContext(config, db, { log: createLogger(config.logLevel) });
  if (options.experiments?.includes("idp-keepalive")) {
    const pooled = (input: string | URL | Request, init?: RequestInit) => fetch(input, init);
    ctx.idpFetch = pooled as typeof ctx.idpFetch;
    ctx.jwks = createJwksCache({ fetch: pooled, now: () => ctx.now().getTime() });
  }

  // ---- seed: the main agency ----
  const agencyId = "bench-main";
  const subAccountId = "bench-main-sub";
  await db
    .insertInto("agencies")
    .values({
      id: agencyId,
      name: "Bench",
      slug: "bench",
      plan: "pro",
      domain: MAIN_DOMAIN,
      sso_enabled: true,
    })
    .execute();
  await db
    .insertInto("sub_accounts")
    .values({ id: subAccountId, agency_id: agencyId, name: "Main" })
    .execute();

  const insertUsers = (agency: string, sub: string, prefix: string, from: number, to: number) =>
    insertBenchUsers(seedDb, agency, sub, prefix, from, to);
  let users = 0;
  await insertUsers(agencyId, subAccountId, "u-", 1, options.initialUsers);
  users = options.initialUsers;

  const oidcRow = (id: string, agency: string, domain: string, mapping?: Record<string, string>) =>
    oidcConnectionRow(ctx.secretBox, options.idp, { id, agency, domain, port, mapping });
  const connectionId = "bench-main-oidc";
  // The same IdP, but the name is mapped from a claim the ID token does not carry: CoPilot then
  // asks user-info on every sign-in, as the reference does.
  const userinfoConnectionId = "bench-main-oidc-userinfo";
  await db
    .insertInto("sso_connections")
    .values([
      oidcRow(connectionId, agencyId, MAIN_DOMAIN),
      oidcRow(userinfoConnectionId, agencyId, MAIN_DOMAIN, { nameField: "given_name" }),
    ])
    .execute();
  const cloudflareId = "bench-main-cloudflare";
  {
    const { value } = normalizeConnection(
      {
        type: "cloudflare-access",
        name: "Bench Access",
        teamDomain: options.idp.teamDomain,
        audience: options.audTag,
      },
      { allowHttp: true, defaultRedirectUrl: `http://${MAIN_DOMAIN}:${port}/login/sso` },
    );
    await db
      .insertInto("sso_connections")
      .values({
        id: cloudflareId,
        agency_id: agencyId,
        ...rowValues(value),
        client_secret_enc: null,
        enabled: true,
      })
      .execute();
  }
  await sql`ANALYZE`.execute(db);

  // ---- the app, with the benchmark's own routes added before listen ----
  const app = await buildApp(ctx);
  let ceilingBody = "{}";
  for (const url of ["/api/bench/ceiling", "/bench/ceiling"]) {
    app.get(url, { schema: { hide: true } }, async (_request, reply) =>
      reply.type("application/json; charset=utf-8").send(ceilingBody),
    );
  }
  const cloudflareRow = await db
    .selectFrom("sso_connections")
    .selectAll()
    .where("id", "=", cloudflareId)
    .executeTakeFirstOrThrow();
  app.get("/bench/cloudflare-verify", { schema: { hide: true } }, async (request, reply) => {
    const raw = request.headers["cf-access-jwt-assertion"];
    const token = Array.isArray(raw) ? raw[0] : raw;
    try {
      await verifyAccessAssertion(ctx, cloudflareRow, token ?? "");
    } catch {
      return reply.status(401).send({ error: { code: "cloudflare_failed", message: "refused" } });
    }
    return reply.type("application/json; charset=utf-8").send(ceilingBody);
  });
  await app.listen({ port, host: "127.0.0.1" });
  startupDone(); // as main.ts does once it listens (the process preloads startup-memory.js as npm start does)

  const extraAgencies: Array<{ domain: string; connectionId: string; users: number }> = [];

  const handlers = {
    /** A session for user 1 of the main agency; sets the ceiling's bytes to its /api/auth/me. */
    async session() {
      const { token } = await createSession(ctx, {
        userId: "u-1",
        agencyId,
        method: "bench",
        ip: "127.0.0.1",
        userAgent: "bench",
      });
      const me = await app.inject({
        method: "GET",
        url: "/api/auth/me",
        headers: { host: `${MAIN_DOMAIN}:${port}`, cookie: `copilot_session=${token}` },
      });
      if (me.statusCode !== 200) throw new Error(`/api/auth/me answered ${me.statusCode}: ${me.body}`);
      ceilingBody = me.body;
      return { token, bytes: Buffer.byteLength(me.body) };
    },
    /** Grows the main agency to `to` users; returns how long the bulk insert took. */
    async growUsers(args: { to: number }) {
      const started = performance.now();
      await insertUsers(agencyId, subAccountId, "u-", users + 1, args.to);
      users = Math.max(users, args.to);
      await sql`ANALYZE users`.execute(seedDb);
      await sql`ANALYZE memberships`.execute(seedDb);
      return { users, seconds: (performance.now() - started) / 1000 };
    },
    /**
     * Adds `count` agencies, each with a domain, a sub-account and an enabled OIDC connection; the
     * first ones get `sizes[i]` users, the others `usersEach`.
     */
    async addAgencies(args: { count: number; usersEach: number; sizes?: number[] }) {
      const started = performance.now();
      const first = extraAgencies.length + 1;
      const last = first + args.count - 1;
      const sizes = args.sizes ?? [];
      const rows: Array<{ id: string; domain: string; connectionId: string; users: number }> = [];
      for (let k = first; k <= last; k++) {
        rows.push({
          id: `bench-a${k}`,
          domain: `a${k}.bench.localhost`,
          connectionId: `bench-a${k}-oidc`,
          users: sizes[k - first] ?? args.usersEach,
        });
      }
      for (let i = 0; i < rows.length; i += 200) {
        const batch = rows.slice(i, i + 200);
        await db
          .insertInto("agencies")
          .values(
            batch.map((r) => ({
              id: r.id,
              name: r.id,
              slug: r.id,
              plan: "pro" as const,
              domain: r.domain,
              sso_enabled: true,
            })),
          )
          .execute();
        await db
          .insertInto("sub_accounts")
          .values(batch.map((r) => ({ id: `${r.id}-sub`, agency_id: r.id, name: "Main" })))
          .execute();
        await db
          .insertInto("sso_connections")
          .values(batch.map((r) => oidcRow(r.connectionId, r.id, r.domain)))
          .execute();
      }
      for (const r of rows.slice(0, sizes.length)) {
        await insertUsers(r.id, `${r.id}-sub`, `${r.id}-u-`, 1, r.users);
      }
      const bulkFirst = first + sizes.length;
      if (bulkFirst <= last) {
        await sql`INSERT INTO users (id, agency_id, email, name, role, external_user_id)
          SELECT 'bench-a' || a || '-u-' || g, 'bench-a' || a, 'user' || g || '@bench.test', 'User ' || g,
                 'analyst', 'sub-' || g
          FROM generate_series(${bulkFirst}::int, ${last}::int) a, generate_series(1, ${args.usersEach}::int) g`.execute(
          seedDb,
        );
        await sql`INSERT INTO memberships (user_id, sub_account_id)
          SELECT 'bench-a' || a || '-u-' || g, 'bench-a' || a || '-sub'
          FROM generate_series(${bulkFirst}::int, ${last}::int) a, generate_series(1, ${args.usersEach}::int) g`.execute(
          seedDb,
        );
      }
      await sql`ANALYZE`.execute(seedDb);
      for (const r of rows)
        extraAgencies.push({ domain: r.domain, connectionId: r.connectionId, users: r.users });
      return { agencies: 1 + extraAgencies.length, seconds: (performance.now() - started) / 1000 };
    },
    async agencies() {
      return extraAgencies;
    },
    async counts() {
      const row = await sql<{ users: string; sessions: string; audit: string; agencies: string }>`
        SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM sessions) AS sessions,
               (SELECT count(*) FROM audit_log) AS audit, (SELECT count(*) FROM agencies) AS agencies`.execute(
        db,
      );
      const r = row.rows[0]!;
      return {
        users: Number(r.users),
        sessions: Number(r.sessions),
        audit: Number(r.audit),
        agencies: Number(r.agencies),
      };
    },
  };

  return {
    info: {
      port,
      host: MAIN_DOMAIN,
      storage: options.storage,
      experiments: options.experiments ?? [],
      connectionId,
      userinfoConnectionId,
      cloudflareId,
      users,
    },
    handlers,
    /** In-process requests (light-my-request), for CPU comparisons without sockets. */
    inject: app.inject.bind(app),
    async close() {
      await app.close();
      await seeder?.close();
      await opened.close();
      if (dbName && options.adminUrl)
        await adminQuery(options.adminUrl, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
