/**
 * The API fields of a connection (SPEC §3, §11) and the checks every kind shares: text, URLs,
 * host names, the mapping and the scopes. Each check throws a 422 naming the field.
 */
import type { Selectable } from "kysely";
import type { ConnectionMapping, ConnectionType, SsoConnectionsTable } from "../../db/schema.js";
import { badRequest } from "../../http/errors.js";

export const DEFAULT_SCOPES = ["openid", "profile", "email"];

/** What the API takes (SPEC §11). */
export interface ConnectionInput {
  type?: ConnectionType;
  name?: string;
  clientId?: string | null;
  clientSecret?: string | null;
  discoveryUrl?: string | null;
  issuer?: string | null;
  authorizationEndpoint?: string | null;
  tokenEndpoint?: string | null;
  userinfoEndpoint?: string | null;
  jwksUri?: string | null;
  scopes?: string[] | null;
  redirectUrl?: string | null;
  tokenEndpointAuthMethod?: string | null;
  mapping?: Partial<ConnectionMapping> | null;
  azureTenantId?: string | null;
  googleHostedDomain?: string | null;
  teamDomain?: string | null;
  audience?: string | null;
  /** SPEC §13: the claim or attribute holding the person's groups; null = no group mapping. */
  groupsField?: string | null;
  /** SPEC §13: only members of one of these groups may sign in; empty = no restriction. */
  allowedGroups?: string[] | null;
  samlMetadataUrl?: string | null;
  samlMetadataXml?: string | null;
  samlEntityId?: string | null;
  samlSsoUrl?: string | null;
  /** PEM certificates: a list, or one text holding PEM blocks. */
  samlCertificates?: string[] | string | null;
  samlSpEntityId?: string | null;
  samlSignatureRequired?: "either" | "assertion" | "response" | "both" | null;
  samlAllowSha1?: boolean | null;
  samlIdpInitiated?: boolean | null;
  samlClockSkewSeconds?: number | null;
  samlEmailTrust?: "idp" | "verified-domains" | null;
}

/**
 * The stored shape of a connection's configuration: its row without what the server owns (id,
 * agency, the sealed secret, enabled, version, timestamps).
 */
export type NormalizedConnection = Omit<
  Selectable<SsoConnectionsTable>,
  | "id"
  | "agency_id"
  | "client_secret_enc"
  | "enabled"
  | "config_version"
  | "created_at"
  | "updated_at"
  // What the server keeps of a SAML connection besides its configuration: the IdP as last read
  // from its metadata, and the SP key pairs it generated (kinds/saml.ts).
  | "saml_idp"
  | "saml_metadata_fetched_at"
  | "saml_sp_key_enc"
  | "saml_sp_certificate"
  | "saml_sp_next_key_enc"
  | "saml_sp_next_certificate"
>;

/** The group fields (SPEC §13): every kind takes them, whatever the protocol. */
export const GROUP_FIELDS = [
  "groupsField",
  "allowedGroups",
] as const satisfies readonly (keyof ConnectionInput)[];

/** At most this many allowed groups per connection, each at most 256 characters. */
export const MAX_ALLOWED_GROUPS = 100;

/** `groupsField` and `allowedGroups` checked (SPEC §13): a restriction needs a groups field to read. */
export function normalizeGroupFields(
  input: Pick<ConnectionInput, "groupsField" | "allowedGroups">,
): Pick<NormalizedConnection, "groups_field" | "allowed_groups"> {
  const groupsField = text(input.groupsField, "groupsField", { max: 512 });
  const raw = input.allowedGroups ?? [];
  if (!Array.isArray(raw) || raw.some((g) => typeof g !== "string")) {
    throw badRequest("allowedGroups must be a list of group ids or names", "allowedGroups");
  }
  const allowed = [...new Set(raw.map((g) => g.trim()).filter(Boolean))];
  if (allowed.length > MAX_ALLOWED_GROUPS) {
    throw badRequest(`allowedGroups holds at most ${MAX_ALLOWED_GROUPS} groups`, "allowedGroups");
  }
  if (allowed.some((g) => g.length > 256)) {
    throw badRequest("allowedGroups: a group is at most 256 characters", "allowedGroups");
  }
  if (allowed.length > 0 && !groupsField) {
    throw badRequest(
      "groupsField is required when allowedGroups is set: CoPilot must know where the groups are",
      "groupsField",
    );
  }
  return { groups_field: groupsField, allowed_groups: allowed };
}

