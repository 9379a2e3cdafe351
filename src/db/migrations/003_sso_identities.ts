/**
 * SSO links per connection (SPEC §4 step 4, issue 15 defect 3). A Remote ID is an IdP's name for a
 * person, so it means something only together with the connection it came from: one IdP's `sub`
 * says nothing about another IdP's users. `sso_identities` holds the links as (connection, Remote
 * ID) → user; `users.external_user_id` stays what the provisioning API calls `externalUserId`.
 *
 * Existing links move over: before this table, a first SSO sign-in wrote the Remote ID into
 * `users.external_user_id`, without saying which connection it came from. A user whose
 * `external_user_id` is set is linked to
 *   - every connection of the agency the audit log shows the user signed in through (each such
 *     sign-in matched that Remote ID, or linked it), and
 *   - the agency's only connection, when it has exactly one.
 * Users left without a link (several connections, no recorded sign-in) keep signing in: their
 * `externalUserId` still names them to the agency's connections until one of them links it (the
 * rule in src/sso/resolve-user.ts and the README).
 */
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE sso_identities (
      agency_id text NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
      connection_id text NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
      remote_id text NOT NULL,
      user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (connection_id, remote_id)
    )`.execute(db);
  // One identity per user and connection; the user's links (the externalUserId rule) by user.
  await sql`CREATE UNIQUE INDEX sso_identities_connection_user ON sso_identities (connection_id, user_id)`.execute(
    db,
  );
  await sql`CREATE INDEX sso_identities_user ON sso_identities (user_id)`.execute(db);

  await sql`
    INSERT INTO sso_identities (agency_id, connection_id, remote_id, user_id)
    SELECT DISTINCT u.agency_id, c.id, u.external_user_id, u.id
    FROM users u
    JOIN audit_log a ON a.target_type = 'user' AND a.target_id = u.id
      AND a.action = 'auth.sign_in' AND a.outcome = 'success'
    JOIN sso_connections c ON c.id = a.details->>'connectionId' AND c.agency_id = u.agency_id
    WHERE u.external_user_id IS NOT NULL
    ON CONFLICT DO NOTHING`.execute(db);
  await sql`
    INSERT INTO sso_identities (agency_id, connection_id, remote_id, user_id)
    SELECT u.agency_id, c.id, u.external_user_id, u.id
    FROM users u
    JOIN sso_connections c ON c.agency_id = u.agency_id
    WHERE u.external_user_id IS NOT NULL
      AND (SELECT count(*) FROM sso_connections o WHERE o.agency_id = u.agency_id) = 1
    ON CONFLICT DO NOTHING`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS sso_identities`.execute(db);
}
