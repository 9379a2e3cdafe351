// Issue 13 §1: a node survives its PostgreSQL going away — killed under concurrent sign-ins
// (`pg_ctl stop -m immediate`), or hung (accepting and never answering). While it is gone the process
// stays up: /healthz 200, /readyz 503, API clients 503 `unavailable` with Retry-After, browsers back on
// the login page with §4's sso_failed; when PostgreSQL is back it serves again by itself.
// The test starts its own PostgreSQL server (Debian's binaries), whatever storage the run uses.
import { existsSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findPostgresBin, freePort, type PostgresServer, startPostgres } from "../../scripts/postgres.js";
import { openDatabase } from "../../src/db/database.js";
import { isDatabaseUnavailable } from "../../src/db/unavailable.js";
import { ssoMessage } from "../../src/sso/messages.js";
import {
  type Answer,
  httpRequest,
  nextPerson,
  passwordSignIn,
  type ServerProcess,
  seedDatabase,
  startServerProcess,
} from "../support/server-process.js";

const bin = findPostgresBin();
const hasPages = existsSync(path.resolve("dist/web/index.html"));

/** Browser navigations that need the database: each must end on the login page with sso_failed. */
const NAVIGATIONS = [
  "/login/sso/start?connection=00000000-0000-0000-0000-000000000000",
  "/login/sso?code=abc&state=def",
  "/login/sso/cloudflare",
  "/login/google/start",
  "/login/google?state=abc",
  "/login/2fa",
];

function expectUnavailable(res: Answer) {
  expect(res.status).toBe(503);
  expect(res.json()).toEqual({ error: { code: "unavailable", message: ssoMessage("sso_failed") } });
  expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
}

/** What a node must answer while its database is gone (each host is new: nothing cached for it). */
async function expectOutageAnswers(server: ServerProcess, tag: string) {
  const port = server.port;
  expect((await httpRequest(port, { path: "/healthz", host: "localhost" })).status).toBe(200);
  const ready = await httpRequest(port, { path: "/readyz", host: "localhost" });
  expect(ready.status).toBe(503);
  const json = { accept: "application/json" };
  expectUnavailable(
    await httpRequest(port, { path: "/api/auth/methods", host: `${tag}-methods.localhost`, headers: json }),
  );
  expectUnavailable(await passwordSignIn(port, `${tag}-login.localhost`, "admin@acme.test"));
  const html = { accept: "text/html,application/xhtml+xml,*/*;q=0.8" };
  for (const [i, url] of NAVIGATIONS.entries()) {
    const res = await httpRequest(port, { path: url, host: `${tag}-nav${i}.localhost`, headers: html });
    expect([res.status, res.headers.location], url).toEqual([302, "/login?error=sso_failed"]);
  }
  // The login page itself needs no database: it loads and shows the message.
  const page = await httpRequest(port, {
    path: "/login?error=sso_failed",
    host: "acme.localhost",
    headers: html,
  });
  expect(page.status).toBe(hasPages ? 200 : 404);
}

