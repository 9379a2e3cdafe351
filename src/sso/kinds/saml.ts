/**
 * The `saml` kind (SPEC §12): CoPilot as the SAML 2.0 Service Provider of the connection, Web
 * Browser SSO profile, SP-initiated over HTTP-Redirect with the Response on HTTP-POST.
 *
 *   normalize  the §12 fields: the IdP from its metadata URL, pasted metadata XML, or entity ID +
 *              SSO URL + certificates (exactly one of them); signature requirement, SHA-1, IdP-
 *              initiated, clock skew, email trust; 422 naming the field
 *   prepare    on create / change: the metadata URL fetched through the SSRF guard (ctx.idpFetch)
 *              and parsed; the IdP configuration in effect (`saml_idp`); the SP key pair made
 *              once per connection, its private key sealed like a client secret
 *   start      an AuthnRequest whose ID is kept in PostgreSQL until used once (saml_requests) and
 *              carried in the §4 state (its `nonce`), the state as RelayState; signed when the IdP
 *              wants signed requests
 *   complete   reads the result the ACS verified (saml-routes.ts hands it over on the same-origin
 *              continue request, where the browser binding has been checked), binds it to this
 *              flow's AuthnRequest, and gives the claims: `NameID` and the attributes by name
 *
 * The verification itself is the SAML library's (src/sso/saml/), called by the ACS route.
 */
import type { Insertable } from "kysely";
import type { AppContext } from "../../context.js";
import { randomToken } from "../../crypto/tokens.js";
import type { SamlIdpConfig, SsoConnectionsTable } from "../../db/schema.js";
import { badRequest } from "../../http/errors.js";
import { requestOrigin } from "../../http/request-context.js";
import { describeFetchError } from "../../net/safe-fetch.js";
import { startBrowserBinding } from "../binding.js";
import { SsoStepError } from "../oidc.js";
import {
  buildAuthnRequest,
  clockSkewSeconds,
  generateSpKey,
  type IdpMetadata,
  isSamlError,
  manualIdpConfiguration,
  NAMEID_FORMATS,
  newRequestId,
  parseCertificateList,
  parseIdpMetadata,
  redirectUrl,
  type SamlAcceptanceOptions,
  type SamlAssertionFacts,
  type SamlTraceSummary,
  type SpKeyRing,
  saveAuthnRequest,
} from "../saml/index.js";
import { createState } from "../state.js";
import { GROUP_FIELDS, text, urlField } from "./fields.js";
import type { CompleteInput, Completion, ConnectionKind, ConnectionRow, StartInput } from "./kind.js";
import { DISPLAY_NAME_FIELD, type KindWizard, mappingStep, type WizardStep } from "./wizard.js";

/** The SAML configuration of a connection of another kind (what normalizeConnection starts from). */
export const NO_SAML_CONFIG = {
  saml_metadata_url: null,
  saml_metadata_xml: null,
  saml_entity_id: null,
  saml_sso_url: null,
  saml_certificates: null,
  saml_sp_entity_id: null,
  saml_signature_required: null,
  saml_allow_sha1: false,
  saml_idp_initiated: false,
  saml_clock_skew_seconds: null,
  saml_email_trust: null,
} as const;

/** The columns of a connection that is not SAML (a row built in code, e.g. the instance's Google). */
export const NO_SAML_COLUMNS = {
  ...NO_SAML_CONFIG,
  saml_idp: null,
  saml_metadata_fetched_at: null,
  saml_sp_key_enc: null,
  saml_sp_certificate: null,
  saml_sp_next_key_enc: null,
  saml_sp_next_certificate: null,
} as const;

/**
 * SAML has no email-verified flag (SPEC §12): the connection's `samlEmailTrust` decides, and the
 * completion gives its verdict under this claim name, which the mapping's emailVerifiedField is
 * fixed to (it is not an attribute of the IdP).
 */
export const EMAIL_TRUST_CLAIM = "samlEmailTrust";
/** The IdP's metadata is fetched again after a day. */
export const METADATA_REFRESH_MS = 24 * 60 * 60_000;
/** A signature failure fetches the metadata again (a key rotation), at most once per this. */
export const METADATA_COOLDOWN_MS = 5 * 60_000;
const MAX_METADATA_BYTES = 1024 * 1024;

