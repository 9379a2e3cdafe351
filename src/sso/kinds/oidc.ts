/**
 * The `oidc` kind (SPEC §3, §4): any OpenID Connect provider, by discovery URL or by endpoints.
 * Its start and completion are the OIDC protocol steps of sso/oidc.ts, which the `azure` and
 * `google` kinds share (`oidcProtocol`); they differ only in their fields and checks.
 */
import type { AppContext } from "../../context.js";
import type { ConnectionMapping } from "../../db/schema.js";
import { badRequest } from "../../http/errors.js";
import { startBrowserBinding } from "../binding.js";
import {
  authorizationUrl,
  callbackClaims,
  newFlowSecrets,
  type OidcDialect,
  providerFor,
  SsoStepError,
} from "../oidc.js";
import { createState } from "../state.js";
import {
  type ConnectionInput,
  DEFAULT_SCOPES,
  GROUP_FIELDS,
  type NormalizedConnection,
  normalizeScopes,
  text,
  urlField,
} from "./fields.js";
import type { CompleteInput, Completion, ConnectionKind, NormalizeOptions, StartInput } from "./kind.js";
import {
  DISPLAY_NAME_FIELD,
  type KindWizard,
  mappingStep,
  type WizardChoice,
  type WizardChoiceOption,
  type WizardField,
  type WizardStep,
} from "./wizard.js";

/** The fields every OIDC kind takes. */
export const OIDC_COMMON_FIELDS = [
  "clientId",
  "clientSecret",
  "scopes",
  "redirectUrl",
  "tokenEndpointAuthMethod",
  "mapping",
  ...GROUP_FIELDS,
] as const satisfies readonly (keyof ConnectionInput)[];

export const STANDARD_MAPPING: ConnectionMapping = {
  remoteIdField: "sub",
  idField: null,
  emailField: "email",
  emailVerifiedField: "email_verified",
  nameField: "name",
};

/** Client ID, auth method, redirect URL and scopes: checked alike for every OIDC kind. */
export function normalizeOidcCommon(
  input: ConnectionInput,
  base: NormalizedConnection,
  opts: NormalizeOptions,
): { value: NormalizedConnection; warnings: string[] } {
  const warnings: string[] = [];
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
  return {
    value: {
      ...base,
      client_id: clientId,
      scopes: normalizeScopes(input.scopes),
      redirect_url: redirect,
      token_endpoint_auth_method: method,
    },
    warnings,
  };
}

/**
 * SPEC §4 step 2: PKCE, nonce and the signed state (bound to this browser), then the IdP's
 * authorization endpoint. A discovery failure throws SsoStepError (step `discovery`).
 */
async function startOidc(
  ctx: AppContext,
  dialect: OidcDialect,
  { request, reply, row, flow }: StartInput,
): Promise<string> {
  const provider = await providerFor(ctx, row, dialect);
  const { nonce, codeVerifier } = newFlowSecrets();
  const common = {
    connectionId: row.id,
    nonce,
    codeVerifier,
    browserBinding: startBrowserBinding(ctx, request, reply),
  };
  const state = createState(
    ctx.stateKeys,
    flow.purpose === "test"
      ? { ...common, purpose: "test", testId: flow.testId }
      : { ...common, purpose: "login", ...(flow.returnTo ? { returnTo: flow.returnTo } : {}) },
    ctx.now().getTime(),
  );
  return authorizationUrl(provider, row, { state, nonce, codeVerifier }).toString();
}

/** SPEC §4 step 3: the code exchange, our ID token check and user-info (sso/oidc.ts). */
async function completeOidc(
  ctx: AppContext,
  dialect: OidcDialect,
  input: CompleteInput,
): Promise<Completion> {
  const { request, row, flow, state } = input;
  const messages: Completion["messages"] = [];
  if (!state) {
    return { ok: false, failure: { step: "state", cause: "no state in the callback" }, messages };
  }
  const url = request.url;
  const rawQuery = url.includes("?") ? url.slice(url.indexOf("?") + 1) : "";
  try {
    const claims = await callbackClaims(
      ctx,
      row,
      rawQuery,
      {
        state: state.token,
        nonce: state.nonce,
        codeVerifier: state.codeVerifier,
        flowStartedAt: state.issuedAt,
      },
      input.wanted,
      flow.purpose,
      dialect,
      messages,
    );
    return { ok: true, claims, messages };
  } catch (err) {
    const e =
      err instanceof SsoStepError
        ? err
        : new SsoStepError("token", err instanceof Error ? err.message : String(err));
    return { ok: false, failure: { step: e.step, cause: e.cause, idpError: e.idpError }, messages };
  }
}

