/**
 * Benchmarks on real server processes (`node scripts/start.mjs`, as `npm start`; see server-process.ts):
 *
 *   memory        resident memory of one server: idle after the first start (a new data directory
 *                 or database), idle after a restart, and the peak under the SSO sign-in load
 *                 (issue 13 §6: PGlite idle ≤ 200 MB and peak ≤ 300 MB; PostgreSQL idle ≤ 120 MB)
 *   propagation   two servers on one PostgreSQL database: how long after node A answers a sign-out,
 *                 a deactivation, a password change or an SSO settings change node B refuses the
 *                 session (or shows the new settings), polling B back to back (SPEC §16: p99 ≤ 100 ms)
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Agent, request } from "undici";
import { freePort } from "../scripts/postgres.js";
import { loadConfig } from "../src/config.js";
import { createContext } from "../src/context.js";
import { createSecretBox, parseEncryptionKeys } from "../src/crypto/secret-box.js";
import { randomToken } from "../src/crypto/tokens.js";
import { openDatabase } from "../src/db/database.js";
import { createSession } from "../src/sessions/sessions.js";
import { closedLoop, type HttpClient, percentile, signIn } from "./load.js";
import { adminQuery, type BenchIdp, insertBenchAgency, insertBenchUsers, oidcConnectionRow } from "./seed.js";
import { type ServerProcess, startServer } from "./server-process.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freshDatabase(adminUrl: string, prefix: string) {
  const name = `${prefix}_${randomToken(6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "x")}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  return {
    url: adminUrl.replace(/\/[^/]*$/, `/${name}`),
    drop: () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

function serverEnv(dataDir: string, databaseUrl: string | null) {
  return {
    NODE_ENV: "production",
    DATA_DIR: dataDir,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    JWT_SECRET: randomToken(48),
    ENCRYPTION_KEY: randomToken(32),
    ALLOW_PRIVATE_IDP_URLS: "true",
  };
}

// ---------------------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------------------

export interface MemoryResult {
  storage: "pglite" | "postgres";
  firstStartMs: number;
  firstIdle: number;
  firstPeak: number;
  restartMs: number;
  restartIdle: number;
  loadPeak: number;
  afterLoadIdle: number;
  signIns: number;
  errors: number;
}

/** How long a server is left alone before its idle memory is read. */
const SETTLE_MS = 5_000;