export const SAML_PATH = (connectionId: string) => `/login/saml/${encodeURIComponent(connectionId)}`;

/** AAD for the sealed SP private keys: a ciphertext opens only for its own connection and slot. */
export const spKeyAad = (connectionId: string, slot: "current" | "next") =>
  `sso_connection:${connectionId}:saml_sp_key:${slot}`;

/** The SP's URLs on the origin the agency is reached on (SPEC §12). */
export function spUrls(origin: string, row: Pick<ConnectionRow, "id" | "saml_sp_entity_id">) {
  const base = `${origin}${SAML_PATH(row.id)}`;
  const metadataUrl = `${base}/metadata`;
  return { metadataUrl, acsUrl: `${base}/acs`, entityId: row.saml_sp_entity_id ?? metadataUrl };
}

/** The SP key ring of a connection, opened. */
export function spKeyRing(ctx: AppContext, row: ConnectionRow): SpKeyRing {
  if (!row.saml_sp_key_enc || !row.saml_sp_certificate) {
    throw new SsoStepError("authorize", "the connection has no SP key pair");
  }
  const current = {
    privateKeyPem: ctx.secretBox.decrypt(row.saml_sp_key_enc, spKeyAad(row.id, "current")),
    certificatePem: row.saml_sp_certificate,
  };
  const next =
    row.saml_sp_next_key_enc && row.saml_sp_next_certificate
      ? {
          privateKeyPem: ctx.secretBox.decrypt(row.saml_sp_next_key_enc, spKeyAad(row.id, "next")),
          certificatePem: row.saml_sp_next_certificate,
        }
      : null;
  return { current, next };
}

function idpConfig(m: IdpMetadata): SamlIdpConfig {
  return {
    entityId: m.entityId,
    ssoUrl: m.ssoUrl,
    certificates: m.signingCertificates.map((c) => c.pem),
    wantAuthnRequestsSigned: m.wantAuthnRequestsSigned,
    nameIdFormats: m.nameIdFormats,
  };
}

/** Fetches and parses the IdP metadata through the SSRF guard; throws SamlError or a fetch error. */
async function fetchMetadata(ctx: AppContext, url: string): Promise<IdpMetadata> {
  const res = await ctx.idpFetch(url, {
    headers: { accept: "application/samlmetadata+xml, application/xml, text/xml" },
  });
  if (!res.ok) throw new Error(`the metadata URL answered HTTP ${res.status}`);
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.byteLength > MAX_METADATA_BYTES) throw new Error("the metadata is larger than 1 MB");
  return parseIdpMetadata(body, ctx.now());
}

/**
 * The connection's metadata fetched again (SPEC §12): daily, or after a signature failure at most
 * once per cooldown — both measured from `saml_metadata_fetched_at`, so the whole cluster shares
 * them. A metadata naming another entity ID is not adopted. Returns the row as it is now (the
 * same row when nothing was fetched or the fetch failed: the configuration in effect stays).
 */
export async function refreshMetadata(
  ctx: AppContext,
  row: ConnectionRow,
  reason: "daily" | "signature_failure",
): Promise<ConnectionRow> {
  if (row.type !== "saml" || !row.saml_metadata_url) return row;
  const last = row.saml_metadata_fetched_at?.getTime() ?? 0;
  const age = ctx.now().getTime() - last;
  if (age < (reason === "daily" ? METADATA_REFRESH_MS : METADATA_COOLDOWN_MS)) return row;
  // Claim the refresh first (one node, one request per period), then fetch.
  const claimed = await ctx.db
    .updateTable("sso_connections")
    .set({ saml_metadata_fetched_at: ctx.now() })
    .where("id", "=", row.id)
    .where((eb) =>
      row.saml_metadata_fetched_at
        ? eb("saml_metadata_fetched_at", "=", row.saml_metadata_fetched_at)
        : eb("saml_metadata_fetched_at", "is", null),
    )
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) === 0) return row;
  try {
    const metadata = await fetchMetadata(ctx, row.saml_metadata_url);
    if (row.saml_idp && metadata.entityId !== row.saml_idp.entityId) {
      ctx.log.warn(
        { connectionId: row.id, reason },
        "SAML metadata refresh: the metadata names another entity ID; not adopted",
      );
      return row;
    }
    const updated = await ctx.db
      .updateTable("sso_connections")
      .set({ saml_idp: JSON.stringify(idpConfig(metadata)) })
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirst();
    ctx.log.info({ connectionId: row.id, reason }, "SAML metadata refreshed");
    return updated ?? row;
  } catch (err) {
    ctx.log.warn(
      { connectionId: row.id, reason, error: describeFetchError(err) },
      "SAML metadata refresh failed; the configuration in effect stays",
    );
    return row;
  }
}

