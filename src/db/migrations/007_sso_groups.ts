/**
 * Groups → role, sub-accounts and access (SPEC §13, issue 17).
 *
 *   sso_connections.groups_field     the claim / attribute holding the person's groups (null: the
 *                                    connection maps no groups)
 *   sso_connections.allowed_groups   "only members of these groups may sign in" (empty: anyone)
 *   sso_group_mappings               per connection: a group (id or name, exact match) → a role
 *                                    and/or sub-accounts
 *   memberships.source_connection_id the connection whose groups granted the membership; null for
 *                                    a membership granted by hand (admin, provisioning API, CLI),
 *                                    which group recomputation never touches
 */
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE sso_connections ADD COLUMN groups_field text`.execute(db);
  await sql`ALTER TABLE sso_connections ADD COLUMN allowed_groups jsonb NOT NULL DEFAULT '[]'::jsonb`.execute(
    db,
  );
  await sql`
    CREATE TABLE sso_group_mappings (
      id text PRIMARY KEY,
      agency_id text NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
      connection_id text NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
      group_name text NOT NULL,
      role text CHECK (role IN ('admin', 'analyst')),
      sub_account_ids jsonb NOT NULL DEFAULT '[]'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE UNIQUE INDEX sso_group_mappings_group ON sso_group_mappings (connection_id, group_name)`.execute(
    db,
  );
  await sql`ALTER TABLE memberships ADD COLUMN source_connection_id text REFERENCES sso_connections(id) ON DELETE CASCADE`.execute(
    db,
  );
  await sql`CREATE INDEX memberships_source ON memberships (source_connection_id) WHERE source_connection_id IS NOT NULL`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS memberships_source`.execute(db);
  await sql`ALTER TABLE memberships DROP COLUMN IF EXISTS source_connection_id`.execute(db);
  await sql`DROP TABLE IF EXISTS sso_group_mappings`.execute(db);
  await sql`ALTER TABLE sso_connections DROP COLUMN IF EXISTS allowed_groups`.execute(db);
  await sql`ALTER TABLE sso_connections DROP COLUMN IF EXISTS groups_field`.execute(db);
}