/**
 * What the OIDC kinds share: how a flow starts and completes, with the provider's dialect
 * (sso/oidc.ts OidcDialect: Entra's issuer and tenant, Google's Workspace domain).
 */
export function oidcProtocol(
  dialect: OidcDialect = {},
): Pick<ConnectionKind, "method" | "usesClientSecret" | "failureCode" | "start" | "complete"> {
  return {
    method: "sso",
    usesClientSecret: true,
    failureCode: "sso_failed",
    start: (ctx, input) => startOidc(ctx, dialect, input),
    complete: (ctx, input) => completeOidc(ctx, dialect, input),
  };
}

export const oidcKind: ConnectionKind = {
  type: "oidc",
  ...oidcProtocol(),
  fields: [
    ...OIDC_COMMON_FIELDS,
    "discoveryUrl",
    "issuer",
    "authorizationEndpoint",
    "tokenEndpoint",
    "userinfoEndpoint",
    "jwksUri",
  ],
  defaultMapping: STANDARD_MAPPING,
  normalize(input, base, opts) {
    const { value: common, warnings } = normalizeOidcCommon(input, base, opts);
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
  },
  get wizard() {
    return wizard;
  },
};

// ── The setup wizard's description (GET /api/admin/sso/kinds) ─────────────────────────────────

/** "Use OIDC Config URL": the `yes` option shows the discovery URL; what `no` shows is the kind's. */
export function configUrlChoice(no: Omit<WizardChoiceOption, "value" | "label">): WizardChoice {
  return {
    name: "useConfigUrl",
    label: "Use OIDC Config URL",
    hint: "Recommended: the config URL supplies every endpoint automatically.",
    options: [
      { value: "yes", label: "Yes" },
      { value: "no", label: "No", ...no },
    ],
    default: "yes",
  };
}

/** The discovery URL, shown while "Use OIDC Config URL" is Yes. */
export const DISCOVERY_URL_FIELD: WizardField = {
  name: "discoveryUrl",
  label: "OIDC Config URL",
  hint: "Usually https://<your IdP domain>/.well-known/openid-configuration.",
  input: "url",
  required: true,
  mono: true,
  when: "yes",
};

/** Step 1 of every OIDC kind: the display name, the locked method, the client ID and secret. */
export function oidcCredentialsStep(...own: WizardField[]): WizardStep {
  return {
    id: "credentials",
    title: "Client ID & Secret",
    fields: [
      DISPLAY_NAME_FIELD,
      {
        name: "method",
        label: "Method of Authentication",
        hint: "OpenID Connect. For SAML 2.0, pick one of the SAML providers instead.",
        input: "fixed",
        options: [{ value: "oidc", label: "OIDC" }],
        default: "oidc",
      },
      {
        name: "clientId",
        label: "Client ID",
        hint: "The identifier issued by your IdP.",
        input: "text",
        required: true,
        mono: true,
        autoComplete: "off",
      },
      {
        name: "clientSecret",
        label: "Client Secret",
        hint: "A secure key generated by your IdP, used by CoPilot to prove its identity.",
        input: "secret",
        required: true,
      },
      ...own,
    ],
  };
}