/** What the library checks a Response of this connection against (SPEC §12). */
export function acceptanceOptions(
  ctx: AppContext,
  row: ConnectionRow,
  origin: string,
  expectedInResponseTo: string | null,
): SamlAcceptanceOptions & { connectionId: string } {
  const idp = row.saml_idp;
  if (!idp) throw new SsoStepError("assertion", "the connection has no IdP configuration");
  const { acsUrl, entityId } = spUrls(origin, row);
  const ring = spKeyRing(ctx, row);
  return {
    connectionId: row.id,
    idpEntityId: idp.entityId,
    idpCertificates: idp.certificates,
    spEntityId: entityId,
    acsUrl,
    signatureRequired: row.saml_signature_required ?? "either",
    allowSha1: row.saml_allow_sha1,
    clockSkewSeconds: row.saml_clock_skew_seconds ?? undefined,
    expectedInResponseTo,
    allowIdpInitiated: row.saml_idp_initiated,
    spDecryptionKeys: ring.next
      ? [ring.current.privateKeyPem, ring.next.privateKeyPem]
      : [ring.current.privateKeyPem],
    now: ctx.now(),
  };
}

/** What the ACS hands over to the continue request (kept as JSON under the one-time handle). */
export type SamlHandoff =
  | {
      ok: true;
      facts: Pick<
        SamlAssertionFacts,
        "nameId" | "nameIdFormat" | "attributes" | "inResponseTo" | "idpInitiated" | "assertionId"
      > & { sha1: boolean; signed: { response: boolean; assertion: boolean }; encrypted: boolean };
      summary: SamlTraceSummary;
    }
  | { ok: false; check: string; cause: string; summary: SamlTraceSummary | null };

declare module "fastify" {
  interface FastifyRequest {
    /** The verified SAML result of this continue request (saml-routes.ts), read by `complete`. */
    samlHandoff: SamlHandoff | null;
  }
}

/** SPEC §12: the AuthnRequest (ID kept until used once, carried in the state), RelayState = state. */
async function start(ctx: AppContext, { request, reply, row, flow }: StartInput): Promise<string> {
  const fresh = await refreshMetadata(ctx, row, "daily");
  const idp = fresh.saml_idp;
  if (!idp) throw new SsoStepError("discovery", "the connection has no IdP configuration");
  const now = ctx.now();
  const requestId = newRequestId();
  await saveAuthnRequest(ctx.db, { id: requestId, connectionId: row.id, now });
  const common = {
    connectionId: row.id,
    // The AuthnRequest ID travels sealed in the state: the continue request binds the Response to it.
    nonce: requestId,
    codeVerifier: randomToken(16),
    browserBinding: startBrowserBinding(ctx, request, reply),
  };
  const state = createState(
    ctx.stateKeys,
    flow.purpose === "test"
      ? { ...common, purpose: "test", testId: flow.testId }
      : { ...common, purpose: "login", ...(flow.returnTo ? { returnTo: flow.returnTo } : {}) },
    now.getTime(),
  );
  const urls = spUrls(requestOrigin(request), fresh);
  const requestXml = buildAuthnRequest({
    id: requestId,
    issueInstant: now,
    destination: idp.ssoUrl,
    acsUrl: urls.acsUrl,
    spEntityId: urls.entityId,
  });
  return redirectUrl({
    ssoUrl: idp.ssoUrl,
    requestXml,
    relayState: state,
    signingKeyPem: idp.wantAuthnRequestsSigned ? spKeyRing(ctx, fresh).current.privateKeyPem : null,
  });
}

