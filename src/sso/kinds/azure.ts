/**
 * The `azure` kind (SPEC §3, seed 000's Azure guide): Microsoft Entra ID, by its Directory
 * (tenant) ID. The OIDC protocol steps are the `oidc` kind's, with Entra's dialect: the issuer of
 * its metadata (a `{tenantid}` template, or a domain tenant's GUID) and the tenant every token's
 * `tid` must carry.
 */
import { badRequest } from "../../http/errors.js";
import { type OidcDialect, SsoStepError } from "../oidc.js";
import { text, urlField } from "./fields.js";
import type { ConnectionKind, ConnectionRow } from "./kind.js";
import {
  configUrlChoice,
  DISCOVERY_URL_FIELD,
  normalizeOidcCommon,
  OIDC_COMMON_FIELDS,
  oidcConfigurationStep,
  oidcCredentialsStep,
  oidcProtocol,
} from "./oidc.js";
import { type KindWizard, mappingStep } from "./wizard.js";

export const azureDiscoveryUrl = (tenant: string) =>
  `https://login.microsoftonline.com/${encodeURIComponent(tenant)}/v2.0/.well-known/openid-configuration`;

const TENANT = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9.-]+\.[a-z]{2,})$/i;
const MULTI_TENANT = new Set(["common", "organizations", "consumers"]);

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Entra ID names a tenant in its issuer by the tenant's GUID only: `<authority>/<GUID>/v2.0`,
 * where the authority is the origin the metadata came from (login.microsoftonline.com, or a
 * national cloud's). The GUID of an issuer of exactly that shape, else null.
 */
function entraTenantOfIssuer(issuer: string, discoveryUrl: string): string | null {
  const origin = new URL(discoveryUrl).origin;
  if (!issuer.startsWith(`${origin}/`)) return null;
  const m = /^\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/v2\.0$/i.exec(
    issuer.slice(origin.length),
  );
  return m?.[1] ? m[1].toLowerCase() : null;
}

/**
 * A connection configured with a domain tenant (contoso.onmicrosoft.com): Entra answers the
 * metadata URL `<authority>/<domain>/v2.0/.well-known/openid-configuration` with the tenant's own
 * document, whose issuer is `<authority>/<GUID>/v2.0`. That issuer is accepted (instead of the
 * URL's own base) only when the URL has exactly that form for the configured domain and the
 * issuer exactly the Microsoft form on the same authority; returns its GUID, else null.
 */
function entraDomainTenantIssuer(row: ConnectionRow, issuer: string): string | null {
  const domain = row.azure_tenant_id;
  if (!domain || GUID.test(domain) || !row.discovery_url) return null;
  const url = new URL(row.discovery_url);
  if (url.search || url.hash) return null;
  if (url.pathname.toLowerCase() !== `/${domain.toLowerCase()}/v2.0/.well-known/openid-configuration`)
    return null;
  return entraTenantOfIssuer(issuer, row.discovery_url);
}

export const entraDialect: OidcDialect = {
  issuer(row, documentIssuer) {
    if (documentIssuer.includes("{tenantid}")) {
      // Entra's multi-tenant metadata names the issuer as a template; resolve it to the configured tenant.
      if (!row.azure_tenant_id || !GUID.test(row.azure_tenant_id)) {
        throw new SsoStepError(
          "discovery",
          "a multi-tenant metadata URL needs the Directory (tenant) ID as a GUID",
        );
      }
      return documentIssuer.replace("{tenantid}", row.azure_tenant_id);
    }
    return entraDomainTenantIssuer(row, documentIssuer) ? documentIssuer : null;
  },
  /**
   * The tenant GUID every ID token must carry as `tid`: the configured Directory ID, or for a
   * domain tenant the GUID its metadata's issuer names. A domain tenant whose issuer names no
   * GUID is refused: its tokens' tenant could not be checked.
   */
  requiredClaims(row, issuer) {
    const configured = row.azure_tenant_id && GUID.test(row.azure_tenant_id) ? row.azure_tenant_id : null;
    const guid = configured ?? (row.discovery_url ? entraTenantOfIssuer(issuer, row.discovery_url) : null);
    if (!guid) {
      throw new SsoStepError(
        "discovery",
        `the issuer ${issuer} does not name the Directory (tenant) ID of ${row.azure_tenant_id ?? "the tenant"} as a GUID`,
      );
    }
    return [{ claim: "tid", value: guid.toLowerCase(), what: "the configured tenant" }];
  },
};

export const azureKind: ConnectionKind = {
  type: "azure",
  ...oidcProtocol(entraDialect),
  fields: [...OIDC_COMMON_FIELDS, "discoveryUrl", "azureTenantId"],
  // Seed 000's Azure guide: Remote ID → sub, Email → userPrincipalName, Email Verified → email.
  defaultMapping: {
    remoteIdField: "sub",
    idField: null,
    emailField: "userPrincipalName",
    emailVerifiedField: "email",
    nameField: "name",
  },
  normalize(input, base, opts) {
    const { value: common, warnings } = normalizeOidcCommon(input, base, opts);
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
  },
  get wizard() {
    return wizard;
  },
};

// ── The setup wizard's description (GET /api/admin/sso/kinds) ─────────────────────────────────
const TENANT_SLOT = "TENANT_ID";

const wizard: KindWizard = {
  label: "Azure Entra ID",
  steps: [
    oidcCredentialsStep({
      name: "azureTenantId",
      label: "Directory (tenant) ID",
      hint: "From the app registration's Overview page. Sign-ins from other tenants are refused.",
      placeholder: "00000000-0000-0000-0000-000000000000",
      input: "text",
      required: true,
      mono: true,
    }),
    oidcConfigurationStep({
      choice: configUrlChoice({
        note: "CoPilot discovers the endpoints from your Directory (tenant) ID.",
        facts: [{ label: "OIDC Config URL", value: "Discovered from the tenant ID" }],
      }),
      fields: [
        {
          ...DISCOVERY_URL_FIELD,
          derive: { from: "azureTenantId", template: azureDiscoveryUrl(TENANT_SLOT), slot: TENANT_SLOT },
        },
      ],
    }),
    mappingStep(
      azureKind.defaultMapping,
      "The claim holding the user’s groups: groups (or roles for app roles). Entra ID sends group object IDs, not names: map the IDs in Group mappings.",
    ),
  ],
  presets: [
    {
      key: "azure",
      label: "Azure Entra ID",
      summary: "Microsoft Entra ID (Azure Active Directory).",
      defaultName: "Microsoft",
      guide: [
        "Azure Portal → App registrations → New registration.",
        "Add the CoPilot Redirect URI (Authentication → Add a platform → Web).",
        "Copy Application (client) ID → Client ID, and Directory (tenant) ID → Directory (tenant) ID.",
        "Certificates & secrets → New client secret; copy its Value → Client Secret.",
        "Copy the OpenID metadata document URL from Endpoints → OIDC Config URL.",
        "Add permissions: openid, profile, email (Token configuration → Add optional claim → email).",
        "Mapping: Remote ID → sub, Email → userPrincipalName, Email Verified → email.",
        "Groups (optional): Token configuration → Add groups claim → Groups assigned to the application; Groups Field → groups. Entra sends group object IDs (not names): use the IDs in Group mappings. A user in more than 200 groups gets no list (group overage) and is refused: assign only the needed groups to the application, or use app roles (Groups Field → roles).",
      ],
      placeholders: { discoveryUrl: azureDiscoveryUrl(TENANT_SLOT) },
    },
  ],
};