/** A trimmed string of at most `max` characters, or null when absent or blank. */
export function text(value: unknown, field: string, { required = false, max = 2048 } = {}): string | null {
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) {
    if (required) throw badRequest(`${field} is required`, field);
    return null;
  }
  if (typeof value !== "string") throw badRequest(`${field} must be a string`, field);
  if (value.length > max) throw badRequest(`${field} is too long (at most ${max} characters)`, field);
  return value.trim();
}

/** Like `text` with `required`: the value, or a 422 naming the field. */
export function requiredText(value: unknown, field: string, max = 2048): string {
  const v = text(value, field, { required: true, max });
  if (v === null) throw badRequest(`${field} is required`, field);
  return v;
}

/** An absolute https URL (http only where the operator allows private IdP URLs). */
export function urlField(value: unknown, field: string, allowHttp: boolean, required = false): string | null {
  const raw = text(value, field, { required });
  if (raw === null) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest(`${field} must be an absolute URL such as https://idp.example.com/…`, field);
  }
  if (url.protocol !== "https:" && !(allowHttp && url.protocol === "http:")) {
    throw badRequest(`${field} must use https://`, field);
  }
  if (url.username || url.password) throw badRequest(`${field} must not contain credentials`, field);
  return url.toString();
}

export const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/;

const MAPPING_KEYS = ["remoteIdField", "idField", "emailField", "emailVerifiedField", "nameField"] as const;

/** The mapping with the kind's defaults for what the admin left out (SPEC §3). */
export function normalizeMapping(
  defaults: ConnectionMapping,
  input: Partial<ConnectionMapping> | null | undefined,
): ConnectionMapping {
  const m = input ?? {};
  for (const key of Object.keys(m)) {
    if (!(MAPPING_KEYS as readonly string[]).includes(key))
      throw badRequest(`mapping.${key} is not a known field`, `mapping.${key}`);
  }
  const pick = (k: keyof ConnectionMapping) =>
    m[k] === undefined ? defaults[k] : text(m[k], `mapping.${k}`, { max: 200 });
  const remoteIdField = pick("remoteIdField");
  const emailVerifiedField = pick("emailVerifiedField");
  if (!remoteIdField) throw badRequest("mapping.remoteIdField is required", "mapping.remoteIdField");
  if (!emailVerifiedField)
    throw badRequest("mapping.emailVerifiedField is required", "mapping.emailVerifiedField");
  const mapping: ConnectionMapping = {
    remoteIdField,
    idField: pick("idField"),
    emailField: pick("emailField"),
    emailVerifiedField,
    nameField: pick("nameField"),
  };
  if (!mapping.emailField && !mapping.idField) {
    throw badRequest("mapping.emailField is required unless mapping.idField is set", "mapping.emailField");
  }
  return mapping;
}

export function normalizeScopes(value: unknown): string[] {
  if (value === undefined || value === null) return [...DEFAULT_SCOPES];
  const list = typeof value === "string" ? value.split(/\s+/) : value;
  if (
    !Array.isArray(list) ||
    list.some((s) => typeof s !== "string" || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))
  ) {
    throw badRequest("scopes must be a list of scope names", "scopes");
  }
  const scopes = [...new Set((list as string[]).filter(Boolean))];
  if (!scopes.includes("openid")) throw badRequest("scopes must contain openid", "scopes");
  if (scopes.includes("offline_access")) {
    throw badRequest("offline_access is not supported: CoPilot does not keep refresh tokens", "scopes");
  }
  return scopes;
}
