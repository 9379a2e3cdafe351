import { UI } from "../../messages.js";
import type { Connection, ConnectionInput, ConnectionType, TokenEndpointAuthMethod } from "../../types.js";
import { type ProviderKey, providerByKey, providerForConnection, TYPE_LABELS } from "./providers.js";

/** What the setup wizard edits: strings for every input, converted to the API shape on save. */
export interface WizardValues {
  provider: ProviderKey;
  type: ConnectionType;
  name: string;
  clientId: string;
  clientSecret: string;
  azureTenantId: string;
  googleHostedDomain: string;
  teamDomain: string;
  audience: string;
  useConfigUrl: boolean;
  discoveryUrl: string;
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  userinfoEndpoint: string;
  jwksUri: string;
  scopes: string;
  redirectUrl: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  remoteIdField: string;
  idField: string;
  emailField: string;
  emailVerifiedField: string;
  nameField: string;
}

export type FieldErrors = Partial<Record<string, string>>;

export type StepId = "credentials" | "oidc" | "mapping" | "review";

export interface Step {
  id: StepId;
  title: string;
}

export const DEFAULT_SCOPES = "openid profile email";

export function stepsFor(type: ConnectionType): Step[] {
  if (type === "cloudflare-access") {
    return [
      { id: "credentials", title: "Team domain & Audience" },
      { id: "mapping", title: "User Details Mapping" },
      { id: "review", title: "Review & Finish" },
    ];
  }
  return [
    { id: "credentials", title: "Client ID & Secret" },
    { id: "oidc", title: "OIDC Configuration" },
    { id: "mapping", title: "User Details Mapping" },
    { id: "review", title: "Review & Finish" },
  ];
}

export function initialValues(providerKey: ProviderKey, defaultRedirectUrl: string): WizardValues {
  const provider = providerByKey(providerKey);
  return {
    provider: provider.key,
    type: provider.type,
    name: provider.defaultName,
    clientId: "",
    clientSecret: "",
    azureTenantId: "",
    googleHostedDomain: "",
    teamDomain: "",
    audience: "",
    useConfigUrl: true,
    discoveryUrl: "",
    issuer: "",
    authorizationEndpoint: "",
    tokenEndpoint: "",
    userinfoEndpoint: "",
    jwksUri: "",
    scopes: DEFAULT_SCOPES,
    redirectUrl: defaultRedirectUrl,
    tokenEndpointAuthMethod: "client_secret_basic",
    remoteIdField: provider.mapping.remoteIdField,
    idField: provider.mapping.idField ?? "",
    emailField: provider.mapping.emailField ?? "",
    emailVerifiedField: provider.mapping.emailVerifiedField,
    nameField: provider.mapping.nameField ?? "",
  };
}

export function valuesFromConnection(connection: Connection, defaultRedirectUrl: string): WizardValues {
  const provider = providerForConnection(connection.type, connection.discoveryUrl);
  const base = initialValues(provider, defaultRedirectUrl);
  const hasManualEndpoints = Boolean(
    connection.authorizationEndpoint || connection.tokenEndpoint || connection.issuer,
  );
  return {
    ...base,
    name: connection.name,
    clientId: connection.clientId ?? "",
    clientSecret: "",
    azureTenantId: connection.azureTenantId ?? "",
    googleHostedDomain: connection.googleHostedDomain ?? "",
    teamDomain: connection.teamDomain ?? "",
    audience: connection.audience ?? "",
    useConfigUrl:
      connection.type === "oidc"
        ? Boolean(connection.discoveryUrl) || !hasManualEndpoints
        : Boolean(connection.discoveryUrl),
    discoveryUrl: connection.discoveryUrl ?? "",
    issuer: connection.issuer ?? "",
    authorizationEndpoint: connection.authorizationEndpoint ?? "",
    tokenEndpoint: connection.tokenEndpoint ?? "",
    userinfoEndpoint: connection.userinfoEndpoint ?? "",
    jwksUri: connection.jwksUri ?? "",
    scopes: connection.scopes?.join(" ") ?? DEFAULT_SCOPES,
    redirectUrl: connection.redirectUrl ?? defaultRedirectUrl,
    tokenEndpointAuthMethod: connection.tokenEndpointAuthMethod ?? "client_secret_basic",
    remoteIdField: connection.mapping?.remoteIdField ?? base.remoteIdField,
    idField: connection.mapping?.idField ?? "",
    emailField: connection.mapping?.emailField ?? "",
    emailVerifiedField: connection.mapping?.emailVerifiedField ?? base.emailVerifiedField,
    nameField: connection.mapping?.nameField ?? "",
  };
}

function orNull(value: string): string | null {
  const trimmed = value.trim();
  return trimmed ? trimmed : null;
}

