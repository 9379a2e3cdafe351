/**
 * The `google` kind (SPEC §3): Google Workspace or Google accounts, optionally restricted to one
 * Workspace domain (the signed ID token's `hd`, checked in sso/oidc.ts). The protocol steps are
 * the `oidc` kind's.
 */
import { badRequest } from "../../http/errors.js";
import type { OidcDialect } from "../oidc.js";
import { HOSTNAME, text, urlField } from "./fields.js";
import type { ConnectionKind } from "./kind.js";
import {
  normalizeOidcCommon,
  OIDC_COMMON_FIELDS,
  oidcConfigurationStep,
  oidcCredentialsStep,
  oidcProtocol,
  STANDARD_MAPPING,
} from "./oidc.js";
import { type KindWizard, mappingStep } from "./wizard.js";

export const GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration";

/**
 * A Workspace restriction: `hd` is only a hint in the authorization request; the signed ID
 * token's `hd` decides.
 */
const googleDialect: OidcDialect = {
  authorizationParams: (row): Record<string, string> =>
    row.google_hosted_domain ? { hd: row.google_hosted_domain } : {},
  requiredClaims: (row) =>
    row.google_hosted_domain
      ? [
          {
            claim: "hd",
            value: row.google_hosted_domain,
            what: `the configured Workspace domain ${row.google_hosted_domain}`,
          },
        ]
      : [],
};

export const googleKind: ConnectionKind = {
  type: "google",
  ...oidcProtocol(googleDialect),
  fields: [...OIDC_COMMON_FIELDS, "discoveryUrl", "googleHostedDomain"],
  defaultMapping: STANDARD_MAPPING,
  normalize(input, base, opts) {
    const { value: common, warnings } = normalizeOidcCommon(input, base, opts);
    const hd = text(input.googleHostedDomain, "googleHostedDomain", { max: 253 })?.toLowerCase() ?? null;
    if (hd && !HOSTNAME.test(hd))
      throw badRequest("googleHostedDomain must be a domain such as acme.com", "googleHostedDomain");
    const discovery = urlField(input.discoveryUrl, "discoveryUrl", opts.allowHttp) ?? GOOGLE_DISCOVERY_URL;
    return { value: { ...common, discovery_url: discovery, google_hosted_domain: hd }, warnings };
  },
  get wizard() {
    return wizard;
  },
};

// ── The setup wizard's description (GET /api/admin/sso/kinds) ─────────────────────────────────
const wizard: KindWizard = {
  label: "Google",
  steps: [
    oidcCredentialsStep({
      name: "googleHostedDomain",
      label: "Workspace domain",
      optional: true,
      hint: "Only accounts of this Google Workspace domain can sign in (the hd claim).",
      placeholder: "example.com",
      input: "hostname",
      verbatim: true,
      pattern: { source: HOSTNAME.source, message: "Enter a domain such as example.com." },
      emptySummary: "Any Google account",
    }),
    oidcConfigurationStep({
      note: {
        text: "Google's endpoints are discovered automatically from https://accounts.google.com.",
        placement: "start",
      },
      facts: [{ label: "Issuer", value: new URL(GOOGLE_DISCOVERY_URL).origin, mono: true }],
    }),
    mappingStep(STANDARD_MAPPING),
  ],
  presets: [
    {
      key: "google",
      label: "Google",
      summary: "Google Workspace or Google accounts.",
      defaultName: "Google Workspace",
      guide: [
        "Google Cloud Console → APIs & Services → Credentials → Create Credentials → OAuth client ID.",
        "Application type: Web application.",
        "Authorized redirect URIs: add the CoPilot Redirect URL.",
        "Enable the People API (APIs & Services → Library).",
        "Copy the Client ID and Client Secret into CoPilot.",
        "Optionally restrict sign-in to your Workspace domain.",
      ],
    },
  ],
};
