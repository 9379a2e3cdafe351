// The server and the CLI as real processes: production refuses to start without secrets, the CLI
// works beside a running server on the same embedded database, and a restart keeps the data.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/postgres.js";
import { loadConfig } from "../../src/config.js";
import { openTestDatabase } from "../support/db.js";

const TSX = path.resolve("node_modules/.bin/tsx");
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir() {
  const d = mkdtempSync(path.join(os.tmpdir(), "copilot-proc-"));
  dirs.push(d);
  return d;
}

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", ...extra };
  for (const k of ["DATABASE_URL", "JWT_SECRET", "SSO_STATE_SECRET", "ENCRYPTION_KEY", "NODE_ENV"]) {
    if (!(k in extra)) delete env[k];
  }
  return env;
}

function cli(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(TSX, ["src/cli.ts", ...args], { env: baseEnv(env), encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

async function startServer(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; output: () => string }> {
  // node itself with tsx's loader (not the tsx binary, which would run the server as a grandchild
  // that a SIGKILL of its parent leaves running)
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: baseEnv({ HOST: "127.0.0.1", ...env }),
  });
  children.push(child);
  let out = "";
  const collect = (d: Buffer) => {
    out += d.toString();
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${env.PORT}/readyz`);
      if (res.ok) return { child, output: () => out };
    } catch {}
    if (child.exitCode !== null) throw new Error(`server exited: ${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server did not become ready: ${out}`);
}

async function stop(child: ChildProcess) {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

/** One HTTP request with a chosen Host header (fetch does not let a caller set Host). */
function request(port: string, method: string, url: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; setCookie: string[] }>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: Number(port), method, path: url, headers }, (res) => {
      res.resume();
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, setCookie: res.headers["set-cookie"] ?? [] }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function login(port: string, email: string, password: string) {
  const res = await request(
    port,
    "POST",
    "/api/auth/login",
    { "content-type": "application/json", host: `acme.localhost:${port}` },
    JSON.stringify({ email, password }),
  );
  return { status: res.status, cookie: (res.setCookie[0] ?? "").split(";")[0]! };
}

describe("configuration", () => {
  it("refuses to start in production without secrets and names each one", () => {
    expect(() => loadConfig({ NODE_ENV: "production", DATA_DIR: tempDir() })).toThrow(
      /JWT_SECRET is required.*ENCRYPTION_KEY is required/,
    );
    const r = spawnSync(TSX, ["src/main.ts"], {
      env: baseEnv({ NODE_ENV: "production", DATA_DIR: tempDir(), PORT: "1" }),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("JWT_SECRET is required when NODE_ENV=production");
    expect(r.stderr).toContain("ENCRYPTION_KEY is required when NODE_ENV=production");
    expect(r.stderr).not.toContain("SSO_STATE_SECRET is required"); // it falls back to JWT_SECRET
  });

  it("generates development secrets once and keeps them in DATA_DIR", () => {
    const dir = tempDir();
    const a = loadConfig({ DATA_DIR: dir });
    const b = loadConfig({ DATA_DIR: dir });
    expect(a.jwtSecret).toHaveLength(64);
    expect(b.jwtSecret).toBe(a.jwtSecret);
    expect(b.encryptionKey).toBe(a.encryptionKey);
    expect(Buffer.from(a.encryptionKey, "base64url")).toHaveLength(32);
    const mode = spawnSync("stat", ["-c", "%a", path.join(dir, "secrets.json")], {
      encoding: "utf8",
    }).stdout.trim();
    expect(mode).toBe("600");
    expect(loadConfig({ DATA_DIR: dir, JWT_SECRET: "from-env" }).jwtSecret).toBe("from-env");
  });

  it("uses the effective JWT_SECRET as the SSO state secret when SSO_STATE_SECRET is unset, in every DATA_DIR", () => {
    const [a, b] = [tempDir(), tempDir()];
    // Two nodes given the same JWT_SECRET: the same state secret, whatever their DATA_DIR.
    expect(loadConfig({ DATA_DIR: a, JWT_SECRET: "shared" }).ssoStateSecret).toBe("shared");
    expect(loadConfig({ DATA_DIR: b, JWT_SECRET: "shared" }).ssoStateSecret).toBe("shared");
    expect(JSON.parse(readFileSync(path.join(a, "secrets.json"), "utf8"))).not.toHaveProperty(
      "SSO_STATE_SECRET",
    );
    // Without JWT_SECRET: the generated one.
    const generated = loadConfig({ DATA_DIR: a });
    expect(generated.ssoStateSecret).toBe(generated.jwtSecret);
    // A secrets file of an older version that holds a generated state secret: ignored.
    const old = tempDir();
    writeFileSync(
      path.join(old, "secrets.json"),
      JSON.stringify({
        JWT_SECRET: "old-jwt",
        SSO_STATE_SECRET: "old-state",
        ENCRYPTION_KEY: "k".repeat(43),
      }),
    );
    expect(loadConfig({ DATA_DIR: old }).ssoStateSecret).toBe("old-jwt");
    expect(loadConfig({ DATA_DIR: old, JWT_SECRET: "shared" }).ssoStateSecret).toBe("shared");
    // Set explicitly, it is used.
    expect(loadConfig({ DATA_DIR: a, JWT_SECRET: "shared", SSO_STATE_SECRET: "own" }).ssoStateSecret).toBe(
      "own",
    );
  });
});

describe("command line", () => {
  it("prints one-line reasons and exits non-zero on bad input", () => {
    const env = { DATA_DIR: tempDir() };
    const ok = cli(
      env,
      "agency",
      "create",
      "--name",
      "Acme",
      "--slug",
      "acme",
      "--domain",
      "acme.localhost",
      "--plan",
      "pro",
    );
    expect(ok.status).toBe(0);
    expect(ok.json().agency.slug).toBe("acme");
    const dup = cli(env, "agency", "create", "--name", "Acme 2", "--slug", "acme", "--plan", "pro");
    expect(dup.status).toBe(1);
    expect(dup.stderr.trim()).toBe('error: An agency with slug "acme" already exists (--slug)');
    const badEmail = cli(env, "user", "create", "--agency", "acme", "--email", "nope", "--role", "admin");
    expect(badEmail.status).toBe(1);
    expect(badEmail.stderr).toContain("email must be an email address");
    const unknown = cli(env, "user", "create", "--agency", "ghost", "--email", "a@b.test", "--role", "admin");
    expect(unknown.status).toBe(1);
    expect(unknown.stderr.trim()).toBe('error: unknown agency "ghost"');
    const badPlan = cli(env, "agency", "create", "--name", "X", "--slug", "x", "--plan", "gold");
    expect(badPlan.stderr.trim()).toBe("error: plan must be starter or pro (--plan)");
    expect(cli(env, "migrate").status).toBe(0);
  }, 180_000);

  it("works while the server runs on the same embedded database, and a restart keeps the data", async () => {
    const dir = tempDir();
    const port = String(await freePort());
    const env = { DATA_DIR: dir, PORT: port };
    const first = await startServer(env);
    expect(first.output()).toContain("npm run cli -- agency create");

    // A second server on the same DATA_DIR is refused with a clear reason.
    const second = spawnSync(TSX, ["src/main.ts"], {
      env: baseEnv({ ...env, PORT: String(await freePort()) }),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(second.status).toBe(1);
    expect(second.stdout + second.stderr).toContain("is in use by process");

    const agency = cli(
      env,
      "agency",
      "create",
      "--name",
      "Acme",
      "--slug",
      "acme",
      "--domain",
      "acme.localhost",
      "--plan",
      "pro",
    );
    expect(agency.status).toBe(0);
    const user = cli(
      env,
      "user",
      "create",
      "--agency",
      "acme",
      "--email",
      "admin@acme.test",
      "--role",
      "admin",
      "--password",
      "a long enough password",
    );
    expect(user.status).toBe(0);
    expect(
      cli(env, "user", "create", "--agency", "acme", "--email", "admin@acme.test", "--role", "admin").stderr,
    ).toContain("already exists");

    const signedIn = await login(port, "admin@acme.test", "a long enough password");
    expect(signedIn.status).toBe(200);
    await stop(first.child);

    await startServer(env);
    const again = await login(port, "admin@acme.test", "a long enough password");
    expect(again.status).toBe(200);
    const me = await request(port, "GET", "/api/auth/me", {
      cookie: signedIn.cookie,
      host: `acme.localhost:${port}`,
    });
    expect(me.status).toBe(200); // sessions survive a restart (same secrets, same database)
  }, 120_000);

  it.runIf(Boolean(process.env.TEST_DATABASE_URL))(
    "connects to PostgreSQL with DATABASE_URL",
    async () => {
      const database = await openTestDatabase("postgres");
      try {
        const env = { DATA_DIR: tempDir(), DATABASE_URL: database.url! };
        const ok = cli(
          env,
          "agency",
          "create",
          "--name",
          "PG",
          "--slug",
          "pg",
          "--domain",
          "pg.localhost",
          "--plan",
          "pro",
        );
        expect(ok.status).toBe(0);
        const rows = await database.db.selectFrom("agencies").select("slug").execute();
        expect(rows.map((r) => r.slug)).toEqual(["pg"]);
      } finally {
        await database.close();
      }
    },
    60_000,
  );
});
