/** The whole first schema: tenancy, people, sessions, 2FA, audit, SSO, integration tokens. */
import { type Kysely, sql } from "kysely";

const schema = `
    CREATE TABLE agencies (
      id text PRIMARY KEY,
      name text NOT NULL,
      slug text NOT NULL UNIQUE,
      plan text NOT NULL CHECK (plan IN ('starter', 'pro')),
      domain text UNIQUE,
      sso_enabled boolean NOT NULL DEFAULT false,
      sso_hide_other_methods boolean NOT NULL DEFAULT false,
      sso_provisioning text NOT NULL DEFAULT 'existing-users'
        CHECK (sso_provisioning IN ('existing-users', 'allowlist')),
      require_2fa boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE sub_accounts (
      id text PRIMARY KEY,
      agency_id text NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX sub_accounts_agency_name ON sub_accounts (agency_id, lower(name));

    CREATE TABLE users (
      id text PRIMARY KEY,
      agency_id text NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
      email text NOT NULL,
      name text NOT NULL,
      role text NOT NULL CHECK (role IN ('admin', 'analyst')),
      password_hash text,
      external_user_id text,
      platform_language text NOT NULL DEFAULT 'en',
      active boolean NOT NULL DEFAULT true,
      totp_secret_enc text,
      totp_enabled boolean NOT NULL DEFAULT false,
      totp_last_step integer,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX users_agency_email ON users (agency_id, lower(email));
    CREATE UNIQUE INDEX users_agency_external_id ON users (agency_id, external_user_id)
      WHERE external_user_id IS NOT NULL;

    CREATE TABLE memberships (
      user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      sub_account_id text NOT NULL REFERENCES sub_accounts(id) ON DELETE CASCADE,
      PRIMARY KEY (user_id, sub_account_id)
    );
    CREATE INDEX memberships_sub_account ON memberships (sub_account_id);

    CREATE TABLE sessions (
      id text PRIMARY KEY,
      user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      agency_id text NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
      method text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_seen_at timestamptz NOT NULL,
      idle_expires_at timestamptz NOT NULL,
      absolute_expires_at timestamptz NOT NULL,
      ip text,
      user_agent text
    );
    CREATE INDEX sessions_user ON sessions (user_id);

    CREATE TABLE mfa_challenges (
      id text PRIMARY KEY,
      user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      agency_id text NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
      method text NOT NULL,
      purpose text NOT NULL CHECK (purpose IN ('verify', 'enroll')),
      return_to text,
      attempts integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);

    CREATE TABLE backup_codes (
      id text PRIMARY KEY,
      user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      code_hash text NOT NULL,
      used_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX backup_codes_user ON backup_codes (user_id);

    CREATE TABLE audit_log (
      id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      agency_id text REFERENCES agencies(id) ON DELETE CASCADE,
      at timestamptz NOT NULL DEFAULT now(),
      action text NOT NULL,
      outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
      actor_type text NOT NULL,
      actor_id text,
      actor_label text,
      target_type text,
      target_id text,
      ip text,
      details jsonb NOT NULL DEFAULT '{}'::jsonb
    );
    CREATE INDEX audit_log_agency_id ON audit_log (agency_id, id DESC);

    CREATE TABLE throttle (
      key text PRIMARY KEY,
      count integer NOT NULL,
      window_start timestamptz NOT NULL,
      blocked_until timestamptz
    );

    CREATE TABLE sso_connections (
      id text PRIMARY KEY,
      agency_id text NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
      type text NOT NULL CHECK (type IN ('oidc', 'azure', 'google', 'cloudflare-access')),
      name text NOT NULL,
      client_id text,
      client_secret_enc text,
      discovery_url text,
      issuer text,
      authorization_endpoint text,
      token_endpoint text,
      userinfo_endpoint text,
      jwks_uri text,
      scopes jsonb NOT NULL DEFAULT '[]'::jsonb,
      redirect_url text,
      token_endpoint_auth_method text NOT NULL DEFAULT 'client_secret_basic',
      mapping jsonb NOT NULL,
      azure_tenant_id text,
      google_hosted_domain text,
      team_domain text,
      audience text,
      enabled boolean NOT NULL DEFAULT false,
      config_version integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX sso_connections_agency ON sso_connections (agency_id);

    CREATE TABLE sso_tests (
      id text PRIMARY KEY,
      connection_id text NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
      agency_id text NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
      config_version integer NOT NULL,
      status text NOT NULL CHECK (status IN ('pending', 'passed', 'failed', 'expired')),
      error_code text,
      message text,
      diagnostic jsonb,
      matched_user_id text,
      started_by text,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz
    );
    CREATE INDEX sso_tests_connection ON sso_tests (connection_id, started_at DESC);

    CREATE TABLE sso_allowed_emails (
      id text PRIMARY KEY,
      agency_id text NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
      email text NOT NULL,
      role text NOT NULL CHECK (role IN ('admin', 'analyst')),
      created_by text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX sso_allowed_emails_agency_email ON sso_allowed_emails (agency_id, lower(email));

    CREATE TABLE integration_tokens (
      id text PRIMARY KEY,
      agency_id text NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
      name text NOT NULL,
      token_hash text NOT NULL UNIQUE,
      prefix text NOT NULL,
      scopes jsonb NOT NULL,
      created_by text,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    );
    CREATE INDEX integration_tokens_agency ON integration_tokens (agency_id);
`;

export async function up(db: Kysely<unknown>): Promise<void> {
  // One statement at a time: the extended query protocol (PGlite, pg with parameters) takes one.
  for (const statement of schema
    .split(/;\s*\n/)
    .map((s) => s.trim())
    .filter(Boolean)) {
    await sql.raw(statement).execute(db);
  }
}
