/**
 * Row types of every table, as Kysely sees them. One schema for PGlite and PostgreSQL.
 * Columns with database defaults are `Generated<…>`.
 */
import type { ColumnType, Generated, JSONColumnType } from "kysely";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export type Role = "admin" | "analyst";
export type Plan = "starter" | "pro";
export type ProvisioningPolicy = "existing-users" | "allowlist";
export type ConnectionType = "oidc" | "azure" | "google" | "cloudflare-access" | "saml";

/** The IdP configuration a SAML connection uses (from metadata or the manual fields). */
export interface SamlIdpConfig {
  entityId: string;
  ssoUrl: string;
  /** Signing certificates, PEM. */
  certificates: string[];
  wantAuthnRequestsSigned: boolean;
  nameIdFormats: string[];
}
export type TestStatus = "pending" | "passed" | "failed" | "expired";

export interface AgenciesTable {
  id: string;
  name: string;
  slug: string;
  plan: Plan;
  domain: string | null;
  sso_enabled: Generated<boolean>;
  sso_hide_other_methods: Generated<boolean>;
  sso_provisioning: Generated<ProvisioningPolicy>;
  require_2fa: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface SubAccountsTable {
  id: string;
  agency_id: string;
  name: string;
  created_at: Generated<Date>;
}

export interface UsersTable {
  id: string;
  agency_id: string;
  email: string;
  name: string;
  role: Role;
  password_hash: string | null;
  external_user_id: string | null;
  platform_language: Generated<string>;
  active: Generated<boolean>;
  totp_secret_enc: string | null;
  totp_enabled: Generated<boolean>;
  totp_last_step: number | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface MembershipsTable {
  user_id: string;
  sub_account_id: string;
  /** The connection whose groups granted it (SPEC §13, migration 007); null: granted by hand. */
  source_connection_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface SessionsTable {
  /** SHA-256 of the cookie token: the token itself is never stored. */
  id: string;
  user_id: string;
  agency_id: string;
  method: string;
  created_at: Generated<Date>;
  last_seen_at: Timestamp;
  idle_expires_at: Timestamp;
  absolute_expires_at: Timestamp;
  ip: string | null;
  user_agent: string | null;
}

export interface MfaChallengesTable {
  /** SHA-256 of the pending-2FA cookie token. */
  id: string;
  user_id: string;
  agency_id: string;
  method: string;
  purpose: "verify" | "enroll";
  return_to: string | null;
  attempts: Generated<number>;
  created_at: Generated<Date>;
  expires_at: Timestamp;
}

export interface BackupCodesTable {
  id: string;
  user_id: string;
  code_hash: string;
  used_at: NullableTimestamp;
  created_at: Generated<Date>;
}

export interface AuditLogTable {
  id: Generated<number>;
  agency_id: string | null;
  at: Generated<Date>;
  action: string;
  outcome: "success" | "failure";
  actor_type: "user" | "token" | "system" | "cli" | "anonymous";
  actor_id: string | null;
  actor_label: string | null;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  details: JSONColumnType<Record<string, unknown>, string, string>;
}

export interface ThrottleTable {
  key: string;
  count: number;
  window_start: Timestamp;
  blocked_until: NullableTimestamp;
}

export interface ConnectionMapping {
  remoteIdField: string;
  idField: string | null;
  emailField: string | null;
  emailVerifiedField: string;
  nameField: string | null;
}

export interface SsoConnectionsTable {
  id: string;
  agency_id: string;
  type: ConnectionType;
  name: string;
  client_id: string | null;
  client_secret_enc: string | null;
  discovery_url: string | null;
  issuer: string | null;
  authorization_endpoint: string | null;
  token_endpoint: string | null;
  userinfo_endpoint: string | null;
  jwks_uri: string | null;
  scopes: JSONColumnType<string[], string, string>;
  redirect_url: string | null;
  token_endpoint_auth_method: string;
  mapping: JSONColumnType<ConnectionMapping, string, string>;
  azure_tenant_id: string | null;
  google_hosted_domain: string | null;
  team_domain: string | null;
  audience: string | null;
  /** SPEC §13 (migration 007): the claim or attribute holding the groups; null = no group mapping. */
  groups_field: ColumnType<string | null, string | null | undefined, string | null>;
  /** SPEC §13: only members of one of these groups may sign in; empty = no restriction. */
  allowed_groups: ColumnType<string[], string | undefined, string>;
  saml_metadata_url: string | null;
  saml_metadata_xml: string | null;
  saml_entity_id: string | null;
  saml_sso_url: string | null;
  saml_certificates: JSONColumnType<string[] | null, string | null, string | null>;
  saml_sp_entity_id: string | null;
  saml_signature_required: "either" | "assertion" | "response" | "both" | null;
  saml_allow_sha1: Generated<boolean>;
  saml_idp_initiated: Generated<boolean>;
  saml_clock_skew_seconds: number | null;
  saml_email_trust: "idp" | "verified-domains" | null;
  saml_idp: JSONColumnType<SamlIdpConfig | null, string | null, string | null>;
  saml_metadata_fetched_at: Date | null;
  saml_sp_key_enc: string | null;
  saml_sp_certificate: string | null;
  saml_sp_next_key_enc: string | null;
  saml_sp_next_certificate: string | null;
  enabled: Generated<boolean>;
  config_version: Generated<number>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface SsoTestsTable {
  id: string;
  connection_id: string;
  agency_id: string;
  config_version: number;
  status: TestStatus;
  error_code: string | null;
  message: string | null;
  diagnostic: JSONColumnType<Record<string, unknown> | null, string | null, string | null>;
  matched_user_id: string | null;
  started_by: string | null;
  started_at: Generated<Date>;
  finished_at: NullableTimestamp;
}

/** An SSO link: this connection's IdP calls this user `remote_id` (migration 003). */
export interface SsoIdentitiesTable {
  agency_id: string;
  connection_id: string;
  remote_id: string;
  user_id: string;
  created_at: Generated<Date>;
}

/** A connection trace (SPEC §17, migration 004): one SSO attempt, its messages already redacted. */
export interface SsoTracesTable {
  id: string;
  agency_id: string;
  connection_id: string;
  kind: string;
  purpose: "login" | "test";
  test_id: string | null;
  outcome: "success" | "failure";
  step: string;
  code: string | null;
  cause: string | null;
  claim_names: JSONColumnType<string[], string, string>;
  user_id: string | null;
  messages: JSONColumnType<unknown[], string, string>;
  started_at: Timestamp;
  finished_at: Timestamp;
  created_at: Timestamp;
}

/** SPEC §13 (migration 007): a group of a connection's IdP → a role and/or sub-accounts. */
export interface SsoGroupMappingsTable {
  id: string;
  agency_id: string;
  connection_id: string;
  group_name: string;
  role: Role | null;
  sub_account_ids: ColumnType<string[], string | undefined, string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface SsoAllowedEmailsTable {
  id: string;
  agency_id: string;
  email: string;
  role: Role;
  created_by: string | null;
  created_at: Generated<Date>;
}

export interface IntegrationTokensTable {
  id: string;
  agency_id: string;
  name: string;
  token_hash: string;
  prefix: string;
  scopes: JSONColumnType<string[], string, string>;
  created_by: string | null;
  created_at: Generated<Date>;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

/** SAML AuthnRequest IDs of started flows, until answered once or expired (SPEC §12). */
export interface SamlHandoffsTable {
  handle_hash: string;
  connection_id: string;
  relay_state: string | null;
  result: JSONColumnType<Record<string, unknown>, string, string>;
  created_at: Generated<Date>;
  expires_at: Date;
}

export interface SamlRequestsTable {
  id: string;
  connection_id: string;
  created_at: Generated<Date>;
  expires_at: Timestamp;
}

/** IDs of accepted SAML Assertions per IdP, until they expire: a replay is refused (SPEC §12). */
export interface SamlAssertionsTable {
  idp_entity_id: string;
  assertion_id: string;
  connection_id: string;
  created_at: Generated<Date>;
  expires_at: Timestamp;
}

export interface Database {
  agencies: AgenciesTable;
  sub_accounts: SubAccountsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  sessions: SessionsTable;
  mfa_challenges: MfaChallengesTable;
  backup_codes: BackupCodesTable;
  audit_log: AuditLogTable;
  throttle: ThrottleTable;
  sso_connections: SsoConnectionsTable;
  sso_tests: SsoTestsTable;
  sso_allowed_emails: SsoAllowedEmailsTable;
  sso_identities: SsoIdentitiesTable;
  sso_traces: SsoTracesTable;
  sso_group_mappings: SsoGroupMappingsTable;
  integration_tokens: IntegrationTokensTable;
  saml_requests: SamlRequestsTable;
  saml_assertions: SamlAssertionsTable;
  saml_handoffs: SamlHandoffsTable;
}