/** Sign-in loops until `until()` says stop; every answer is recorded (a dead server rejects). */
function signInLoops(port: number, workers: number, until: () => boolean) {
  const statuses: number[] = [];
  const failures: string[] = [];
  const loops = Array.from({ length: workers }, async () => {
    while (!until()) {
      try {
        statuses.push((await passwordSignIn(port, "acme.localhost", nextPerson())).status);
      } catch (err) {
        failures.push(String(err));
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  return { statuses, failures, done: Promise.all(loops) };
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A TCP proxy to PostgreSQL that can hang: connections are then accepted and never answered. */
async function hangingProxy(target: number) {
  let hung = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    if (hung) return; // accepted, never answered
    const upstream = net.connect(target, "127.0.0.1");
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("data", (d) => {
      if (!hung) upstream.write(d);
    });
    upstream.on("data", (d) => {
      if (!hung) client.write(d);
    });
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)),
  );
  return {
    port,
    hang: () => {
      hung = true;
    },
    /** Back to normal; the hung connections are cut (as a recovering network does). */
    recover: () => {
      hung = false;
      for (const s of sockets) s.destroy();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe.runIf(bin)("a node and its PostgreSQL", () => {
  let postgres: PostgresServer;
  const cleanups: Array<() => unknown> = [];
  beforeAll(async () => {
    postgres = await startPostgres(bin!, { durable: false });
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    postgres?.stop();
  });

  /** A new database on the server, for one test. */
  async function newDatabase(name: string): Promise<string> {
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return postgres.url.replace(/\/[^/]*$/, `/${name}`);
  }

  it("survives PostgreSQL killed under concurrent sign-ins, answers 503/sso_failed meanwhile, and serves again on its own", async () => {
    const databaseUrl = await newDatabase("outage_killed");
    const seeded = await seedDatabase(databaseUrl);
    cleanups.push(seeded.remove);
    const server = await startServerProcess({
      PORT: String(await freePort()),
      DATA_DIR: seeded.dataDir,
      DATABASE_URL: databaseUrl,
      SHUTDOWN_DRAIN_SECONDS: "0",
    });
    cleanups.push(() => server.child.kill("SIGKILL"));
    const signedIn = await passwordSignIn(server.port, "acme.localhost", "admin@acme.test");
    expect(signedIn.status).toBe(200);
    const cookie = String(signedIn.headers["set-cookie"]?.[0]).split(";")[0]!;
    const me = () =>
      httpRequest(server.port, {
        path: "/api/auth/me",
        host: "acme.localhost",
        headers: { cookie, accept: "application/json" },
      });

    let stop = false;
    const load = signInLoops(server.port, 8, () => stop);
    await waitFor("sign-ins under way", async () => load.statuses.length >= 8);
    postgres.halt();
    try {
      await waitFor("readiness to fail", async () => {
        const r = await httpRequest(server.port, { path: "/readyz", host: "localhost" });
        return r.status === 503;
      });
      expect(server.child.exitCode).toBeNull();
      await expectOutageAnswers(server, "killed");
      // A signed-in person is not signed out by the outage: once the read cache lets go, 503, not 401.
      let during = await me();
      for (let i = 0; i < 100 && during.status === 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        during = await me();
      }
      expectUnavailable(during);
    } finally {
      postgres.resume();
    }
    await waitFor("readiness again", async () => {
      const r = await httpRequest(server.port, { path: "/readyz", host: "localhost" });
      return r.status === 200;
    });
    await waitFor("a sign-in again", async () => load.statuses.at(-1) === 200);
    stop = true;
    await load.done;

    expect(server.child.exitCode).toBeNull(); // alive throughout
    expect(load.failures).toEqual([]); // every request got an answer
    expect(load.statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]); // never a 500
    expect(load.statuses).toContain(503);
    expect(server.output()).not.toMatch(/Unhandled|uncaught/i);
    expect((await passwordSignIn(server.port, "acme.localhost", "admin@acme.test")).status).toBe(200);
    expect((await me()).status).toBe(200); // and the session still works
  }, 120_000);

  it("bounds a hung database: requests end with 503 instead of waiting for ever, then it serves again", async () => {
    const databaseUrl = await newDatabase("outage_hung");
    const proxy = await hangingProxy(Number(new URL(databaseUrl).port));
    cleanups.push(proxy.close);
    const url = new URL(databaseUrl);
    url.port = String(proxy.port);
    const seeded = await seedDatabase(databaseUrl);
    cleanups.push(seeded.remove);
    const server = await startServerProcess({
      PORT: String(await freePort()),
      DATA_DIR: seeded.dataDir,
      DATABASE_URL: url.toString(),
      DATABASE_CONNECT_TIMEOUT_MS: "1000",
      DATABASE_STATEMENT_TIMEOUT_MS: "1000",
      SHUTDOWN_DRAIN_SECONDS: "0",
    });
    cleanups.push(() => server.child.kill("SIGKILL"));
    expect((await passwordSignIn(server.port, "acme.localhost", "admin@acme.test")).status).toBe(200);

    proxy.hang();
    // Connections already open (the pool's) and new ones alike now never answer.
    const answers = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        httpRequest(server.port, {
          path: "/api/auth/methods",
          host: `hung${i}.localhost`,
          headers: { accept: "application/json" },
        }),
      ),
    );
    for (const a of answers) expectUnavailable(a);
    await expectOutageAnswers(server, "hung");
    expect(server.child.exitCode).toBeNull();

    proxy.recover();
    await waitFor("a sign-in again", async () => {
      return (await passwordSignIn(server.port, "acme.localhost", "admin@acme.test")).status === 200;
    });
    expect((await httpRequest(server.port, { path: "/readyz", host: "localhost" })).status).toBe(200);
  }, 120_000);

  it("a statement running past DATABASE_STATEMENT_TIMEOUT_MS is cancelled and counts as unavailable", async () => {
    const opened = await openDatabase({
      databaseUrl: postgres.url,
      dataDir: os.tmpdir(),
      migrate: false,
      timeouts: { statementMs: 300 },
    });
    try {
      const err = await sql`select pg_sleep(5)`.execute(opened.db).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe("57014");
      expect(isDatabaseUnavailable(err)).toBe(true);
      // The connection is still good for the next statement.
      expect((await sql<{ one: number }>`select 1 as one`.execute(opened.db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await opened.close();
    }
  });
});
