import type { ConnectionType, Mapping } from "../../types.js";

export type ProviderKey = "oidc" | "auth0" | "okta" | "azure" | "google" | "cloudflare";

export interface Provider {
  key: ProviderKey;
  label: string;
  type: ConnectionType;
  /** Pre-filled display name (the login button reads "Sign in with <name>"). */
  defaultName: string;
  summary: string;
  /** Short setup guide, from the product documents. */
  guide: string[];
  discoveryPlaceholder: string;
  mapping: Mapping;
}

const STANDARD_MAPPING: Mapping = {
  remoteIdField: "sub",
  idField: null,
  emailField: "email",
  emailVerifiedField: "email_verified",
  nameField: "name",
};

export const PROVIDERS: Provider[] = [
  {
    key: "oidc",
    label: "Generic OIDC",
    type: "oidc",
    defaultName: "SSO",
    summary: "Any OpenID Connect identity provider.",
    guide: [
      "In your identity provider, create an OpenID Connect web application.",
      "Add the CoPilot Redirect URL (step 2) to its allowed redirect URLs.",
      "Copy its Client ID and Secret into step 1.",
      "Copy its OIDC Config URL (…/.well-known/openid-configuration) into step 2.",
      "Mapping: Remote ID → sub, Email → email, Email Verified → email_verified.",
    ],
    discoveryPlaceholder: "https://idp.example.com/.well-known/openid-configuration",
    mapping: STANDARD_MAPPING,
  },
  {
    key: "auth0",
    label: "Auth0",
    type: "oidc",
    defaultName: "Auth0",
    summary: "Auth0 Regular Web Application.",
    guide: [
      "Create a Regular Web Application in Auth0.",
      "Copy Client ID and Secret into CoPilot.",
      "Add the CoPilot Redirect URL to Auth0 Allowed Callback URLs.",
      "Config endpoint → https://YOUR_DOMAIN/.well-known/openid-configuration",
      "Scopes → openid profile email",
      "Mapping: Remote ID → sub, Email → email, Email Verified → email_verified.",
    ],
    discoveryPlaceholder: "https://YOUR_DOMAIN/.well-known/openid-configuration",
    mapping: STANDARD_MAPPING,
  },
  {
    key: "okta",
    label: "Okta",
    type: "oidc",
    defaultName: "Okta",
    summary: "Okta OIDC Web Application.",
    guide: [
      "Okta Admin → Applications → Create App Integration.",
      "Select OIDC - OpenID Connect, type = Web Application.",
      "Add the CoPilot Redirect URL under Login redirect URIs.",
      "Copy Client ID and Secret → CoPilot.",
      "Use the Okta metadata URL: https://YOUR_OKTA_DOMAIN/.well-known/openid-configuration",
      "Assign groups/users.",
      "Mapping: Remote ID → sub, Email → email, Email Verified → email_verified.",
    ],
    discoveryPlaceholder: "https://YOUR_OKTA_DOMAIN/.well-known/openid-configuration",
    mapping: STANDARD_MAPPING,
  },
  {
    key: "azure",
    label: "Azure Entra ID",
    type: "azure",
    defaultName: "Microsoft",
    summary: "Microsoft Entra ID (Azure Active Directory).",
    guide: [
      "Azure Portal → App registrations → New registration.",
      "Add the CoPilot Redirect URI (Authentication → Add a platform → Web).",
      "Copy Application (client) ID → Client ID, and Directory (tenant) ID → Directory (tenant) ID.",
      "Certificates & secrets → New client secret; copy its Value → Client Secret.",
      "Copy the OpenID metadata document URL from Endpoints → OIDC Config URL.",
      "Add permissions: openid, profile, email (Token configuration → Add optional claim → email).",
      "Mapping: Remote ID → sub, Email → userPrincipalName, Email Verified → email.",
    ],
    discoveryPlaceholder: "https://login.microsoftonline.com/TENANT_ID/v2.0/.well-known/openid-configuration",
    mapping: {
      remoteIdField: "sub",
      idField: null,
      emailField: "userPrincipalName",
      emailVerifiedField: "email",
      nameField: "name",
    },
  },
  {
    key: "google",
    label: "Google",
    type: "google",
    defaultName: "Google Workspace",
    summary: "Google Workspace or Google accounts.",
    guide: [
      "Google Cloud Console → APIs & Services → Credentials → Create Credentials → OAuth client ID.",
      "Application type: Web application.",
      "Authorized redirect URIs: add the CoPilot Redirect URL.",
      "Enable the People API (APIs & Services → Library).",
      "Copy the Client ID and Client Secret into CoPilot.",
      "Optionally restrict sign-in to your Workspace domain.",
    ],
    discoveryPlaceholder: "",
    mapping: STANDARD_MAPPING,
  },
  {
    key: "cloudflare",
    label: "Cloudflare Access",
    type: "cloudflare-access",
    defaultName: "Cloudflare Access",
    summary: "CoPilot behind Cloudflare Zero Trust.",
    guide: [
      "Cloudflare Zero Trust → Access → Applications → Add an application → Self-hosted.",
      "Set the domain to your CoPilot URL and connect your identity provider.",
      "Open the app → Overview → copy the Application Audience (AUD) Tag.",
      "Settings → Custom Pages → copy your team domain (e.g. myteam.cloudflareaccess.com).",
      "There is no client secret: Cloudflare signs a JWT on every request.",
    ],
    discoveryPlaceholder: "",
    mapping: {
      remoteIdField: "sub",
      idField: null,
      emailField: "email",
      emailVerifiedField: "email",
      nameField: null,
    },
  },
];

export function providerByKey(key: ProviderKey): Provider {
  return PROVIDERS.find((p) => p.key === key) ?? PROVIDERS[0]!;
}

export const TYPE_LABELS: Record<ConnectionType, string> = {
  oidc: "OpenID Connect",
  azure: "Azure Entra ID",
  google: "Google",
  "cloudflare-access": "Cloudflare Access",
};

/** Guesses the provider of a saved connection (only used to pick the guide and placeholders). */
export function providerForConnection(type: ConnectionType, discoveryUrl: string | null): ProviderKey {
  if (type === "azure") return "azure";
  if (type === "google") return "google";
  if (type === "cloudflare-access") return "cloudflare";
  const url = (discoveryUrl ?? "").toLowerCase();
  if (url.includes("auth0.com")) return "auth0";
  if (url.includes("okta")) return "okta";
  return "oidc";
}

export function azureDiscoveryUrl(tenantId: string): string {
  return `https://login.microsoftonline.com/${tenantId.trim()}/v2.0/.well-known/openid-configuration`;
}

export const MAPPING_HELP = {
  remoteIdField: "The unique user ID from your IdP (e.g. sub in OIDC, oid in Azure).",
  idField: "The CoPilot user ID. Use if you want to map directly to existing CoPilot users.",
  emailField: "The user’s email address field in your IdP (e.g. email, userPrincipalName).",
  emailVerifiedField: "Ensures the email has been validated by your IdP; unverified emails are refused.",
  nameField: "The claim holding the user’s display name (e.g. name).",
} as const;
