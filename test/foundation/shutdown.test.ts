// Issue 13 §4: SIGTERM drains instead of resetting, and `npm start` is the server (signals reach it,
// nothing is left running, a current build is not rebuilt). Real processes, real sockets.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/postgres.js";
import { ssoMessage } from "../../src/sso/messages.js";
import { createTestApp } from "../support/app.js";
import {
  childEnv,
  httpRequest,
  nextPerson,
  passwordSignIn,
  seedDatabase,
  startServerProcess,
} from "../support/server-process.js";

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Does anything accept connections on 127.0.0.1:port? */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("SIGTERM", () => {
  it("answers every request received before and during the drain window, fails readiness, closes keep-alive connections, and exits 0", async () => {
    const seeded = await seedDatabase(null);
    cleanups.push(seeded.remove);
    const server = await startServerProcess({
      PORT: String(await freePort()),
      DATA_DIR: seeded.dataDir,
      SHUTDOWN_DRAIN_SECONDS: "2",
      SHUTDOWN_TIMEOUT_SECONDS: "10",
      LOG_LEVEL: "info",
    });
    cleanups.push(() => server.child.kill("SIGKILL"));
    const { port } = server;

    // A keep-alive connection, idle when the signal comes.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const first = await httpRequest(port, { path: "/healthz", host: "localhost", agent });
    expect(first.headers.connection).toBe("keep-alive");

    // 20 sign-ins on new connections, the signal 30 ms after they were sent.
    const before = Promise.allSettled(
      Array.from({ length: 20 }, () => passwordSignIn(port, "acme.localhost", nextPerson())),
    );
    await sleep(30);
    server.child.kill("SIGTERM");
    await sleep(200);

    const ready = await httpRequest(port, { path: "/readyz", host: "localhost" });
    expect([ready.status, ready.json()]).toEqual([503, { status: "shutting down" }]);
    // Arriving during the drain window: served, each on a connection that closes after its answer.
    const during = await Promise.all(
      Array.from({ length: 5 }, () => passwordSignIn(port, "acme.localhost", nextPerson())),
    );
    const reused = await httpRequest(port, { path: "/healthz", host: "localhost", agent });
    expect([reused.status, reused.headers.connection]).toEqual([200, "close"]);

    const answered = await before;
    const outcomes = answered.map((a) => (a.status === "fulfilled" ? a.value.status : String(a.reason)));
    expect(outcomes).toEqual(Array(20).fill(200));
    expect(during.map((a) => [a.status, a.headers.connection])).toEqual(Array(5).fill([200, "close"]));

    expect(await server.exited).toBe(0);
    expect(await listening(port)).toBe(false);
    expect(server.output()).toContain("shutting down");
  }, 120_000);

  it("exits 0 within SHUTDOWN_TIMEOUT_SECONDS even when a request never completes", async () => {
    const seeded = await seedDatabase(null);
    cleanups.push(seeded.remove);
    const server = await startServerProcess({
      PORT: String(await freePort()),
      DATA_DIR: seeded.dataDir,
      SHUTDOWN_DRAIN_SECONDS: "0",
      SHUTDOWN_TIMEOUT_SECONDS: "2",
    });
    cleanups.push(() => server.child.kill("SIGKILL"));
    // A request whose body never arrives keeps its connection busy.
    const stuck = net.connect(server.port, "127.0.0.1");
    stuck.on("error", () => {});
    cleanups.push(() => stuck.destroy());
    await new Promise((r) => stuck.once("connect", r));
    stuck.write(
      "POST /api/auth/login HTTP/1.1\r\nHost: acme.localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    );
    await sleep(200);
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain("shutdown took too long");
  }, 60_000);
});

describe("the drain states of the app", () => {
  it("draining: not ready, every answer closes its connection; closing: 503 unavailable in the API's shape", async () => {
    const t = await createTestApp("pglite");
    cleanups.push(() => t.close());
    t.app.lifecycle.draining = true;
    const ready = await t.app.inject("/readyz");
    expect([ready.statusCode, ready.json(), ready.headers.connection]).toEqual([
      503,
      { status: "shutting down" },
      "close",
    ]);
    const health = await t.app.inject("/healthz");
    expect([health.statusCode, health.headers.connection]).toEqual([200, "close"]);
    t.app.lifecycle.closing = true;
    const late = await t.app.inject({ url: "/api/auth/methods", headers: { host: "acme.localhost" } });
    expect(late.statusCode).toBe(503);
    expect(late.json()).toEqual({ error: { code: "unavailable", message: ssoMessage("sso_failed") } });
    expect(late.headers["retry-after"]).toBe("5");
    expect(late.headers.connection).toBe("close");
  });
});

describe("npm start", () => {
  /** `npm start` in the repository; the output is collected. */
  function npmStart(env: Record<string, string>) {
    const child: ChildProcess = spawn("npm", ["start"], { env: childEnv({ HOST: "127.0.0.1", ...env }) });
    cleanups.push(() => child.kill("SIGKILL"));
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
    });
    child.stderr!.on("data", (d) => {
      out += d;
    });
    const exited = new Promise<number | string>((resolve) =>
      child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
    );
    return { child, exited, output: () => out };
  }

  async function healthy(port: number, ms: number) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (
        await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return true;
      await sleep(100);
    }
    return false;
  }

  /** The pids whose parent is `pid`. */
  function childrenOf(pid: number): number[] {
    const r = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" });
    return r.stdout
      .split("\n")
      .map(Number)
      .filter((n) => n > 0);
  }

  it("runs the server as npm's own child: SIGTERM to npm stops it, frees the port; a current build is not rebuilt", async () => {
    const seeded = await seedDatabase(null);
    cleanups.push(seeded.remove);
    const port = await freePort();
    const env = {
      PORT: String(port),
      DATA_DIR: seeded.dataDir,
      SHUTDOWN_DRAIN_SECONDS: "1",
      LOG_LEVEL: "info",
    };

    // First start: builds only if the sources changed since the last build.
    const first = npmStart(env);
    expect(await healthy(port, 240_000)).toBe(true);
    const [server] = childrenOf(first.child.pid!);
    expect(server).toBeDefined();
    expect(childrenOf(server!)).toEqual([]); // the server is npm's child itself, no shell in between
    first.child.kill("SIGTERM");
    await first.exited;
    for (let i = 0; i < 100 && alive(server!); i++) await sleep(100);
    expect(alive(server!)).toBe(false); // no orphan
    expect(await listening(port)).toBe(false); // the port is free
    expect(existsSync(path.join(seeded.dataDir, "pglite.lock"))).toBe(false); // and the database lock
    expect(first.output()).toContain("shutting down");

    // Second start with a current build: no build, the same compiled files.
    const built = statSync("dist/src/main.js").mtimeMs;
    const second = npmStart(env);
    expect(await healthy(port, 60_000)).toBe(true);
    second.child.kill("SIGTERM");
    await second.exited;
    expect(second.output()).not.toContain("Building CoPilot");
    expect(statSync("dist/src/main.js").mtimeMs).toBe(built);
  }, 360_000);
});
