/**
 * Loopback helpers shared by the test runner (scripts/test.ts), the benchmarks and the tests that start
 * processes: a free port, and a throwaway PostgreSQL server from Debian's server binaries
 * (/usr/lib/postgresql/<version>/bin): initdb in a temporary folder, a free loopback port, stopped
 * (and its folder removed) afterwards.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** A TCP port nobody listens on right now (127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The newest installed PostgreSQL server's bin folder, or null. */
export function findPostgresBin(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = path.join(root, v, "bin");
    if (existsSync(path.join(bin, "initdb")) && existsSync(path.join(bin, "pg_ctl"))) return bin;
  }
  return null;
}

export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** The server's major version (the folder name under /usr/lib/postgresql). */
  version: string;
  /** Kills the server as a crash or failover would (`pg_ctl stop -m immediate`), keeping its data. */
  halt(): void;
  /** Starts the halted server again on the same port and data. */
  resume(): void;
  stop(): void;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: "pipe", encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} failed: ${r.stderr || r.stdout}`);
}

/** initdb refuses root: as root, run the server as "postgres" (or "nobody"). */
function asUser(): string | null {
  if (process.getuid?.() !== 0) return null;
  for (const name of ["postgres", "nobody"]) {
    if (spawnSync("id", ["-u", name]).status === 0) return name;
  }
  return null;
}

/**
 * Starts a server. `durable: false` (the tests) turns fsync, synchronous_commit and full-page writes
 * off; the default keeps PostgreSQL's durable settings (every commit reaches the disk), as the
 * benchmarks want.
 */
export async function startPostgres(
  bin: string,
  options: { durable?: boolean; maxConnections?: number } = {},
): Promise<PostgresServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "copilot-pg-"));
  const data = path.join(dir, "data");
  const port = await freePort();
  const user = asUser();
  const wrap = (cmd: string, args: string[]): [string, string[]] =>
    user ? ["runuser", ["-u", user, "--", cmd, ...args]] : [cmd, args];
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
  const settings = [
    `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir}`,
    `-c max_connections=${options.maxConnections ?? 300}`,
    options.durable === false ? "-c fsync=off -c synchronous_commit=off -c full_page_writes=off" : "",
  ];
  const start = () =>
    run(
      ...wrap(path.join(bin, "pg_ctl"), [
        "-D",
        data,
        "-l",
        path.join(dir, "log"),
        "-w",
        "-o",
        settings.join(" "),
        "start",
      ]),
    );
  start();
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    version: path.basename(path.dirname(bin)),
    halt() {
      run(...wrap(path.join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]));
    },
    resume: start,
    stop() {
      if (stopped) return;
      stopped = true;
      spawnSync(...wrap(path.join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"]), {
        stdio: "ignore",
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
