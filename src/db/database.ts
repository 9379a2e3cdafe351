/**
 * Opens the database: a real PostgreSQL server when DATABASE_URL is set, otherwise embedded
 * PGlite persisted in DATA_DIR/pgdata. PGlite's files may be opened by one process only, so the
 * opener holds DATA_DIR/pglite.lock (with its pid) for as long as the database is open; a second
 * process gets a DatabaseLockedError naming the holder (the CLI then talks to that server).
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { CacheListener, type ListenerLog } from "./cache-listener.js";
import { secureDataDir } from "./data-dir.js";
import { migrateToLatest } from "./migrate.js";
import { PGliteDialect } from "./pglite-dialect.js";
import { initializeInChild, isNewDataDir, openPglite } from "./pglite-open.js";
import { preparingPool, StatementNames } from "./prepared.js";
import { ReadCaches, registerReadCaches, WriteWatcher } from "./read-cache.js";
import type { Database } from "./schema.js";

export type Db = Kysely<Database>;

export interface OpenedDatabase {
  db: Db;
  kind: "pglite" | "postgres";
  /** PostgreSQL: the connection that hears other nodes' writes (SPEC §16); PGlite: none (one node). */
  cacheListener: CacheListener | null;
  close(): Promise<void>;
}

export class DatabaseLockedError extends Error {
  constructor(
    readonly lockFile: string,
    readonly pid: number,
  ) {
    super(
      `The embedded database in ${path.dirname(lockFile)} is in use by process ${pid}. ` +
        "Stop that process, or run CLI commands while it runs (they are sent to it).",
    );
  }
}

export function lockFilePath(dataDir: string): string {
  return path.join(dataDir, "pglite.lock");
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid holding the embedded database of dataDir, or null when it is free. */
export function lockHolder(dataDir: string): number | null {
  try {
    const pid = Number(JSON.parse(readFileSync(lockFilePath(dataDir), "utf8")).pid);
    return Number.isInteger(pid) && pid !== process.pid && isAlive(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** Takes the lock (removing a stale one left by a dead process) or throws DatabaseLockedError. */
function acquireLock(dataDir: string): () => void {
  const file = lockFilePath(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, JSON.stringify({ pid: process.pid, since: new Date().toISOString() }));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = lockHolder(dataDir);
      if (holder !== null) throw new DatabaseLockedError(file, holder);
      rmSync(file, { force: true });
    }
  }
  throw new Error(`Could not take the database lock ${file}`);
}

export interface OpenOptions {
  databaseUrl: string | null;
  dataDir: string;
  /** Skip running migrations (tests that copy an already migrated template). */
  migrate?: boolean;
  poolSize?: number;
  /**
   * On a PostgreSQL server: run plain DML as named prepared statements (default). Off for a
   * connection pooler in transaction mode that cannot keep them (PgBouncer before 1.21, or without
   * max_prepared_statements). PGlite is one in-process session and always prepares.
   */
  preparedStatements?: boolean;
  /**
   * PostgreSQL server only: bounds on opening a connection, on an idle connection's life and on one
   * statement (server-side statement_timeout, and a client-side read timeout a little longer for a
   * server that stopped answering altogether). Defaults: 5 s, 30 s, 15 s.
   */
  timeouts?: { connectMs?: number; idleMs?: number; statementMs?: number };
  /** A pooled connection failed (the server went away); the pool replaces it. For a log line. */
  onConnectionError?: (err: Error) => void;
  /** The read caches' time limit (ms): a fallback on PostgreSQL, where writes are notified. */
  readCacheTtlMs?: number;
  /** Where the read-cache listener reports losing and regaining its connection. */
  log?: ListenerLog;
}

/** The pg.Pool settings of a PostgreSQL server: sizes, timeouts, and no client without an error listener. */
function poolFor(options: OpenOptions, max: number): pg.Pool {
  const statementMs = options.timeouts?.statementMs ?? 15_000;
  const pool = new pg.Pool({
    connectionString: options.databaseUrl!,
    max,
    connectionTimeoutMillis: options.timeouts?.connectMs ?? 5000,
    idleTimeoutMillis: options.timeouts?.idleMs ?? 30_000,
    statement_timeout: statementMs,
    ...(statementMs > 0 ? { query_timeout: statementMs + 2000 } : {}),
  });
  const onError = (err: Error) => options.onConnectionError?.(err);
  // An idle client's error reaches the pool's 'error' event; a client in use emits 'error' itself,
  // and an EventEmitter's 'error' without a listener kills the process (node-postgres' documented
  // caveat). Every client gets a listener for its whole life; the failed query rejects on its own
  // and the client is released as broken (prepared.ts), so the pool opens a new one.
  pool.on("error", onError);
  pool.on("connect", (client) => client.on("error", onError));
  return pool;
}

export async function openDatabase(options: OpenOptions): Promise<OpenedDatabase> {
  let opened: OpenedDatabase;
  if (options.databaseUrl) {
    if (options.migrate !== false) {
      // Migrations run on their own connection without the statement timeout (an index on a big
      // table may take longer than any request should).
      const migrator = new Kysely<Database>({
        dialect: new PostgresDialect({
          pool: poolFor({ ...options, timeouts: { ...options.timeouts, statementMs: 0 } }, 1),
        }),
      });
      try {
        await migrateToLatest(migrator);
      } finally {
        await migrator.destroy();
      }
    }
    const pool = poolFor(options, options.poolSize ?? 10);
    const caches = new ReadCaches(options.readCacheTtlMs);
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: preparingPool(pool, new StatementNames(options.preparedStatements === false ? 0 : undefined)),
      }),
      plugins: [new WriteWatcher(caches)],
    });
    registerReadCaches(db, caches);
    const cacheListener = new CacheListener({
      connectionString: options.databaseUrl,
      caches,
      log: options.log,
    });
    await cacheListener.start();
    opened = {
      db,
      kind: "postgres",
      cacheListener,
      close: async () => {
        await cacheListener.stop();
        await db.destroy();
      },
    };
  } else {
    secureDataDir(options.dataDir);
    const release = acquireLock(options.dataDir);
    try {
      if (options.migrate !== false && isNewDataDir(options.dataDir)) {
        await initializeInChild(options.dataDir);
      }
      const client = await openPglite(options.dataDir);
      // One process holds the embedded database: this node's write watcher sees every write.
      const caches = new ReadCaches(options.readCacheTtlMs);
      const db = new Kysely<Database>({
        dialect: new PGliteDialect(client),
        plugins: [new WriteWatcher(caches)],
      });
      registerReadCaches(db, caches);
      opened = {
        db,
        kind: "pglite",
        cacheListener: null,
        close: async () => {
          await db.destroy();
          release();
        },
      };
    } catch (err) {
      release();
      throw err;
    }
  }
  if (options.migrate !== false && opened.kind === "pglite") {
    try {
      await migrateToLatest(opened.db);
    } catch (err) {
      await opened.close();
      throw err;
    }
  }
  return opened;
}

/** PostgreSQL error code of a unique violation, for both drivers. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string } | null;
  if (e?.code !== "23505") return false;
  return constraint === undefined || e.constraint === constraint;
}
