// A fresh database per suite, on each storage this run has: a copy of the migrated PGlite
// template, and (when npm test started a server) a new database on the real PostgreSQL.
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { type OpenedDatabase, openDatabase } from "../../src/db/database.js";

export type Storage = "pglite" | "postgres";

/** The storages every storage-touching suite runs on. */
export function storages(): Storage[] {
  return process.env.TEST_DATABASE_URL ? ["pglite", "postgres"] : ["pglite"];
}

export interface TestDatabase extends OpenedDatabase {
  /** For PGlite: the DATA_DIR holding it. */
  dataDir: string;
  /** For PostgreSQL: the URL of the suite's own database. */
  url: string | null;
}

export async function openTestDatabase(storage: Storage): Promise<TestDatabase> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "copilot-test-"));
  if (storage === "pglite") {
    const template = process.env.TEST_PGLITE_TEMPLATE;
    if (template) cpSync(template, path.join(dataDir, "pgdata"), { recursive: true });
    const opened = await openDatabase({ databaseUrl: null, dataDir, migrate: !template });
    return {
      ...opened,
      dataDir,
      url: null,
      close: async () => {
        await opened.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new Error("TEST_DATABASE_URL is not set: PostgreSQL suites need npm test");
  const name = `copilot_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = adminUrl.replace(/\/[^/]*$/, `/${name}`);
  const opened = await openDatabase({ databaseUrl: url, dataDir, poolSize: 10 });
  return {
    ...opened,
    dataDir,
    url,
    close: async () => {
      await opened.close();
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Another node on the same PostgreSQL database as `first` (its own pool, read caches and cache
 * listener), the way a second server of a cluster opens it. Closing it leaves the database.
 */
export async function openAnotherNode(
  first: TestDatabase,
  options: { readCacheTtlMs?: number } = {},
): Promise<TestDatabase> {
  if (!first.url) throw new Error("a second node needs PostgreSQL (PGlite is one process)");
  const opened = await openDatabase({
    databaseUrl: first.url,
    dataDir: first.dataDir,
    migrate: false,
    poolSize: 5,
    readCacheTtlMs: options.readCacheTtlMs,
  });
  return { ...opened, dataDir: first.dataDir, url: first.url };
}
