/**
 * SAML connections (SPEC §12, issue 16): the `saml` type and its columns on sso_connections, and
 * the ACS's one-time handles.
 *
 *   saml_metadata_url … saml_email_trust   what the admin configured (the §12 API fields)
 *   saml_idp                              the IdP configuration in effect (entity ID, SSO URL,
 *                                         signing certificates, WantAuthnRequestsSigned, NameID
 *                                         formats): from the fetched or pasted metadata, or the
 *                                         manual fields
 *   saml_metadata_fetched_at              when the metadata URL was last fetched (daily refresh,
 *                                         the cooldown of a refresh after a signature failure)
 *   saml_sp_key_enc / saml_sp_certificate the SP key pair (private key sealed with the secret box,
 *                                         AAD bound to the connection id) and its certificate;
 *   saml_sp_next_*                        the next pair during a rotation (published, decrypting)
 *
 *   saml_handoffs   the ACS's verified result (or refusal) under a one-time handle (its SHA-256),
 *                   for 60 s, consumed by the same-origin GET /login/saml/<id>/continue.
 */
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE sso_connections DROP CONSTRAINT IF EXISTS sso_connections_type_check`.execute(db);
  await sql`
    ALTER TABLE sso_connections ADD CONSTRAINT sso_connections_type_check
      CHECK (type IN ('oidc', 'azure', 'google', 'cloudflare-access', 'saml'))`.execute(db);
  await sql`
    ALTER TABLE sso_connections
      ADD COLUMN saml_metadata_url text,
      ADD COLUMN saml_metadata_xml text,
      ADD COLUMN saml_entity_id text,
      ADD COLUMN saml_sso_url text,
      ADD COLUMN saml_certificates jsonb,
      ADD COLUMN saml_sp_entity_id text,
      ADD COLUMN saml_signature_required text
        CHECK (saml_signature_required IN ('either', 'assertion', 'response', 'both')),
      ADD COLUMN saml_allow_sha1 boolean NOT NULL DEFAULT false,
      ADD COLUMN saml_idp_initiated boolean NOT NULL DEFAULT false,
      ADD COLUMN saml_clock_skew_seconds integer
        CHECK (saml_clock_skew_seconds BETWEEN 0 AND 300),
      ADD COLUMN saml_email_trust text CHECK (saml_email_trust IN ('idp', 'verified-domains')),
      ADD COLUMN saml_idp jsonb,
      ADD COLUMN saml_metadata_fetched_at timestamptz,
      ADD COLUMN saml_sp_key_enc text,
      ADD COLUMN saml_sp_certificate text,
      ADD COLUMN saml_sp_next_key_enc text,
      ADD COLUMN saml_sp_next_certificate text`.execute(db);
  await sql`
    CREATE TABLE saml_handoffs (
      handle_hash text PRIMARY KEY,
      connection_id text NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
      relay_state text,
      result jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX saml_handoffs_expires ON saml_handoffs (expires_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS saml_handoffs`.execute(db);
  await sql`DELETE FROM sso_connections WHERE type = 'saml'`.execute(db);
  await sql`
    ALTER TABLE sso_connections
      DROP COLUMN saml_metadata_url, DROP COLUMN saml_metadata_xml, DROP COLUMN saml_entity_id,
      DROP COLUMN saml_sso_url, DROP COLUMN saml_certificates, DROP COLUMN saml_sp_entity_id,
      DROP COLUMN saml_signature_required, DROP COLUMN saml_allow_sha1, DROP COLUMN saml_idp_initiated,
      DROP COLUMN saml_clock_skew_seconds, DROP COLUMN saml_email_trust, DROP COLUMN saml_idp,
      DROP COLUMN saml_metadata_fetched_at, DROP COLUMN saml_sp_key_enc, DROP COLUMN saml_sp_certificate,
      DROP COLUMN saml_sp_next_key_enc, DROP COLUMN saml_sp_next_certificate`.execute(db);
  await sql`ALTER TABLE sso_connections DROP CONSTRAINT IF EXISTS sso_connections_type_check`.execute(db);
  await sql`
    ALTER TABLE sso_connections ADD CONSTRAINT sso_connections_type_check
      CHECK (type IN ('oidc', 'azure', 'google', 'cloudflare-access'))`.execute(db);
}
