/**
 * Cross-node read-cache invalidation (SPEC §16): every statement that changes a table the read
 * caches hold (src/db/read-cache.ts) sends `NOTIFY copilot_cache, '<table>'`. A trigger rather
 * than the application: every writer is covered — this node, other nodes, the CLI, an operator's
 * psql, bulk SQL that bypasses the query builder. PostgreSQL delivers a notification only when its
 * transaction commits (never for a rolled-back one, never before the data is visible) and folds
 * identical ones of one transaction into one, so a statement-level trigger costs one queue entry
 * per table and transaction.
 *
 * Sessions are watched for DELETE only — a session ends by losing its row (sign-out, deactivation,
 * password change, expiry, back-channel logout). An INSERT (every sign-in) cannot be in any cache
 * yet, since only rows that were found are cached; the only UPDATE, the sliding idle expiry of a
 * used session, makes no cached value wrong (a cached session goes back to the database once its
 * cached idle expiry has passed), and notifying it would clear every node's session cache each time
 * any session is touched. A change that must end a session on every node deletes its row.
 */
import { type Kysely, sql } from "kysely";

export const CACHE_CHANNEL = "copilot_cache";

const WATCHED: Array<[table: string, events: string]> = [
  ["agencies", "INSERT OR UPDATE OR DELETE"],
  ["users", "INSERT OR UPDATE OR DELETE"],
  ["memberships", "INSERT OR UPDATE OR DELETE"],
  ["sso_connections", "INSERT OR UPDATE OR DELETE"],
  ["sessions", "DELETE"],
];

export async function up(db: Kysely<any>): Promise<void> {
  await sql
    .raw(`CREATE FUNCTION copilot_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('${CACHE_CHANNEL}', TG_TABLE_NAME);
      RETURN NULL;
    END $$`)
    .execute(db);
  for (const [table, events] of WATCHED) {
    await sql
      .raw(`CREATE TRIGGER ${table}_cache_notify AFTER ${events} OR TRUNCATE ON ${table}
        FOR EACH STATEMENT EXECUTE FUNCTION copilot_cache_notify()`)
      .execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const [table] of WATCHED)
    await sql.raw(`DROP TRIGGER IF EXISTS ${table}_cache_notify ON ${table}`).execute(db);
  await sql.raw("DROP FUNCTION IF EXISTS copilot_cache_notify()").execute(db);
}
