/**
 * SSO connections (SPEC §3): validation of what an admin enters, per type with its defaults,
 * storage (the client secret sealed with AES-256-GCM, bound to the connection id), and the
 * lifecycle rules of SPEC §7 — any change expires the tests and disables the connection, and
 * when no enabled connection remains the agency's Enable SSO and Hide other login methods go off.
 */
import { randomUUID } from "node:crypto";
import type { Selectable } from "kysely";
import { type Agency, lockAgency } from "../agencies/agencies.js";
import type { AppContext } from "../context.js";
import type { Db } from "../db/database.js";
import { type ReadCache, readCachesOf } from "../db/read-cache.js";
import type { ConnectionMapping, ConnectionType, SsoConnectionsTable } from "../db/schema.js";
import { AppError, badRequest, notFound } from "../http/errors.js";

export const CONNECTION_TYPES = ["oidc", "azure", "google", "cloudflare-access"] as const;
export const DEFAULT_SCOPES = ["openid", "profile", "email"];
export const GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration";
export const azureDiscoveryUrl = (tenant: string) =>
  `https://login.microsoftonline.com/${encodeURIComponent(tenant)}/v2.0/.well-known/openid-configuration`;

export const DEFAULT_MAPPINGS: Record<ConnectionType, ConnectionMapping> = {
  oidc: {
    remoteIdField: "sub",
    idField: null,
    emailField: "email",
    emailVerifiedField: "email_verified",
    nameField: "name",
  },
  // Seed 000's Azure guide: Remote ID → sub, Email → userPrincipalName, Email Verified → email.
  azure: {
    remoteIdField: "sub",
    idField: null,
    emailField: "userPrincipalName",
    emailVerifiedField: "email",
    nameField: "name",
  },
  google: {
    remoteIdField: "sub",
    idField: null,
    emailField: "email",
    emailVerifiedField: "email_verified",
    nameField: "name",
  },
  "cloudflare-access": {
    remoteIdField: "sub",
    idField: null,
    emailField: "email",
    emailVerifiedField: "email",
    nameField: null,
  },
};

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
}

type Row = Selectable<SsoConnectionsTable>;

/** Which input fields each type takes; any other non-null field is refused with 422. */
const FIELDS_BY_TYPE: Record<ConnectionType, Array<keyof ConnectionInput>> = {
  oidc: [
    "clientId",
    "clientSecret",
    "discoveryUrl",
    "issuer",
    "authorizationEndpoint",
    "tokenEndpoint",
    "userinfoEndpoint",
    "jwksUri",
    "scopes",
    "redirectUrl",
    "tokenEndpointAuthMethod",
    "mapping",
  ],
  azure: [
    "clientId",
    "clientSecret",
    "discoveryUrl",
    "azureTenantId",
    "scopes",
    "redirectUrl",
    "tokenEndpointAuthMethod",
    "mapping",
  ],
  google: [
    "clientId",
    "clientSecret",
    "discoveryUrl",
    "googleHostedDomain",
    "scopes",
    "redirectUrl",
    "tokenEndpointAuthMethod",
    "mapping",
  ],
  "cloudflare-access": ["teamDomain", "audience", "mapping"],
};
const ALL_FIELDS: Array<keyof ConnectionInput> = [...new Set(Object.values(FIELDS_BY_TYPE).flat())] as Array<
  keyof ConnectionInput
>;

export interface NormalizedConnection {
  type: ConnectionType;
  name: string;
  client_id: string | null;
  discovery_url: string | null;
  issuer: string | null;
  authorization_endpoint: string | null;
  token_endpoint: string | null;
  userinfo_endpoint: string | null;
  jwks_uri: string | null;
  scopes: string[];
  redirect_url: string | null;
  token_endpoint_auth_method: string;
  mapping: ConnectionMapping;
  azure_tenant_id: string | null;
  google_hosted_domain: string | null;
  team_domain: string | null;
  audience: string | null;
}

function text(value: unknown, field: string, { required = false, max = 2048 } = {}): string | null {
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) {
    if (required) throw badRequest(`${field} is required`, field);
    return null;
  }
  if (typeof value !== "string") throw badRequest(`${field} must be a string`, field);
  if (value.length > max) throw badRequest(`${field} is too long (at most ${max} characters)`, field);
  return value.trim();
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

const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/;
const TENANT = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9.-]+\.[a-z]{2,})$/i;
const MULTI_TENANT = new Set(["common", "organizations", "consumers"]);

