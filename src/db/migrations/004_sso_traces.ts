/**
 * Connection traces (SPEC §17, issue 15): one row per SSO attempt of a connection — sign-in or
 * test, success or failure — with the step that ended it, the precise cause, the NAMES of the
 * claims received, the matched user and the protocol messages, already redacted
 * (src/sso/trace-redact.ts). No IP, no email, no claim value is stored; the user's email is joined
 * from `users` when an admin reads a trace. Housekeeping deletes traces after 7 days.
 */
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE sso_traces (
      id text PRIMARY KEY,
      agency_id text NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
      connection_id text NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
      kind text NOT NULL,
      purpose text NOT NULL CHECK (purpose IN ('login', 'test')),
      test_id text REFERENCES sso_tests(id) ON DELETE SET NULL,
      outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
      step text NOT NULL,
      code text,
      cause text,
      claim_names jsonb NOT NULL DEFAULT '[]'::jsonb,
      user_id text REFERENCES users(id) ON DELETE SET NULL,
      messages jsonb NOT NULL DEFAULT '[]'::jsonb,
      started_at timestamptz NOT NULL,
      finished_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL
    )`.execute(db);
  // The per-connection listing, newest first, paged by (created_at, id).
  await sql`CREATE INDEX sso_traces_connection ON sso_traces (agency_id, connection_id, created_at DESC, id DESC)`.execute(
    db,
  );
  // Housekeeping's 7-day purge; a test's trace.
  await sql`CREATE INDEX sso_traces_created ON sso_traces (created_at)`.execute(db);
  await sql`CREATE INDEX sso_traces_test ON sso_traces (test_id) WHERE test_id IS NOT NULL`.execute(db);
  // ON DELETE SET NULL of users and sso_tests looks the referencing rows up by these columns.
  await sql`CREATE INDEX sso_traces_user ON sso_traces (user_id) WHERE user_id IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS sso_traces`.execute(db);
}
