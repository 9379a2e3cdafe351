/**
 * The `azure` kind (SPEC §3, seed 000's Azure guide): Microsoft Entra ID, by its Directory
 * (tenant) ID. The OIDC protocol steps are the `oidc` kind's; sso/oidc.ts adds Entra's checks
 * (the issuer's `{tenantid}` template, the token's `tid` must be the configured tenant).
 */
import { badRequest } from "../../http/errors.js";
import { text, urlField } from "./fields.js";
import type { ConnectionKind } from "./kind.js";
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

export const azureKind: ConnectionKind = {
  type: "azure",
  ...oidcProtocol,
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
    mappingStep(azureKind.defaultMapping),
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
      ],
      placeholders: { discoveryUrl: azureDiscoveryUrl(TENANT_SLOT) },
    },
  ],
};
