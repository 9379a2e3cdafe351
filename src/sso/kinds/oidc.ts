/**
 * The `oidc` kind (SPEC §3, §4): any OpenID Connect provider, by discovery URL or by endpoints.
 * Its start and completion are the OIDC protocol steps of sso/oidc.ts, which the `azure` and
 * `google` kinds share (`oidcProtocol`); they differ only in their fields and checks.
 */
import type { AppContext } from "../../context.js";
import type { ConnectionMapping } from "../../db/schema.js";
import { badRequest } from "../../http/errors.js";
import { startBrowserBinding } from "../binding.js";
import { authorizationUrl, callbackClaims, newFlowSecrets, providerFor, SsoStepError } from "../oidc.js";
import { createState } from "../state.js";
import {
  type ConnectionInput,
  type NormalizedConnection,
  normalizeScopes,
  text,
  urlField,
} from "./fields.js";
import type { CompleteInput, Completion, ConnectionKind, NormalizeOptions, StartInput } from "./kind.js";
import type { KindWizard } from "./wizard.js";

/** The fields every OIDC kind takes. */
export const OIDC_COMMON_FIELDS = [
  "clientId",
  "clientSecret",
  "scopes",
  "redirectUrl",
  "tokenEndpointAuthMethod",
  "mapping",
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
async function startOidc(ctx: AppContext, { request, reply, row, flow }: StartInput): Promise<string> {
  const provider = await providerFor(ctx, row);
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
async function completeOidc(ctx: AppContext, input: CompleteInput): Promise<Completion> {
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

/** What the OIDC kinds share: how a flow starts and completes. */
export const oidcProtocol = {
  method: "sso",
  usesClientSecret: true,
  failureCode: "sso_failed",
  start: startOidc,
  complete: completeOidc,
} as const satisfies Pick<
  ConnectionKind,
  "method" | "usesClientSecret" | "failureCode" | "start" | "complete"
>;

export const oidcKind: ConnectionKind = {
  type: "oidc",
  ...oidcProtocol,
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
const wizard: KindWizard = {
  label: "OpenID Connect",
  method: "OIDC",
  steps: [],
  presets: [],
  mappingHelp: {},
};