/** The attributes as claims: `NameID`, then each attribute by name (one value as a string). */
function claimsOf(facts: Extract<SamlHandoff, { ok: true }>["facts"], row: ConnectionRow) {
  const claims: Record<string, unknown> = {};
  for (const [name, values] of Object.entries(facts.attributes)) {
    if (name === EMAIL_TRUST_CLAIM) continue;
    claims[name] = values.length === 1 ? values[0] : values;
  }
  claims.NameID = facts.nameId;
  if (facts.nameIdFormat) claims.NameIDFormat = facts.nameIdFormat;
  // §12: `idp` trusts the IdP's email; `verified-domains` needs one of the agency's verified
  // domains (SPEC §15, not built yet: no domain is verified, so no email is trusted).
  claims[EMAIL_TRUST_CLAIM] = (row.saml_email_trust ?? "idp") === "idp";
  return claims;
}

function refusal(check: string, cause: string, summary: SamlTraceSummary | null) {
  return {
    step: "assertion" as const,
    cause: `the SAML Response was refused by the ${check} check: ${cause}`,
    details: { check },
    claimNames: summary?.assertion?.attributeNames ?? [],
  };
}

async function complete(ctx: AppContext, { request, row, state }: CompleteInput): Promise<Completion> {
  const handoff = request.samlHandoff;
  if (!handoff) {
    return { ok: false, failure: refusal("input", "no SAML Response was handed over", null), messages: [] };
  }
  const messages: Completion["messages"] = [
    { name: "saml_response", at: ctx.now().toISOString(), data: { summary: handoff.summary } },
  ];
  if (!handoff.ok) {
    return { ok: false, failure: refusal(handoff.check, handoff.cause, handoff.summary), messages };
  }
  const { facts } = handoff;
  // The Response answers THIS flow's AuthnRequest (the state's, checked with this browser's binding).
  const bound = state ? facts.inResponseTo === state.nonce : facts.idpInitiated && row.saml_idp_initiated;
  if (!bound) {
    return {
      ok: false,
      failure: refusal(
        "in_response_to",
        state
          ? "the Response answers another flow's AuthnRequest"
          : "an IdP-initiated Response, which this connection does not accept",
        handoff.summary,
      ),
      messages,
    };
  }
  return { ok: true, claims: claimsOf(facts, row), messages };
}

const SIGNATURE_REQUIREMENTS = ["either", "assertion", "response", "both"] as const;

/** The certificates as given: a list of PEMs, or one text holding PEM blocks. */
function certificatesField(value: unknown): string[] | null {
  if (value === undefined || value === null || value === "") return null;
  const texts = typeof value === "string" ? [value] : Array.isArray(value) ? value : null;
  if (!texts || texts.some((t) => typeof t !== "string"))
    throw badRequest("samlCertificates must be a list of PEM certificates", "samlCertificates");
  if (texts.length === 0) return null;
  try {
    return [...new Set((texts as string[]).flatMap((t) => parseCertificateList(t)))];
  } catch (err) {
    throw badRequest(
      `samlCertificates: ${isSamlError(err) ? err.cause : "not PEM certificates"}`,
      "samlCertificates",
    );
  }
}

