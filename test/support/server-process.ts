// The real server as a child process (`node --import tsx src/main.ts`), for what only a process can
// show: that it survives its database, drains on SIGTERM, exits with a status. Plus raw HTTP with a
// chosen Host header (fetch cannot set Host) and a seeded data directory.
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createAgency } from "../../src/agencies/agencies.js";
import { openDatabase } from "../../src/db/database.js";
import { createUser } from "../../src/users/users.js";

export const PASSWORD = "a long enough password";

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  output(): string;
  /** Resolves with the exit code (or signal name) once the process ended. */
  exited: Promise<number | string>;
}

/** The environment of a child: the test's own, minus anything that would pick a database or secrets. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", ...extra };
  for (const k of ["DATABASE_URL", "JWT_SECRET", "SSO_STATE_SECRET", "ENCRYPTION_KEY", "NODE_ENV"]) {
    if (!(k in extra)) delete env[k];
  }
  return env;
}

/** Starts `src/main.ts` (node itself with tsx's loader: one process, signals reach the server). */
export async function startServerProcess(
  env: Record<string, string> & { PORT: string },
): Promise<ServerProcess> {
  // The test is the proxy in front (loopback): each sign-in names its own client address, as the
  // many people behind a real load balancer would (the per-IP sign-in limits see each separately).
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: childEnv({ HOST: "127.0.0.1", TRUST_PROXY: "loopback", ...env }),
  });
  let out = "";
  const collect = (d: Buffer) => {
    out += d.toString();
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const port = Number(env.PORT);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited: ${out}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.ok) return { child, port, output: () => out, exited };
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGKILL");
  throw new Error(`server did not become ready: ${out}`);
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: () => unknown;
}

/** One HTTP request to 127.0.0.1:port with a Host header; `agent` for keep-alive, else a new connection. */
export function httpRequest(
  port: number,
  options: {
    method?: string;
    path: string;
    host: string;
    headers?: Record<string, string>;
    body?: string;
    agent?: http.Agent;
    timeoutMs?: number;
  },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: options.method ?? "GET",
        path: options.path,
        headers: { host: `${options.host}:${port}`, ...options.headers },
        agent: options.agent ?? false,
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end(options.body);
  });
}

let clients = 0;

/** A new client address (TEST-NET-2), told to the server by X-Forwarded-For. */
export function nextClientAddress(): string {
  clients++;
  return `198.51.${(clients >> 8) & 255}.${clients & 255}`;
}

/** The people seedDatabase creates besides the admin (admins too, so no sub-account is needed). */
export const PEOPLE = 25;
let person = 0;

/** The next of the seeded people, in turn: concurrent sign-ins of different accounts. */
export function nextPerson(): string {
  person = (person % PEOPLE) + 1;
  return `person${person}@acme.test`;
}

/**
 * A password sign-in (JSON, as the login page sends it), from a client address of its own (the
 * attempt limits per address and per account apply: concurrent tests sign in as `nextPerson()`).
 */
export function passwordSignIn(
  port: number,
  host: string,
  email: string,
  options: { agent?: http.Agent } = {},
) {
  return httpRequest(port, {
    method: "POST",
    path: "/api/auth/login",
    host,
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      "x-forwarded-for": nextClientAddress(),
    },
    body: JSON.stringify({ email, password: PASSWORD }),
    agent: options.agent,
  });
}

/**
 * A database with one agency (`acme`, domain acme.localhost) and its admin admin@acme.test: on
 * `databaseUrl`, or (null) a new DATA_DIR copied from the migrated PGlite template.
 */
export async function seedDatabase(databaseUrl: string | null): Promise<{ dataDir: string; remove(): void }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "copilot-proc-"));
  const template = process.env.TEST_PGLITE_TEMPLATE;
  if (!databaseUrl && template) cpSync(template, path.join(dataDir, "pgdata"), { recursive: true });
  const opened = await openDatabase({ databaseUrl, dataDir });
  try {
    const agency = await createAgency(opened.db, {
      name: "Acme",
      slug: "acme",
      plan: "pro",
      domain: "acme.localhost",
    });
    await createUser(opened.db, agency.id, { email: "admin@acme.test", role: "admin", password: PASSWORD });
    for (let i = 1; i <= PEOPLE; i++) {
      await createUser(opened.db, agency.id, {
        email: `person${i}@acme.test`,
        role: "admin",
        password: PASSWORD,
      });
    }
  } finally {
    await opened.close();
  }
  return { dataDir, remove: () => rmSync(dataDir, { recursive: true, force: true }) };
}
