/**
 * The connection kinds: the one list (a new kind is one module plus one line here).
 */
import type { ConnectionMapping, ConnectionType } from "../../db/schema.js";
import { badRequest } from "../../http/errors.js";
import { azureKind } from "./azure.js";
import { cloudflareAccessKind } from "./cloudflare-access.js";
import {
  type ConnectionInput,
  type NormalizedConnection,
  normalizeGroupFields,
  normalizeMapping,
  requiredText,
} from "./fields.js";
import { googleKind } from "./google.js";
import type { ConnectionKind, NormalizeOptions } from "./kind.js";
import { oidcKind } from "./oidc.js";
import { NO_SAML_CONFIG, samlKind } from "./saml.js";
import type { KindDescription } from "./wizard.js";

export const KINDS = {
  oidc: oidcKind,
  azure: azureKind,
  google: googleKind,
  "cloudflare-access": cloudflareAccessKind,
  saml: samlKind,
} as const satisfies Record<ConnectionType, ConnectionKind>;

export const CONNECTION_TYPES = Object.keys(KINDS) as ConnectionType[];

export function isConnectionType(value: unknown): value is ConnectionType {
  return typeof value === "string" && Object.hasOwn(KINDS, value);
}

export function kindOf(type: ConnectionType): ConnectionKind {
  return KINDS[type];
}

export const DEFAULT_MAPPINGS = Object.fromEntries(
  CONNECTION_TYPES.map((t) => [t, KINDS[t].defaultMapping]),
) as Record<ConnectionType, ConnectionMapping>;

/** What the setup wizard renders (GET /api/admin/sso/kinds), in the list's order. */
export function kindDescriptions(): KindDescription[] {
  return CONNECTION_TYPES.map((type) => ({
    type,
    defaultMapping: KINDS[type].defaultMapping,
    ...KINDS[type].wizard,
  }));
}

/** Every field some kind takes: a field of another kind is refused by name. */
const ALL_FIELDS = [...new Set(CONNECTION_TYPES.flatMap((t) => KINDS[t].fields))];

/**
 * Validates an admin's input into the stored shape: the type, the fields that belong to it, the
 * name and mapping, then the kind's own fields (kinds/<kind>.ts). `defaultRedirectUrl` is the
 * agency origin + /login/sso; a different redirect URL is kept but produces a warning.
 */
export function normalizeConnection(
  input: ConnectionInput,
  opts: NormalizeOptions,
): { value: NormalizedConnection; warnings: string[] } {
  const type = input.type;
  if (!isConnectionType(type)) {
    throw badRequest(`type must be one of ${CONNECTION_TYPES.join(", ")}`, "type");
  }
  const kind = kindOf(type);
  for (const field of ALL_FIELDS) {
    const v = input[field];
    if (v !== undefined && v !== null && v !== "" && v !== false && !kind.fields.includes(field)) {
      throw badRequest(`${field} does not apply to ${type} connections`, field);
    }
  }
  const base: NormalizedConnection = {
    type,
    name: requiredText(input.name, "name", 100),
    client_id: null,
    discovery_url: null,
    issuer: null,
    authorization_endpoint: null,
    token_endpoint: null,
    userinfo_endpoint: null,
    jwks_uri: null,
    scopes: [],
    redirect_url: null,
    token_endpoint_auth_method: "client_secret_basic",
    mapping: normalizeMapping(kind.defaultMapping, input.mapping),
    azure_tenant_id: null,
    google_hosted_domain: null,
    team_domain: null,
    audience: null,
    ...normalizeGroupFields(input),
    ...NO_SAML_CONFIG,
  };
  return kind.normalize(input, base, opts);
}