export const samlKind: ConnectionKind = {
  type: "saml",
  method: "sso",
  usesClientSecret: false,
  failureCode: "sso_failed",
  fields: [
    "mapping",
    "samlMetadataUrl",
    "samlMetadataXml",
    "samlEntityId",
    "samlSsoUrl",
    "samlCertificates",
    "samlSpEntityId",
    "samlSignatureRequired",
    "samlAllowSha1",
    "samlIdpInitiated",
    "samlClockSkewSeconds",
    "samlEmailTrust",
    ...GROUP_FIELDS,
  ],
  defaultMapping: {
    remoteIdField: "NameID",
    idField: null,
    emailField: "NameID",
    emailVerifiedField: EMAIL_TRUST_CLAIM,
    nameField: null,
  },
  normalize(input, base, opts) {
    const warnings: string[] = [];
    if (base.mapping.emailVerifiedField !== EMAIL_TRUST_CLAIM) {
      throw badRequest(
        "mapping.emailVerifiedField does not apply to SAML connections: samlEmailTrust decides whether the IdP's email is trusted",
        "mapping.emailVerifiedField",
      );
    }
    const metadataUrl = urlField(input.samlMetadataUrl, "samlMetadataUrl", opts.allowHttp);
    const metadataXml = text(input.samlMetadataXml, "samlMetadataXml", { max: 256 * 1024 });
    const entityId = text(input.samlEntityId, "samlEntityId", { max: 1024 });
    const ssoUrl = urlField(input.samlSsoUrl, "samlSsoUrl", opts.allowHttp);
    const certificates = certificatesField(input.samlCertificates);
    const manual = entityId !== null || ssoUrl !== null || certificates !== null;
    const sources = [
      ["samlMetadataUrl", metadataUrl !== null],
      ["samlMetadataXml", metadataXml !== null],
      ["samlEntityId", manual],
    ] as const;
    const given = sources.filter(([, v]) => v);
    if (given.length === 0) {
      throw badRequest(
        "samlMetadataUrl is required: give the IdP's metadata URL, its metadata XML, or its entity ID, SSO URL and certificates",
        "samlMetadataUrl",
      );
    }
    if (given.length > 1) {
      const field =
        given[1]![0] === "samlEntityId"
          ? entityId
            ? "samlEntityId"
            : ssoUrl
              ? "samlSsoUrl"
              : "samlCertificates"
          : given[1]![0];
      throw badRequest(
        `${field} is not used with ${given[0]![0]}: give the metadata URL, the metadata XML or the manual fields, one of them`,
        field,
      );
    }
    if (metadataXml !== null) {
      try {
        parseIdpMetadata(metadataXml, new Date());
      } catch (err) {
        throw badRequest(
          `samlMetadataXml: ${isSamlError(err) ? err.cause : "not valid IdP metadata"}`,
          "samlMetadataXml",
        );
      }
    }
    if (manual) {
      if (!entityId) throw badRequest("samlEntityId is required without metadata", "samlEntityId");
      if (!ssoUrl) throw badRequest("samlSsoUrl is required without metadata", "samlSsoUrl");
      if (!certificates)
        throw badRequest("samlCertificates is required without metadata", "samlCertificates");
    }
    const signature = input.samlSignatureRequired ?? "either";
    if (!(SIGNATURE_REQUIREMENTS as readonly string[]).includes(signature)) {
      throw badRequest(
        `samlSignatureRequired must be one of ${SIGNATURE_REQUIREMENTS.join(", ")}`,
        "samlSignatureRequired",
      );
    }
    let skew: number;
    try {
      skew = clockSkewSeconds(input.samlClockSkewSeconds);
    } catch (err) {
      throw badRequest(err instanceof Error ? err.message : String(err), "samlClockSkewSeconds");
    }
    const trust = input.samlEmailTrust ?? "idp";
    if (trust !== "idp" && trust !== "verified-domains") {
      throw badRequest("samlEmailTrust must be idp or verified-domains", "samlEmailTrust");
    }
    if (trust === "idp") {
      warnings.push(
        "Emails from this IdP are trusted as verified (samlEmailTrust: idp): the agency has no verified domain yet. Once a domain is verified, choose verified-domains.",
      );
    }
    if (input.samlAllowSha1) {
      warnings.push(
        "SHA-1 signatures are accepted for this connection (each use is audited): ask the IdP for SHA-256.",
      );
    }
    return {
      value: {
        ...base,
        saml_metadata_url: metadataUrl,
        saml_metadata_xml: metadataXml,
        saml_entity_id: entityId,
        saml_sso_url: ssoUrl,
        saml_certificates: certificates,
        saml_sp_entity_id: text(input.samlSpEntityId, "samlSpEntityId", { max: 1024 }),
        saml_signature_required: signature,
        saml_allow_sha1: input.samlAllowSha1 ?? false,
        saml_idp_initiated: input.samlIdpInitiated ?? false,
        saml_clock_skew_seconds: skew,
        saml_email_trust: trust,
      },
      warnings,
    };
  },
  async prepare(ctx, { connectionId, value, existing }) {
    const now = ctx.now();
    let metadata: IdpMetadata;
    let fetchedAt: Date | null = null;
    if (value.saml_metadata_url) {
      try {
        metadata = await fetchMetadata(ctx, value.saml_metadata_url);
      } catch (err) {
        throw badRequest(
          `samlMetadataUrl could not be used: ${isSamlError(err) ? err.cause : describeFetchError(err)}`,
          "samlMetadataUrl",
        );
      }
      fetchedAt = now;
    } else if (value.saml_metadata_xml) {
      metadata = parseIdpMetadata(value.saml_metadata_xml, now);
    } else {
      try {
        metadata = manualIdpConfiguration(
          {
            entityId: value.saml_entity_id ?? "",
            ssoUrl: value.saml_sso_url ?? "",
            certificates: value.saml_certificates ?? [],
          },
          now,
        );
      } catch (err) {
        throw badRequest(`samlSsoUrl: ${isSamlError(err) ? err.cause : "invalid"}`, "samlSsoUrl");
      }
    }
    const extra: Partial<Insertable<SsoConnectionsTable>> = {
      saml_idp: JSON.stringify(idpConfig(metadata)),
      saml_metadata_fetched_at: fetchedAt,
    };
    if (!existing?.saml_sp_key_enc) {
      const key = await generateSpKey({ commonName: `CoPilot SSO ${connectionId}`, now });
      extra.saml_sp_key_enc = ctx.secretBox.encrypt(key.privateKeyPem, spKeyAad(connectionId, "current"));
      extra.saml_sp_certificate = key.certificatePem;
    }
    return extra;
  },
  start,
  complete,
  get wizard() {
    return wizard;
  },
};