function normalizeMapping(
  type: ConnectionType,
  input: Partial<ConnectionMapping> | null | undefined,
): ConnectionMapping {
  const d = DEFAULT_MAPPINGS[type];
  const m = input ?? {};
  const allowed = ["remoteIdField", "idField", "emailField", "emailVerifiedField", "nameField"];
  for (const key of Object.keys(m)) {
    if (!allowed.includes(key)) throw badRequest(`mapping.${key} is not a known field`, `mapping.${key}`);
  }
  const pick = (k: keyof ConnectionMapping, required: boolean) =>
    m[k] === undefined ? d[k] : text(m[k], `mapping.${k}`, { required, max: 200 });
  const mapping: ConnectionMapping = {
    remoteIdField: pick("remoteIdField", true)!,
    idField: pick("idField", false),
    emailField: pick("emailField", false),
    emailVerifiedField: pick("emailVerifiedField", true)!,
    nameField: pick("nameField", false),
  };
  if (!mapping.remoteIdField) throw badRequest("mapping.remoteIdField is required", "mapping.remoteIdField");
  if (!mapping.emailVerifiedField)
    throw badRequest("mapping.emailVerifiedField is required", "mapping.emailVerifiedField");
  if (!mapping.emailField && !mapping.idField) {
    throw badRequest("mapping.emailField is required unless mapping.idField is set", "mapping.emailField");
  }
  return mapping;
}