/** Step 2 of every OIDC kind: how the endpoints are found (the kind's), then scopes, redirect URL, auth method. */
export function oidcConfigurationStep(
  endpoints: Pick<WizardStep, "choice" | "note" | "facts"> & { fields?: WizardField[] },
): WizardStep {
  const { fields = [], ...rest } = endpoints;
  return {
    id: "oidc",
    title: "OIDC Configuration",
    ...rest,
    fields: [
      ...fields,
      {
        name: "scopes",
        label: "Scopes",
        hint: "Separate with spaces. openid is required; profile and email are recommended.",
        input: "scopes",
        required: true,
        mono: true,
        default: DEFAULT_SCOPES.join(" "),
      },
      {
        name: "redirectUrl",
        label: "Redirect URL",
        hint: "This Redirect URL must be whitelisted in your IdP configuration.",
        input: "redirect",
        required: true,
        mono: true,
      },
      {
        name: "tokenEndpointAuthMethod",
        label: "Token endpoint auth method",
        hint: "How CoPilot sends the client secret to the token endpoint.",
        input: "select",
        options: [
          {
            value: "client_secret_basic",
            label: "client_secret_basic (default)",
            summary: "client_secret_basic (HTTP Basic)",
          },
          {
            value: "client_secret_post",
            label: "client_secret_post",
            summary: "client_secret_post (form body)",
          },
        ],
        default: "client_secret_basic",
      },
    ],
  };
}

/** The endpoints typed by hand (shown while "Use OIDC Config URL" is No). */
const ENDPOINT_FIELDS: WizardField[] = (
  [
    ["issuer", "Issuer", true],
    ["authorizationEndpoint", "Authorization URL", true],
    ["tokenEndpoint", "Token Endpoint", true],
    ["userinfoEndpoint", "User Info Endpoint", false],
    ["jwksUri", "JWKS URI", true],
  ] as const
).map(([name, label, required]) => ({
  name,
  label,
  input: "url",
  mono: true,
  when: "no",
  ...(required ? { required: true } : { optional: true }),
}));

const STANDARD_MAPPING_GUIDE = "Mapping: Remote ID → sub, Email → email, Email Verified → email_verified.";

const wizard: KindWizard = {
  label: "OpenID Connect",
  steps: [
    oidcCredentialsStep(),
    oidcConfigurationStep({
      choice: configUrlChoice({ legend: "Endpoints" }),
      fields: [DISCOVERY_URL_FIELD, ...ENDPOINT_FIELDS],
    }),
    mappingStep(STANDARD_MAPPING),
  ],
  presets: [
    {
      key: "oidc",
      label: "Generic OIDC",
      summary: "Any OpenID Connect identity provider.",
      defaultName: "SSO",
      guide: [
        "In your identity provider, create an OpenID Connect web application.",
        "Add the CoPilot Redirect URL (step 2) to its allowed redirect URLs.",
        "Copy its Client ID and Secret into step 1.",
        "Copy its OIDC Config URL (…/.well-known/openid-configuration) into step 2.",
        STANDARD_MAPPING_GUIDE,
      ],
      placeholders: { discoveryUrl: "https://idp.example.com/.well-known/openid-configuration" },
    },
    {
      key: "auth0",
      label: "Auth0",
      summary: "Auth0 Regular Web Application.",
      defaultName: "Auth0",
      guide: [
        "Create a Regular Web Application in Auth0.",
        "Copy Client ID and Secret into CoPilot.",
        "Add the CoPilot Redirect URL to Auth0 Allowed Callback URLs.",
        "Config endpoint → https://YOUR_DOMAIN/.well-known/openid-configuration",
        "Scopes → openid profile email",
        STANDARD_MAPPING_GUIDE,
      ],
      placeholders: { discoveryUrl: "https://YOUR_DOMAIN/.well-known/openid-configuration" },
      matches: { field: "discoveryUrl", contains: "auth0.com" },
    },
    {
      key: "okta",
      label: "Okta",
      summary: "Okta OIDC Web Application.",
      defaultName: "Okta",
      guide: [
        "Okta Admin → Applications → Create App Integration.",
        "Select OIDC - OpenID Connect, type = Web Application.",
        "Add the CoPilot Redirect URL under Login redirect URIs.",
        "Copy Client ID and Secret → CoPilot.",
        "Use the Okta metadata URL: https://YOUR_OKTA_DOMAIN/.well-known/openid-configuration",
        "Assign groups/users.",
        STANDARD_MAPPING_GUIDE,
      ],
      placeholders: { discoveryUrl: "https://YOUR_OKTA_DOMAIN/.well-known/openid-configuration" },
      matches: { field: "discoveryUrl", contains: "okta" },
    },
  ],
};
