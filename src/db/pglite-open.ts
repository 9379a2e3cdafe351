/**
 * Opening the embedded database lean (issue 13 §6). Two things made an idle PGlite server take
 * 370–850 MB:
 *
 * - PostgreSQL's default 128 MB of shared_buffers, which PGlite makes resident as it opens,
 *   whatever the database's size. The embedded database is one session on a small installation
 *   (large ones belong on PostgreSQL, DATABASE_URL): 8 MB holds its hot pages, and a miss is a
 *   read from the operating system's page cache.
 * - initdb, which PGlite runs in a second WebAssembly instance inside the same process on the
 *   first start: its memory (and the grown heap of the first instance) is never handed back. A
 *   new data directory is therefore created (initdb and migrations) by a short-lived child
 *   process, and this process opens the finished directory as on any restart.
 */
import { fork } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { PrivateNodeFS } from "./pglite-fs.js";

/** PostgreSQL settings of the embedded database, on top of PGlite's own start parameters. */
export const PGLITE_SETTINGS: Record<string, string> = {
  shared_buffers: "8MB",
  // Single session, no parallel workers: the per-backend and WAL buffers can be small too.
  wal_buffers: "1MB",
  max_connections: "5",
};

export function pgdataOf(dataDir: string): string {
  return path.join(dataDir, "pgdata");
}

export function openPglite(dataDir: string): Promise<PGlite> {
  const settings = Object.entries(PGLITE_SETTINGS).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  return PGlite.create({
    fs: new PrivateNodeFS(pgdataOf(dataDir)),
    startParams: [...PGlite.defaultStartParams, ...settings],
  });
}

/** Whether dataDir holds no embedded database yet. */
export function isNewDataDir(dataDir: string): boolean {
  return !existsSync(path.join(pgdataOf(dataDir), "PG_VERSION"));
}

/**
 * Creates and migrates the embedded database of dataDir in a child process (see above); the
 * caller holds the data directory's lock for it.
 */
export async function initializeInChild(dataDir: string): Promise<void> {
  const here = fileURLToPath(import.meta.url);
  const fromSources = here.endsWith(".ts");
  const entry = path.join(path.dirname(here), fromSources ? "pglite-init.ts" : "pglite-init.js");
  const child = fork(entry, [dataDir], {
    execArgv: fromSources ? ["--import", "tsx"] : [],
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`Creating the embedded database in ${dataDir} failed: ${stderr.trim()}`);
}