// ── The setup wizard's description (GET /api/admin/sso/kinds) ─────────────────────────────────

const ENTRA_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";

const idpStep: WizardStep = {
  id: "saml",
  title: "SAML configuration",
  intro:
    "After saving, the SSO Configuration section shows CoPilot's ACS URL, entity ID and metadata URL (…/login/saml/<connection id>/acs, …/metadata) to paste into your IdP.",
  choice: {
    name: "samlSource",
    label: "IdP metadata",
    hint: "Recommended: the metadata URL, refreshed daily, so a certificate rotation at the IdP needs no change here.",
    options: [
      { value: "url", label: "Metadata URL" },
      { value: "xml", label: "Paste metadata XML" },
      { value: "manual", label: "Enter manually", legend: "Identity provider" },
    ],
    default: "url",
  },
  fields: [
    {
      name: "samlMetadataUrl",
      label: "IdP metadata URL",
      input: "url",
      required: true,
      mono: true,
      when: "url",
    },
    {
      name: "samlMetadataXml",
      label: "IdP metadata XML",
      input: "text",
      required: true,
      mono: true,
      when: "xml",
      summary: false,
    },
    {
      name: "samlEntityId",
      label: "IdP entity ID (Issuer)",
      input: "text",
      required: true,
      mono: true,
      when: "manual",
    },
    {
      name: "samlSsoUrl",
      label: "SSO URL (HTTP-Redirect)",
      input: "url",
      required: true,
      mono: true,
      when: "manual",
    },
    {
      name: "samlCertificates",
      label: "Signing certificates (PEM)",
      hint: "Paste one or more PEM certificates: several are accepted during a rotation.",
      input: "text",
      required: true,
      mono: true,
      when: "manual",
      summary: false,
    },
    {
      name: "samlSignatureRequired",
      label: "Required signature",
      input: "select",
      options: [
        { value: "either", label: "Assertion or Response (default)" },
        { value: "assertion", label: "Assertion" },
        { value: "response", label: "Response" },
        { value: "both", label: "Both" },
      ],
      default: "either",
    },
  ],
};