export function parseScopes(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Strips a scheme and trailing slash from a Cloudflare team domain. */
function bareHost(value: string): string {
  return value
    .trim()
    .replace(/^https?:\/\//i, "")
    .replace(/\/+$/, "");
}

/** The body of POST/PUT …/connections. Fields that do not apply to the type are sent as null. */
export function toPayload(values: WizardValues): ConnectionInput {
  const type = values.type;
  const cloudflare = type === "cloudflare-access";
  const manual = type === "oidc" && !values.useConfigUrl;
  const payload: ConnectionInput = {
    type,
    name: values.name.trim(),
    clientId: cloudflare ? null : orNull(values.clientId),
    discoveryUrl:
      (type === "oidc" || type === "azure") && values.useConfigUrl ? orNull(values.discoveryUrl) : null,
    issuer: manual ? orNull(values.issuer) : null,
    authorizationEndpoint: manual ? orNull(values.authorizationEndpoint) : null,
    tokenEndpoint: manual ? orNull(values.tokenEndpoint) : null,
    userinfoEndpoint: manual ? orNull(values.userinfoEndpoint) : null,
    jwksUri: manual ? orNull(values.jwksUri) : null,
    scopes: cloudflare ? null : parseScopes(values.scopes),
    redirectUrl: cloudflare ? null : orNull(values.redirectUrl),
    tokenEndpointAuthMethod: cloudflare ? null : values.tokenEndpointAuthMethod,
    mapping: {
      remoteIdField: values.remoteIdField.trim(),
      idField: orNull(values.idField),
      emailField: orNull(values.emailField),
      emailVerifiedField: values.emailVerifiedField.trim(),
      nameField: orNull(values.nameField),
    },
    azureTenantId: type === "azure" ? orNull(values.azureTenantId) : null,
    googleHostedDomain: type === "google" ? orNull(values.googleHostedDomain) : null,
    teamDomain: cloudflare ? orNull(bareHost(values.teamDomain)) : null,
    audience: cloudflare ? orNull(values.audience) : null,
  };
  if (!cloudflare && values.clientSecret) payload.clientSecret = values.clientSecret;
  return payload;
}

/**
 * What POST/PUT …/connections receive: the payload without its null top-level fields, so the fields
 * that do not apply to the type are absent (the server refuses them when they carry a value).
 */
export function toRequestBody(values: WizardValues): Partial<ConnectionInput> {
  return Object.fromEntries(
    Object.entries(toPayload(values)).filter(([, value]) => value !== null),
  ) as Partial<ConnectionInput>;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value.trim());
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

const HOSTNAME =
  /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;

/** Client-side checks of one step; the server validates again and its field errors win. */
export function validateStep(step: StepId, values: WizardValues, hasStoredSecret: boolean): FieldErrors {
  const errors: FieldErrors = {};
  const required = (key: keyof WizardValues, label: string) => {
    const value = values[key];
    if (typeof value === "string" && !value.trim()) errors[fieldKey(key)] = `${label} is required.`;
  };
  const url = (key: keyof WizardValues, label: string, optional = false) => {
    const value = String(values[key] ?? "");
    if (!value.trim()) {
      if (!optional) errors[fieldKey(key)] = `${label} is required.`;
    } else if (!isHttpUrl(value)) {
      errors[fieldKey(key)] = `${label} must be a full URL starting with https://.`;
    }
  };

  if (step === "credentials") {
    required("name", "Display name");
    if (values.type === "cloudflare-access") {
      required("teamDomain", "Team domain");
      if (values.teamDomain.trim() && !HOSTNAME.test(bareHost(values.teamDomain))) {
        errors.teamDomain = "Enter a domain such as myteam.cloudflareaccess.com.";
      }
      required("audience", "Application Audience (AUD) Tag");
    } else {
      required("clientId", "Client ID");
      if (!hasStoredSecret) required("clientSecret", "Client Secret");
      if (values.type === "azure") required("azureTenantId", "Directory (tenant) ID");
      if (
        values.type === "google" &&
        values.googleHostedDomain.trim() &&
        !HOSTNAME.test(values.googleHostedDomain.trim())
      ) {
        errors.googleHostedDomain = "Enter a domain such as example.com.";
      }
    }
  }

  if (step === "oidc") {
    if ((values.type === "oidc" || values.type === "azure") && values.useConfigUrl) {
      url("discoveryUrl", "OIDC Config URL");
    }
    if (values.type === "oidc" && !values.useConfigUrl) {
      url("issuer", "Issuer");
      url("authorizationEndpoint", "Authorization URL");
      url("tokenEndpoint", "Token Endpoint");
      url("userinfoEndpoint", "User Info Endpoint", true);
      url("jwksUri", "JWKS URI");
    }
    const scopes = parseScopes(values.scopes);
    if (!scopes.includes("openid")) errors.scopes = "Scopes must include openid.";
    else if (scopes.includes("offline_access")) errors.scopes = "offline_access is not supported.";
    url("redirectUrl", "Redirect URL");
  }

  if (step === "mapping") {
    required("remoteIdField", "Remote ID Field");
    required("emailVerifiedField", "Email Verified Field");
    if (!values.emailField.trim() && !values.idField.trim()) {
      errors["mapping.emailField"] = "Email Field is required unless an ID Field is set.";
    }
  }
  return errors;
}

const MAPPING_KEYS = new Set(["remoteIdField", "idField", "emailField", "emailVerifiedField", "nameField"]);

/** The error key of a wizard value (mapping fields are nested in the API). */
export function fieldKey(key: keyof WizardValues | string): string {
  return MAPPING_KEYS.has(key) ? `mapping.${key}` : key;
}

/** Normalises a server `error.field` (`mapping.remoteIdField`, `/mapping/remoteIdField`, `body.scopes`…). */
export function normalizeServerField(field: string): string {
  const parts = field
    .replace(/^\/+/, "")
    .split(/[./]/)
    .filter((part) => part && part !== "body" && !/^\d+$/.test(part));
  const last = parts[parts.length - 1] ?? field;
  return fieldKey(last);
}

const STEP_FIELDS: Record<Exclude<StepId, "review">, string[]> = {
  credentials: [
    "name",
    "type",
    "clientId",
    "clientSecret",
    "azureTenantId",
    "googleHostedDomain",
    "teamDomain",
    "audience",
  ],
  oidc: [
    "discoveryUrl",
    "issuer",
    "authorizationEndpoint",
    "tokenEndpoint",
    "userinfoEndpoint",
    "jwksUri",
    "scopes",
    "redirectUrl",
    "tokenEndpointAuthMethod",
  ],
  mapping: ["mapping", ...[...MAPPING_KEYS].map((k) => `mapping.${k}`)],
};

export function stepOfField(field: string): StepId {
  for (const [step, fields] of Object.entries(STEP_FIELDS)) {
    if (fields.includes(field)) return step as StepId;
  }
  return "review";
}

export interface SummaryRow {
  label: string;
  value: string | null;
  mono?: boolean;
}

const AUTH_METHOD_LABELS: Record<TokenEndpointAuthMethod, string> = {
  client_secret_basic: "client_secret_basic (HTTP Basic)",
  client_secret_post: "client_secret_post (form body)",
};

/** Rows describing a connection, shared by the review step and the saved connection's card. */
export function summaryRows(input: ConnectionInput, secret: "set" | "keep" | "none"): SummaryRow[] {
  const rows: SummaryRow[] = [
    { label: "Provider", value: TYPE_LABELS[input.type] },
    { label: "Display name", value: input.name },
  ];
  if (input.type === "cloudflare-access") {
    rows.push({ label: "Team domain", value: input.teamDomain, mono: true });
    rows.push({ label: "Application Audience (AUD) Tag", value: input.audience, mono: true });
  } else {
    rows.push({ label: "Method of Authentication", value: "OIDC" });
    rows.push({ label: "Client ID", value: input.clientId, mono: true });
    rows.push({
      label: "Client Secret",
      value:
        secret === "set" ? UI.secretMask : secret === "keep" ? `${UI.secretMask} (unchanged)` : "Not set",
    });
    if (input.type === "azure")
      rows.push({ label: "Directory (tenant) ID", value: input.azureTenantId, mono: true });
    if (input.type === "google") {
      rows.push({ label: "Workspace domain", value: input.googleHostedDomain ?? "Any Google account" });
    }
    if (input.discoveryUrl) {
      rows.push({ label: "OIDC Config URL", value: input.discoveryUrl, mono: true });
    } else if (input.type === "oidc") {
      rows.push({ label: "Issuer", value: input.issuer, mono: true });
      rows.push({ label: "Authorization URL", value: input.authorizationEndpoint, mono: true });
      rows.push({ label: "Token Endpoint", value: input.tokenEndpoint, mono: true });
      rows.push({ label: "User Info Endpoint", value: input.userinfoEndpoint, mono: true });
      rows.push({ label: "JWKS URI", value: input.jwksUri, mono: true });
    } else if (input.type === "azure") {
      rows.push({ label: "OIDC Config URL", value: "Discovered from the tenant ID" });
    } else if (input.type === "google") {
      rows.push({ label: "Issuer", value: "https://accounts.google.com", mono: true });
    }
    rows.push({ label: "Scopes", value: input.scopes?.join(" ") ?? null, mono: true });
    rows.push({ label: "Redirect URL", value: input.redirectUrl, mono: true });
    rows.push({
      label: "Token endpoint auth method",
      value: input.tokenEndpointAuthMethod ? AUTH_METHOD_LABELS[input.tokenEndpointAuthMethod] : null,
    });
  }
  if (input.mapping) {
    rows.push({ label: "Remote ID Field", value: input.mapping.remoteIdField, mono: true });
    rows.push({ label: "ID Field", value: input.mapping.idField, mono: true });
    rows.push({ label: "Email Field", value: input.mapping.emailField, mono: true });
    rows.push({ label: "Email Verified Field", value: input.mapping.emailVerifiedField, mono: true });
    rows.push({ label: "Name Field", value: input.mapping.nameField, mono: true });
  }
  return rows;
}
