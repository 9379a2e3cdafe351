/**
 * SAML one-time values (SPEC §12, issue 16), in the database so that any node can finish a flow
 * and a replay is refused on every node (§10):
 *   saml_requests    an AuthnRequest ID per started SP-initiated flow, until the Response that
 *                    answers it is accepted (deleted then: used once) or it expires;
 *   saml_assertions  the ID of every accepted Assertion per IdP, until the Assertion expires.
 * Both are consumed by single statements (DELETE … RETURNING, INSERT … ON CONFLICT DO NOTHING),
 * so two nodes cannot both use one. Expired rows are swept by `sweepSamlStore` (src/sso/saml/store.ts).
 */
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE saml_requests (
      id text PRIMARY KEY,
      connection_id text NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX saml_requests_expires ON saml_requests (expires_at)`.execute(db);
  await sql`
    CREATE TABLE saml_assertions (
      idp_entity_id text NOT NULL,
      assertion_id text NOT NULL,
      connection_id text NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (idp_entity_id, assertion_id)
    )`.execute(db);
  await sql`CREATE INDEX saml_assertions_expires ON saml_assertions (expires_at)`.execute(db);
  await sql`CREATE INDEX saml_assertions_connection ON saml_assertions (connection_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS saml_assertions`.execute(db);
  await sql`DROP TABLE IF EXISTS saml_requests`.execute(db);
}