function normalizeScopes(value: unknown): string[] {
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

/**
 * Validates an admin's input into the stored shape. `defaultRedirectUrl` is the agency origin +
 * /login/sso; a different redirect URL is kept but produces a warning.
 */
export function normalizeConnection(
  input: ConnectionInput,
  opts: { allowHttp: boolean; defaultRedirectUrl: string },
): { value: NormalizedConnection; warnings: string[] } {
  const type = input.type;
  if (!type || !CONNECTION_TYPES.includes(type)) {
    throw badRequest(`type must be one of ${CONNECTION_TYPES.join(", ")}`, "type");
  }
  for (const field of ALL_FIELDS) {
    const v = input[field];
    if (v !== undefined && v !== null && v !== "" && !FIELDS_BY_TYPE[type].includes(field)) {
      throw badRequest(`${field} does not apply to ${type} connections`, field);
    }
  }
  const warnings: string[] = [];
  const name = text(input.name, "name", { required: true, max: 100 })!;
  const base = {
    type,
    name,
    client_id: null,
    discovery_url: null,
    issuer: null,
    authorization_endpoint: null,
    token_endpoint: null,
    userinfo_endpoint: null,
    jwks_uri: null,
    scopes: [] as string[],
    redirect_url: null,
    token_endpoint_auth_method: "client_secret_basic",
    mapping: normalizeMapping(type, input.mapping),
    azure_tenant_id: null,
    google_hosted_domain: null,
    team_domain: null,
    audience: null,
  };

  if (type === "cloudflare-access") {
    const team = text(input.teamDomain, "teamDomain", { required: true, max: 253 })!
      .toLowerCase()
      .replace(/^https?:\/\//, "")
      .replace(/\/+$/, "");
    if (!HOSTNAME.test(team))
      throw badRequest("teamDomain must be a hostname such as myteam.cloudflareaccess.com", "teamDomain");
    const isLoopback = /^(127\.\d+\.\d+\.\d+|localhost)(:\d+)?$/.test(team);
    if (/:\d+$/.test(team) && !(opts.allowHttp && isLoopback)) {
      throw badRequest("teamDomain must be a hostname without a port", "teamDomain");
    }
    if (!team.endsWith(".cloudflareaccess.com")) {
      warnings.push(
        `The team domain ${team} is not a *.cloudflareaccess.com domain: check it in Cloudflare Zero Trust → Settings → Custom Pages.`,
      );
    }
    const audience = text(input.audience, "audience", { required: true, max: 200 })!;
    if (!/^[A-Za-z0-9._-]+$/.test(audience))
      throw badRequest("audience must be the Application Audience (AUD) tag", "audience");
    return { value: { ...base, team_domain: team, audience }, warnings };
  }

  const clientId = text(input.clientId, "clientId", { required: true, max: 512 });
  const method = input.tokenEndpointAuthMethod ?? "client_secret_basic";
  if (method !== "client_secret_basic" && method !== "client_secret_post") {
    throw badRequest(
      "tokenEndpointAuthMethod must be client_secret_basic or client_secret_post",
      "tokenEndpointAuthMethod",
    );
  }
  const redirect = urlField(input.redirectUrl, "redirectUrl", true) ?? opts.defaultRedirectUrl;
  if (redirect !== opts.defaultRedirectUrl) {
    warnings.push(
      `The redirect URL differs from ${opts.defaultRedirectUrl}. Editing the Redirect URL is not advisable unless correcting it to match the correct pattern.`,
    );
  }
  const common = {
    ...base,
    client_id: clientId,
    scopes: normalizeScopes(input.scopes),
    redirect_url: redirect,
    token_endpoint_auth_method: method,
  };

  if (type === "oidc") {
    const discovery = urlField(input.discoveryUrl, "discoveryUrl", opts.allowHttp);
    const manual = {
      issuer: text(input.issuer, "issuer"),
      authorization_endpoint: urlField(input.authorizationEndpoint, "authorizationEndpoint", opts.allowHttp),
      token_endpoint: urlField(input.tokenEndpoint, "tokenEndpoint", opts.allowHttp),
      userinfo_endpoint: urlField(input.userinfoEndpoint, "userinfoEndpoint", opts.allowHttp),
      jwks_uri: urlField(input.jwksUri, "jwksUri", opts.allowHttp),
    };
    if (discovery) {
      const extra = (Object.entries(manual) as Array<[string, string | null]>).find(
        ([k, v]) => v !== null && k !== "issuer",
      );
      if (extra) {
        const field = extra[0].replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
        throw badRequest(
          `${field} is not used with a discovery URL: give either the discovery URL or the endpoints`,
          field,
        );
      }
      return { value: { ...common, discovery_url: discovery, issuer: manual.issuer }, warnings };
    }
    const required = [
      ["issuer", manual.issuer],
      ["authorizationEndpoint", manual.authorization_endpoint],
      ["tokenEndpoint", manual.token_endpoint],
      ["jwksUri", manual.jwks_uri],
    ] as const;
    for (const [field, v] of required) {
      if (!v)
        throw badRequest(
          `${field} is required without a discovery URL (or give discoveryUrl)`,
          field === "issuer" ? "discoveryUrl" : field,
        );
    }
    return { value: { ...common, ...manual }, warnings };
  }

  if (type === "azure") {
    let tenant = text(input.azureTenantId, "azureTenantId", { max: 100 });
    let discovery = urlField(input.discoveryUrl, "discoveryUrl", opts.allowHttp);
    if (discovery && !tenant) {
      // The metadata URL names the tenant: https://login.microsoftonline.com/<tenant>/v2.0/.well-known/…
      const segment = new URL(discovery).pathname.split("/").filter(Boolean)[0];
      if (segment && !MULTI_TENANT.has(segment.toLowerCase())) tenant = segment;
    }
    if (!tenant) throw badRequest("azureTenantId is required (the Directory (tenant) ID)", "azureTenantId");
    if (!TENANT.test(tenant))
      throw badRequest(
        "azureTenantId must be a Directory (tenant) ID (a GUID) or a verified domain",
        "azureTenantId",
      );
    discovery ??= azureDiscoveryUrl(tenant);
    return {
      value: { ...common, discovery_url: discovery, azure_tenant_id: tenant.toLowerCase() },
      warnings,
    };
  }

  // google
  const hd = text(input.googleHostedDomain, "googleHostedDomain", { max: 253 })?.toLowerCase() ?? null;
  if (hd && !HOSTNAME.test(hd))
    throw badRequest("googleHostedDomain must be a domain such as acme.com", "googleHostedDomain");
  const discovery = urlField(input.discoveryUrl, "discoveryUrl", opts.allowHttp) ?? GOOGLE_DISCOVERY_URL;
  return { value: { ...common, discovery_url: discovery, google_hosted_domain: hd }, warnings };
}

/** SPEC §3 prerequisites: the reasons SSO is not available to the agency (empty when it is). */
export function prerequisiteProblems(agency: Agency): string[] {
  const reasons: string[] = [];
  if (agency.plan !== "pro") reasons.push("Your agency must be on the Pro plan to use SSO.");
  if (!agency.domain) reasons.push("A whitelabel domain must be configured before SSO can be set up.");
  return reasons;
}

/** SSO signs people in only while enabled AND the prerequisites still hold (a downgrade stops it). */
export function ssoLive(agency: Agency): boolean {
  return agency.ssoEnabled && prerequisiteProblems(agency).length === 0;
}

/** SPEC §2: other login methods are hidden only while SSO is live. */
export function otherMethodsHidden(agency: Agency): boolean {
  return ssoLive(agency) && agency.ssoHideOtherMethods;
}

export function assertPrerequisites(agency: Agency): void {
  const reasons = prerequisiteProblems(agency);
  if (reasons.length > 0) throw new AppError(409, "sso_unavailable", reasons.join(" "));
}

/**
 * The connections cache of one application context (ctx.connectionsCache), on its clock; cleared
 * by every write to sso_connections through the database handle's read caches.
 */
export function createConnectionsCache(db: Db, now: () => Date): ReadCache<Row[]> {
  return readCachesOf(db).create<Row[]>(["sso_connections"], () => now().getTime());
}

/**
 * The agency's SSO connections, oldest first, through this node's read cache (cleared by every
 * write to sso_connections on this node; other nodes see a change within READ_CACHE_TTL_MS). The
 * rows are shared: callers must not modify them.
 */
export function agencyConnections(ctx: AppContext, agencyId: string): Promise<Row[]> {
  // Inside a transaction, read what the transaction sees (and cache nothing it may roll back).
  if (ctx.db.isTransaction) return connectionsOf(ctx.db, agencyId);
  return ctx.connectionsCache.through(agencyId, () => connectionsOf(ctx.db, agencyId));
}

function connectionsOf(db: Db, agencyId: string): Promise<Row[]> {
  return db
    .selectFrom("sso_connections")
    .selectAll()
    .where("agency_id", "=", agencyId)
    .orderBy("created_at")
    .execute();
}

export async function getConnectionRow(db: Db, agencyId: string, id: string): Promise<Row> {
  const row = await db
    .selectFrom("sso_connections")
    .selectAll()
    .where("agency_id", "=", agencyId)
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) throw notFound("SSO connection not found");
  return row;
}

export function rowValues(v: NormalizedConnection) {
  return {
    ...v,
    scopes: JSON.stringify(v.scopes),
    mapping: JSON.stringify(v.mapping),
  };
}

/** JSON with object keys sorted: jsonb columns come back with their keys in another order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

/** True when the stored configuration differs from the normalized input (ignoring the secret). */
export function configChanged(row: Row, v: NormalizedConnection): boolean {
  const keys = Object.keys(v) as Array<keyof NormalizedConnection>;
  return keys.some((k) => canonical(row[k as keyof Row]) !== canonical(v[k]));
}

/** The configuration's URLs: where the flow's requests go, the token endpoint's (with the secret) among them. */
const ENDPOINT_FIELDS = [
  "discovery_url",
  "issuer",
  "authorization_endpoint",
  "token_endpoint",
  "userinfo_endpoint",
  "jwks_uri",
] as const;

function endpointOrigins(v: Pick<NormalizedConnection, (typeof ENDPOINT_FIELDS)[number]>): Set<string> {
  const origins = new Set<string>();
  for (const field of ENDPOINT_FIELDS) {
    const value = v[field];
    if (!value) continue;
    try {
      origins.add(new URL(value).origin);
    } catch {
      // An issuer need not be a URL; nothing is sent to it.
    }
  }
  return origins;
}

/**
 * The hosts (origins: scheme, host and port) an edited configuration sends requests to that the
 * stored one did not. A stored client secret is kept only while this is empty: an edit that points
 * a connection at a new host must be given the secret again, or the next test would hand the
 * stored secret to whoever answers there. A new path on the same host keeps it.
 */
export function newEndpointHosts(row: Row, next: NormalizedConnection): string[] {
  const before = endpointOrigins(row);
  return [...endpointOrigins(next)].filter((origin) => !before.has(origin)).map((o) => new URL(o).host);
}

export function newConnectionId(): string {
  return randomUUID();
}

/**
 * SPEC §7: a changed or disabled connection leaves SSO on only while another enabled connection
 * remains; otherwise the agency's Enable SSO and Hide other login methods turn off. Runs in the
 * caller's transaction, which holds the agency's lock (lockAgency, taken before any connection
 * write so that every path locks in the same order); taken here again, it is a no-op then.
 */
export async function settleAgencySettings(db: Db, agencyId: string): Promise<boolean> {
  await lockAgency(db, agencyId);
  const enabled = await db
    .selectFrom("sso_connections")
    .select("id")
    .where("agency_id", "=", agencyId)
    .where("enabled", "=", true)
    .limit(1)
    .execute();
  if (enabled.length > 0) return false;
  const res = await db
    .updateTable("agencies")
    .set({ sso_enabled: false, sso_hide_other_methods: false, updated_at: new Date() })
    .where("id", "=", agencyId)
    .where((eb) => eb.or([eb("sso_enabled", "=", true), eb("sso_hide_other_methods", "=", true)]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** AAD for the sealed client secret: a ciphertext only opens for its own connection. */
export const secretAad = (connectionId: string) => `sso_connection:${connectionId}:client_secret`;

export function connectionSecret(ctx: AppContext, row: Row): string | null {
  return row.client_secret_enc ? ctx.secretBox.decrypt(row.client_secret_enc, secretAad(row.id)) : null;
}
