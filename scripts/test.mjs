#!/usr/bin/env node
// `npm test`: every suite against embedded PGlite and against a real PostgreSQL server.
// When Debian's PostgreSQL server binaries are present (/usr/lib/postgresql/*/bin), a throwaway
// server is started here (initdb in a temp folder, a free loopback port) and stopped afterwards.
// Without them the run says so and uses PGlite only; with CI=true their absence is a failure.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

function findPgBin() {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = path.join(root, v, "bin");
    if (existsSync(path.join(bin, "initdb")) && existsSync(path.join(bin, "pg_ctl"))) return bin;
  }
  return null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "pipe", encoding: "utf8", ...opts });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} failed: ${r.stderr || r.stdout}`);
  return r;
}

/** initdb needs a non-root owner: as root, run the server as the "postgres" (or "nobody") user. */
function asUser() {
  if (process.getuid?.() !== 0) return null;
  for (const name of ["postgres", "nobody"]) {
    const r = spawnSync("id", ["-u", name], { encoding: "utf8" });
    if (r.status === 0) return name;
  }
  return null;
}

async function startPostgres(bin) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "copilot-pg-"));
  const data = path.join(dir, "data");
  const port = await freePort();
  const user = asUser();
  const wrap = (cmd, args) => (user ? ["runuser", ["-u", user, "--", cmd, ...args]] : [cmd, args]);
  if (user) run("chown", ["-R", user, dir]);
  run(
    ...wrap(path.join(bin, "initdb"), [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--no-sync",
    ]),
  );
  run(
    ...wrap(path.join(bin, "pg_ctl"), [
      "-D",
      data,
      "-l",
      path.join(dir, "log"),
      "-w",
      "-o",
      `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`,
      "start",
    ]),
  );
  const stop = () => {
    spawnSync(...wrap(path.join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"]), {
      stdio: "ignore",
    });
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop };
}

const bin = findPgBin();
let pg = null;
if (bin) {
  pg = await startPostgres(bin);
  console.log(
    `test: PostgreSQL server from ${bin} started for this run; suites run on PGlite and PostgreSQL`,
  );
} else if (process.env.CI === "true") {
  console.error(
    "test: PostgreSQL server binaries not found (apt-get install postgresql); CI requires both storages",
  );
  process.exit(1);
} else {
  console.log(
    "test: PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): running on PGlite only",
  );
}

const env = { ...process.env, ...(pg ? { TEST_DATABASE_URL: pg.url } : {}) };
const child = spawn("npx", ["vitest", "run", ...process.argv.slice(2)], { stdio: "inherit", env });
const stopAll = () => pg?.stop();
process.on("SIGINT", () => child.kill("SIGINT"));
child.on("exit", (code, signal) => {
  stopAll();
  process.exit(code ?? (signal ? 1 : 0));
});