export async function memoryOf(input: {
  storage: "pglite" | "postgres";
  adminUrl: string | null;
  idp: BenchIdp;
  http: HttpClient;
  clients: number;
  seconds: number;
  nodeArgs: string[];
  log: (m: string) => void;
}): Promise<MemoryResult> {
  const { storage } = input;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `copilot-bench-mem-${storage}-`));
  const database =
    storage === "postgres" && input.adminUrl ? await freshDatabase(input.adminUrl, "copilot_mem") : null;
  const env = serverEnv(dataDir, database?.url ?? null);
  const port = await freePort();
  let server: ServerProcess | null = null;
  try {
    input.log(`memory ${storage}: first start (new ${storage === "pglite" ? "data directory" : "database"})`);
    server = await startServer(env, input.nodeArgs, port);
    const firstStartMs = server.readyMs;
    await sleep(SETTLE_MS);
    const firstIdle = server.rss();
    const firstPeak = server.peak();
    await server.stop();
    server = null;

    // The sign-in world, written while no server runs (PGlite has one opener at a time).
    const opened = await openDatabase({ databaseUrl: database?.url ?? null, dataDir });
    const secretBox = createSecretBox(parseEncryptionKeys(env.ENCRYPTION_KEY));
    const { subAccountId } = await insertBenchAgency(opened.db, "bench-mem", "bench.localhost");
    await insertBenchUsers(opened.db, "bench-mem", subAccountId, "u-", 1, 10);
    await opened.db
      .insertInto("sso_connections")
      .values(
        oidcConnectionRow(secretBox, input.idp, {
          id: "bench-mem-oidc",
          agency: "bench-mem",
          domain: "bench.localhost",
          port,
        }),
      )
      .execute();
    await opened.close();

    input.log(`memory ${storage}: restart, then ${input.seconds} s of sign-ins`);
    server = await startServer(env, input.nodeArgs, port);
    const restartMs = server.readyMs;
    await sleep(SETTLE_MS);
    const restartIdle = server.rss();
    server.resetPeak();
    const op = (_c: number, n: number) =>
      signIn(input.http, {
        startUrl: `http://bench.localhost:${port}/login/sso/start?connection=bench-mem-oidc`,
        appCookie: "copilot_sso",
        sessionCookie: "copilot_session",
        user: 1 + (n % 10),
      });
    const warm = await closedLoop({ clients: 2, maxOps: 20, maxSeconds: 5, op });
    if (warm.ops === 0) throw new Error(`memory ${storage}: no sign-in succeeded (${warm.firstError})`);
    const load = await closedLoop({
      clients: input.clients,
      maxOps: 1_000_000,
      maxSeconds: input.seconds,
      op,
    });
    const loadPeak = server.peak();
    await sleep(SETTLE_MS);
    const afterLoadIdle = server.rss();
    return {
      storage,
      firstStartMs,
      firstIdle,
      firstPeak,
      restartMs,
      restartIdle,
      loadPeak,
      afterLoadIdle,
      signIns: load.ops + warm.ops,
      errors: load.errors + warm.errors,
    };
  } finally {
    await server?.stop();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Propagation between two nodes
// ---------------------------------------------------------------------------------------------------------

export type ChangeKind = "sign-out" | "deactivation" | "password change" | "SSO settings change";
export const CHANGE_KINDS: ChangeKind[] = [
  "sign-out",
  "deactivation",
  "password change",
  "SSO settings change",
];

export interface PropagationResult {
  kind: ChangeKind;
  /** ms from node A's answer to node B's first changed answer, per try. */
  times: number[];
  /** Requests B answered the old way after A's answer, per try. */
  polls: number[];
}

/** Give up on a try after this long (ten times the target): counted as MISSED. */
const POLL_LIMIT_MS = 1_000;
const DOMAIN = "prop.localhost";

export async function propagation(input: {
  adminUrl: string;
  tries: number;
  nodeArgs: string[];
  log: (m: string) => void;
}): Promise<PropagationResult[]> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "copilot-bench-prop-"));
  const database = await freshDatabase(input.adminUrl, "copilot_prop");
  const env = serverEnv(dataDir, database.url);
  const agent = new Agent({ connections: 4, pipelining: 1 });
  const servers: ServerProcess[] = [];
  let setup: Awaited<ReturnType<typeof openDatabase>> | null = null;
  try {
    input.log("propagation: starting node A and node B on one PostgreSQL database");
    servers.push(await startServer(env, input.nodeArgs));
    servers.push(await startServer(env, input.nodeArgs));
    const [a, b] = servers as [ServerProcess, ServerProcess];

    // Seed through a third handle (sessions are created directly: no sign-in throttling in the way).
    setup = await openDatabase({ databaseUrl: database.url, dataDir, migrate: false });
    const ctx = createContext(loadConfig({ ...env, PORT: String(a.port), LOG_LEVEL: "silent" }), setup.db);
    const agencyId = "bench-prop";
    const { subAccountId } = await insertBenchAgency(setup.db, agencyId, DOMAIN);
    await setup.db.updateTable("agencies").set({ sso_enabled: false }).where("id", "=", agencyId).execute();
    const people = input.tries * 3 + 1;
    await insertBenchUsers(setup.db, agencyId, subAccountId, "p-", 1, people);
    await setup.db.updateTable("users").set({ role: "admin" }).where("id", "=", "p-1").execute();
    let next = 2;
    const sessionOf = async (userId: string) =>
      (await createSession(ctx, { userId, agencyId, method: "bench", ip: "127.0.0.1", userAgent: "bench" }))
        .token;
    const admin = await sessionOf("p-1");

    const call = async (
      node: ServerProcess,
      method: "GET" | "POST" | "PUT" | "DELETE",
      url: string,
      token: string,
      body?: unknown,
    ) => {
      const origin = `http://${DOMAIN}:${node.port}`;
      const res = await request(`http://127.0.0.1:${node.port}${url}`, {
        method,
        dispatcher: agent,
        headers: {
          host: `${DOMAIN}:${node.port}`,
          cookie: `copilot_session=${token}`,
          accept: "application/json",
          ...(method === "GET" ? {} : { origin }),
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.body.text();
      return { status: res.statusCode, text };
    };
    const me = (token: string) => call(b, "GET", "/api/auth/me", token);
    /** Polls B back to back until `changed`; ms after `since` and the polls that saw the old state. */
    const pollB = async (since: number, changed: () => Promise<boolean>) => {
      let polls = 0;
      while (!(await changed())) {
        polls++;
        if (performance.now() - since > POLL_LIMIT_MS) return { ms: Number.POSITIVE_INFINITY, polls };
      }
      return { ms: performance.now() - since, polls };
    };
    const expectOk = (what: string, r: { status: number; text: string }) => {
      if (r.status >= 300) throw new Error(`${what}: ${r.status} ${r.text.slice(0, 200)}`);
    };

    const results: PropagationResult[] = [];
    let provisioning: "existing-users" | "allowlist" = "existing-users";
    for (const kind of CHANGE_KINDS) {
      const result: PropagationResult = { kind, times: [], polls: [] };
      for (let i = 0; i < input.tries; i++) {
        let done: number;
        let changed: () => Promise<boolean>;
        if (kind === "SSO settings change") {
          // B has the agency (and its settings) cached.
          for (let k = 0; k < 2; k++)
            expectOk("B GET /api/admin/sso", await call(b, "GET", "/api/admin/sso", admin));
          provisioning = provisioning === "allowlist" ? "existing-users" : "allowlist";
          const want = provisioning;
          expectOk(
            "A PUT settings",
            await call(a, "PUT", "/api/admin/sso/settings", admin, { provisioning: want }),
          );
          done = performance.now();
          changed = async () => {
            const r = await call(b, "GET", "/api/admin/sso", admin);
            return (
              (JSON.parse(r.text) as { settings: { provisioning: string } }).settings.provisioning === want
            );
          };
        } else {
          const userId = `p-${next++}`;
          const token = await sessionOf(userId);
          // B has the session cached.
          for (let k = 0; k < 2; k++) expectOk("B /api/auth/me", await me(token));
          if (kind === "sign-out") expectOk("A logout", await call(a, "POST", "/api/auth/logout", token));
          else if (kind === "deactivation")
            expectOk("A deactivate", await call(a, "DELETE", `/api/admin/users/${userId}`, admin));
          else
            expectOk(
              "A password",
              await call(a, "PUT", `/api/admin/users/${userId}`, admin, { password: `a new password ${i}!` }),
            );
          done = performance.now();
          changed = async () => (await me(token)).status === 401;
        }
        const r = await pollB(done, changed);
        result.times.push(r.ms);
        result.polls.push(r.polls);
      }
      results.push(result);
      input.log(`propagation: ${kind} p99 ${percentile(result.times, 99).toFixed(1)} ms`);
    }
    return results;
  } finally {
    await setup?.close();
    for (const s of servers) await s.stop();
    await agent.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
