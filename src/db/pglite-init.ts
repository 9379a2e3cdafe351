/**
 * `node pglite-init.js <DATA_DIR>`: creates and migrates a new embedded database, then exits, so
 * that the memory initdb takes is the child's and not the server's (see pglite-open.ts). Started
 * by openDatabase, which holds DATA_DIR's lock meanwhile.
 */
import { Kysely } from "kysely";
import { ownerOnlyUmask } from "./data-dir.js";
import { migrateToLatest } from "./migrate.js";
import { PGliteDialect } from "./pglite-dialect.js";
import { openPglite } from "./pglite-open.js";

const dataDir = process.argv[2];
if (!dataDir) throw new Error("usage: pglite-init <DATA_DIR>");
ownerOnlyUmask();
const db = new Kysely<unknown>({ dialect: new PGliteDialect(await openPglite(dataDir)) });
try {
  await migrateToLatest(db);
} finally {
  await db.destroy();
}
process.exit(0);
