/**
 * Writes that belong together commit together: the one way this code base runs several
 * statements as a unit (a user, its memberships and its `user.create` audit record; a session and
 * its sign-in record; a connection edit, its tests' expiry and the settings reset; …).
 *
 *   transaction(db, async (tx) => { …; await audit(tx, …) })
 *   inTransaction(ctx, async (tx) => { …; await createSession(tx, …) })   // tx: an AppContext
 *
 * Services take the executor as their `Db` (or `AppContext`) parameter, so the same function
 * runs alone or inside a caller's transaction; a `transaction` inside a transaction joins it.
 * A statement whose failure is handled (a unique violation a service turns into a 409, the loser
 * of a concurrent first sign-in) runs in `savepoint`: on PostgreSQL a failed statement otherwise
 * aborts the whole enclosing transaction.
 *
 * Read caches (read-cache.ts): the write watcher clears a table's caches when a statement writes
 * it, but inside a transaction other requests still read the committed (old) rows until COMMIT
 * and may cache them again. So every table written in the transaction is cleared once more after
 * it committed. On PGlite the transaction holds the only connection (pglite-dialect.ts): inside
 * the work, every statement must go through `tx`, never the outer handle (that would wait for
 * the connection the transaction holds).
 */
import {
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  sql,
  type UnknownRow,
} from "kysely";
import type { AppContext } from "../context.js";
import type { Db } from "./database.js";
import { readCachesOf, writtenTables } from "./read-cache.js";

/** Records the tables a transaction's statements write (data-modifying WITH queries included). */
class WrittenTables implements KyselyPlugin {
  readonly tables = new Set<string>();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    for (const t of writtenTables(args.node)) this.tables.add(t);
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

/**
 * Runs `work` in one transaction on `db` and returns its result; a throw rolls everything back and
 * is re-thrown. Called with a handle that already is a transaction, the work simply joins it (it
 * commits or rolls back with the caller's).
 */
export async function transaction<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  if (db.isTransaction) return work(db);
  const recorder = new WrittenTables();
  const caches = readCachesOf(db);
  const result = await db.transaction().execute((tx) => work(tx.withPlugin(recorder)));
  for (const t of recorder.tables) caches.written(t);
  return result;
}

/**
 * Runs `work` so that, when it throws, what it wrote is undone and an enclosing transaction stays
 * usable: inside a transaction as a SAVEPOINT, otherwise as a transaction of its own. For
 * statements whose failure the caller handles (a unique violation turned into a 409, the loser of
 * a concurrent first sign-in reading the winner's row).
 */
export async function savepoint<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  if (!db.isTransaction) return transaction(db, work);
  // One name serves nested savepoints too: ROLLBACK TO and RELEASE name the most recent one.
  const name = sql.id("copilot_savepoint");
  await sql`savepoint ${name}`.execute(db);
  let result: T;
  try {
    result = await work(db);
  } catch (err) {
    await sql`rollback to savepoint ${name}`.execute(db);
    await sql`release savepoint ${name}`.execute(db);
    throw err;
  }
  await sql`release savepoint ${name}`.execute(db);
  return result;
}

/** `transaction` for services that take the AppContext: `tx` is the context on the transaction. */
export function inTransaction<T>(ctx: AppContext, work: (tx: AppContext) => Promise<T>): Promise<T> {
  return transaction(ctx.db, (db) => work(db === ctx.db ? ctx : { ...ctx, db }));
}