function samlMappingStep(): WizardStep {
  const base = mappingStep(samlKind.defaultMapping);
  return {
    ...base,
    intro:
      "NameID, or the name of a SAML attribute. SAML has no email-verified flag: emails from the IdP are trusted (samlEmailTrust) until the agency verifies a domain.",
    fields: [
      ...base.fields.filter((f) => f.name !== "mapping.emailVerifiedField"),
      {
        name: "samlEmailTrust",
        label: "Email trust",
        input: "select",
        options: [
          { value: "idp", label: "Trust the IdP's email (default)" },
          { value: "verified-domains", label: "Only emails of verified domains" },
        ],
        default: "idp",
      },
    ],
  };
}

const wizard: KindWizard = {
  label: "SAML 2.0",
  steps: [
    { id: "credentials", title: "Connection", fields: [DISPLAY_NAME_FIELD] },
    idpStep,
    samlMappingStep(),
  ],
  presets: [
    {
      key: "saml",
      label: "SAML 2.0",
      summary: "Any SAML 2.0 identity provider (ADFS, PingFederate, JumpCloud, …).",
      defaultName: "SSO",
      guide: [
        "Create a SAML 2.0 application (Web Browser SSO) in your IdP.",
        "Save this connection, then paste CoPilot's ACS URL and entity ID (or its metadata URL) into the IdP.",
        "Give CoPilot the IdP's metadata URL (or its XML).",
        "NameID: persistent recommended; map the email from NameID or an attribute.",
      ],
    },
    {
      key: "entra-saml",
      label: "Microsoft Entra ID (SAML)",
      summary: "Entra ID enterprise application with SAML single sign-on.",
      defaultName: "Microsoft",
      guide: [
        "Entra admin center → Enterprise applications → New application → Create your own (non-gallery).",
        "Single sign-on → SAML → Basic SAML Configuration: Identifier (Entity ID) = CoPilot's entity ID, Reply URL (ACS) = CoPilot's ACS URL.",
        "SAML Certificates → copy the App Federation Metadata Url into CoPilot.",
        `Email: the attribute ${ENTRA_EMAIL}.`,
        "Users and groups → assign who may sign in.",
      ],
      defaults: { "mapping.emailField": ENTRA_EMAIL },
      placeholders: {
        samlMetadataUrl:
          "https://login.microsoftonline.com/TENANT_ID/federationmetadata/2007-06/federationmetadata.xml?appid=APP_ID",
      },
      matches: { field: "samlMetadataUrl", contains: "microsoftonline" },
    },
    {
      key: "okta-saml",
      label: "Okta (SAML)",
      summary: "Okta SAML 2.0 app integration.",
      defaultName: "Okta",
      guide: [
        "Okta Admin → Applications → Create App Integration → SAML 2.0.",
        "Single sign-on URL = CoPilot's ACS URL; Audience URI (SP Entity ID) = CoPilot's entity ID.",
        "Attribute statement: email → user.email.",
        "Sign On tab → copy the Metadata URL into CoPilot.",
        "Assign people or groups.",
      ],
      defaults: { "mapping.emailField": "email" },
      placeholders: { samlMetadataUrl: "https://YOUR_OKTA_DOMAIN/app/APP_ID/sso/saml/metadata" },
      matches: { field: "samlMetadataUrl", contains: "okta" },
    },
    {
      key: "google-saml",
      label: "Google Workspace (SAML)",
      summary: "Google Workspace custom SAML app.",
      defaultName: "Google Workspace",
      guide: [
        "Admin console → Apps → Web and mobile apps → Add app → Add custom SAML app.",
        "Download the IdP metadata and paste its XML into CoPilot (Google has no metadata URL).",
        "Service provider details: ACS URL and Entity ID = CoPilot's; Name ID format EMAIL, Name ID = Primary email.",
        "Attribute mapping: Primary email → email.",
        "Turn the app on for the organisational units that may sign in.",
      ],
      defaults: { "mapping.emailField": "email" },
    },
  ],
};

/** The formats a SAML connection asks for in its SP metadata. */
export const SP_NAMEID_FORMATS = [NAMEID_FORMATS.persistent, NAMEID_FORMATS.emailAddress];
