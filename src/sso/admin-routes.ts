/**
 * Company Settings → Single Sign-On, as an API for agency admins (SPEC §7, §11): connections,
 * their tests, enabling, the agency's SSO settings and the allowed-emails list.
 */
import { randomUUID } from "node:crypto";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Selectable } from "kysely";
import { type Agency, agencyOrigin, findAgencyById, lockAgency } from "../agencies/agencies.js";
import { auditRequest } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import { type Db, isUniqueViolation } from "../db/database.js";
import type { SsoConnectionsTable } from "../db/schema.js";
import { transaction } from "../db/transaction.js";
import { deleteAgencyRow } from "../http/agency-rows.js";
import { AppError, badRequest, notFound } from "../http/errors.js";
import { noContent } from "../http/replies.js";
import type { Guards } from "../http/request-context.js";
import { ErrorResponse, IdParams, Nullable } from "../http/schemas.js";
import { normalizeEmail } from "../users/users.js";
import {
  assertPrerequisites,
  configChanged,
  connectionSecret,
  getConnectionRow,
  newConnectionId,
  newEndpointHosts,
  prerequisiteProblems,
  rowValues,
  secretAad,
  settleAgencySettings,
} from "./connections.js";
import { attemptOf } from "./flow-routes.js";
import { GroupsOutcomeSchema } from "./groups.js";
import { kindDescriptions, kindOf, normalizeConnection } from "./kinds/index.js";
import { spUrls } from "./kinds/saml.js";
import { KindDescriptionSchema } from "./kinds/wizard.js";
import { ssoMessage } from "./messages.js";
import { forgetProvider, SsoStepError } from "./oidc.js";
import { certificateInfo, expiresSoon } from "./saml/index.js";
import { failTestStart } from "./settle.js";
import {
  createTest,
  expireTests,
  getTest,
  hasPassedTest,
  latestTests,
  listTests,
  type TestView,
} from "./tests.js";
import { causeWithIdpError, recordTrace } from "./traces.js";

type Row = Selectable<SsoConnectionsTable>;

const S = Type.String;
const NS = (max = 2048) => Type.Optional(Nullable(Type.String({ maxLength: max })));

const MappingSchema = Type.Object(
  {
    remoteIdField: Type.Optional(S({ maxLength: 200 })),
    idField: NS(200),
    emailField: NS(200),
    emailVerifiedField: Type.Optional(S({ maxLength: 200 })),
    nameField: NS(200),
  },
  { additionalProperties: false },
);

export const ConnectionInputSchema = Type.Object(
  {
    type: Type.Union([
      Type.Literal("oidc"),
      Type.Literal("azure"),
      Type.Literal("google"),
      Type.Literal("cloudflare-access"),
      Type.Literal("saml"),
    ]),
    name: S({ minLength: 1, maxLength: 100 }),
    clientId: NS(512),
    clientSecret: NS(4096),
    discoveryUrl: NS(),
    issuer: NS(),
    authorizationEndpoint: NS(),
    tokenEndpoint: NS(),
    userinfoEndpoint: NS(),
    jwksUri: NS(),
    scopes: Type.Optional(Nullable(Type.Array(S({ maxLength: 200 }), { maxItems: 50 }))),
    redirectUrl: NS(),
    tokenEndpointAuthMethod: Type.Optional(
      Nullable(Type.Union([Type.Literal("client_secret_basic"), Type.Literal("client_secret_post")])),
    ),
    mapping: Type.Optional(Nullable(MappingSchema)),
    azureTenantId: NS(100),
    googleHostedDomain: NS(253),
    teamDomain: NS(253),
    audience: NS(200),
    groupsField: NS(512),
    allowedGroups: Type.Optional(Nullable(Type.Array(S({ maxLength: 256 }), { maxItems: 100 }))),
    samlMetadataUrl: NS(),
    samlMetadataXml: NS(256 * 1024),
    samlEntityId: NS(1024),
    samlSsoUrl: NS(),
    samlCertificates: Type.Optional(
      Nullable(
        Type.Union([Type.Array(S({ maxLength: 16384 }), { maxItems: 10 }), S({ maxLength: 10 * 16384 })]),
      ),
    ),
    samlSpEntityId: NS(1024),
    samlSignatureRequired: Type.Optional(
      Nullable(
        Type.Union([
          Type.Literal("either"),
          Type.Literal("assertion"),
          Type.Literal("response"),
          Type.Literal("both"),
        ]),
      ),
    ),
    samlAllowSha1: Type.Optional(Nullable(Type.Boolean())),
    samlIdpInitiated: Type.Optional(Nullable(Type.Boolean())),
    samlClockSkewSeconds: Type.Optional(Nullable(Type.Integer())),
    samlEmailTrust: Type.Optional(
      Nullable(Type.Union([Type.Literal("idp"), Type.Literal("verified-domains")])),
    ),
  },
  { additionalProperties: false },
);

/** SPEC §12: what the admin copies into the IdP, and the IdP's certificates with their expiry. */
const SamlViewSchema = Type.Object({
  spEntityId: S(),
  acsUrl: S(),
  spMetadataUrl: S(),
  spCertificate: Nullable(S()),
  spNextCertificate: Nullable(S()),
  idpEntityId: Nullable(S()),
  idpSsoUrl: Nullable(S()),
  wantAuthnRequestsSigned: Type.Boolean(),
  metadataFetchedAt: Nullable(S({ format: "date-time" })),
  certificates: Type.Array(
    Type.Object({
      subject: S(),
      notAfter: S({ format: "date-time" }),
      fingerprintSha256: S(),
      expiresWithin30Days: Type.Boolean(),
    }),
  ),
});

const TestSchema = Type.Object({
  id: S(),
  connectionId: S(),
  status: Type.Union([
    Type.Literal("pending"),
    Type.Literal("passed"),
    Type.Literal("failed"),
    Type.Literal("expired"),
  ]),
  errorCode: Nullable(S()),
  message: Nullable(S()),
  diagnostic: Nullable(
    Type.Object({
      step: S(),
      idpError: Nullable(S()),
      claimNames: Type.Array(S()),
      detail: Type.Optional(S()),
      groups: Type.Optional(GroupsOutcomeSchema),
    }),
  ),
  matchedUserId: Nullable(S()),
  startedBy: Nullable(Type.Object({ id: S(), email: S() })),
  startedAt: S({ format: "date-time" }),
  finishedAt: Nullable(S({ format: "date-time" })),
  /** The connection trace the test left (SPEC §17), once it finished. */
  traceId: Nullable(S()),
});

export const ConnectionSchema = Type.Object({
  id: S(),
  type: S(),
  name: S(),
  clientId: Nullable(S()),
  hasSecret: Type.Boolean(),
  discoveryUrl: Nullable(S()),
  issuer: Nullable(S()),
  authorizationEndpoint: Nullable(S()),
  tokenEndpoint: Nullable(S()),
  userinfoEndpoint: Nullable(S()),
  jwksUri: Nullable(S()),
  scopes: Type.Array(S()),
  redirectUrl: Nullable(S()),
  tokenEndpointAuthMethod: S(),
  mapping: Type.Object({
    remoteIdField: S(),
    idField: Nullable(S()),
    emailField: Nullable(S()),
    emailVerifiedField: S(),
    nameField: Nullable(S()),
  }),
  azureTenantId: Nullable(S()),
  googleHostedDomain: Nullable(S()),
  teamDomain: Nullable(S()),
  audience: Nullable(S()),
  groupsField: Nullable(S()),
  allowedGroups: Type.Array(S()),
  samlMetadataUrl: Nullable(S()),
  samlMetadataXml: Nullable(S()),
  samlEntityId: Nullable(S()),
  samlSsoUrl: Nullable(S()),
  samlCertificates: Nullable(Type.Array(S())),
  samlSpEntityId: Nullable(S()),
  samlSignatureRequired: Nullable(S()),
  samlAllowSha1: Type.Boolean(),
  samlIdpInitiated: Type.Boolean(),
  samlClockSkewSeconds: Nullable(Type.Integer()),
  samlEmailTrust: Nullable(S()),
  saml: Nullable(SamlViewSchema),
  enabled: Type.Boolean(),
  configVersion: Type.Integer(),
  latestTest: Nullable(TestSchema),
  createdAt: S({ format: "date-time" }),
  updatedAt: S({ format: "date-time" }),
});

const SettingsSchema = Type.Object({
  enabled: Type.Boolean(),
  hideOtherLoginMethods: Type.Boolean(),
  provisioning: Type.Union([Type.Literal("existing-users"), Type.Literal("allowlist")]),
});

const AllowedEmailSchema = Type.Object({
  id: S(),
  email: S(),
  role: Type.Union([Type.Literal("admin"), Type.Literal("analyst")]),
  createdAt: S({ format: "date-time" }),
});

const errors = {
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  422: ErrorResponse,
};
const ConnectionEnvelope = Type.Object({ connection: ConnectionSchema, warnings: Type.Array(S()) });

function samlView(row: Row, origin: string, now: Date): Static<typeof SamlViewSchema> | null {
  if (row.type !== "saml") return null;
  const urls = spUrls(origin, row);
  const idp = row.saml_idp;
  return {
    spEntityId: urls.entityId,
    acsUrl: urls.acsUrl,
    spMetadataUrl: urls.metadataUrl,
    spCertificate: row.saml_sp_certificate,
    spNextCertificate: row.saml_sp_next_certificate,
    idpEntityId: idp?.entityId ?? null,
    idpSsoUrl: idp?.ssoUrl ?? null,
    wantAuthnRequestsSigned: idp?.wantAuthnRequestsSigned ?? false,
    metadataFetchedAt: row.saml_metadata_fetched_at?.toISOString() ?? null,
    certificates: (idp?.certificates ?? []).map((pem) => {
      const info = certificateInfo(pem);
      return {
        subject: info.subject,
        notAfter: info.notAfter.toISOString(),
        fingerprintSha256: info.fingerprintSha256,
        expiresWithin30Days: expiresSoon(info, now),
      };
    }),
  };
}

/** The origin of the agency's sign-in pages, as the instance is reached (the SP URLs live there). */
export function agencySignInOrigin(request: FastifyRequest, agency: Agency): string {
  return defaultRedirectUrl(request, agency).replace(/\/login\/sso$/, "");
}

export function connectionApi(
  row: Row,
  latest: TestView | null,
  site?: { origin: string; now: Date },
): Static<typeof ConnectionSchema> {
  return {
    id: row.id,
    type: row.type,
    name: row.name,
    clientId: row.client_id,
    hasSecret: row.client_secret_enc !== null,
    discoveryUrl: row.discovery_url,
    issuer: row.issuer,
    authorizationEndpoint: row.authorization_endpoint,
    tokenEndpoint: row.token_endpoint,
    userinfoEndpoint: row.userinfo_endpoint,
    jwksUri: row.jwks_uri,
    scopes: row.scopes,
    redirectUrl: row.redirect_url,
    tokenEndpointAuthMethod: row.token_endpoint_auth_method,
    mapping: row.mapping,
    azureTenantId: row.azure_tenant_id,
    googleHostedDomain: row.google_hosted_domain,
    teamDomain: row.team_domain,
    audience: row.audience,
    groupsField: row.groups_field,
    allowedGroups: row.allowed_groups,
    samlMetadataUrl: row.saml_metadata_url,
    samlMetadataXml: row.saml_metadata_xml,
    samlEntityId: row.saml_entity_id,
    samlSsoUrl: row.saml_sso_url,
    samlCertificates: row.saml_certificates,
    samlSpEntityId: row.saml_sp_entity_id,
    samlSignatureRequired: row.saml_signature_required,
    samlAllowSha1: row.saml_allow_sha1,
    samlIdpInitiated: row.saml_idp_initiated,
    samlClockSkewSeconds: row.saml_clock_skew_seconds,
    samlEmailTrust: row.saml_email_trust,
    saml: site ? samlView(row, site.origin, site.now) : null,
    enabled: row.enabled,
    configVersion: row.config_version,
    latestTest: latest,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** The redirect URL of SPEC §3: the agency's whitelabel domain, as the instance is reached, + /login/sso. */
export function defaultRedirectUrl(request: FastifyRequest, agency: Agency): string {
  const port = /:(\d+)$/.exec(request.host)?.[1] ?? "";
  return `${agencyOrigin(agency.domain ?? request.hostname, { protocol: `${request.protocol}:`, port })}/login/sso`;
}

function settingsOf(agency: Agency) {
  return {
    enabled: agency.ssoEnabled,
    hideOtherLoginMethods: agency.ssoHideOtherMethods,
    provisioning: agency.ssoProvisioning,
  };
}

/** The stored client secret, or null when there is none or it no longer opens (key removed). */
function storedSecret(ctx: AppContext, row: Row): string | null {
  try {
    return connectionSecret(ctx, row);
  } catch {
    return null;
  }
}

export function ssoAdminRoutes(ctx: AppContext, guards: Guards) {
  const siteOf = (request: FastifyRequest, agency: Agency) => ({
    origin: agencySignInOrigin(request, agency),
    now: ctx.now(),
  });
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook("preHandler", guards.requireAdmin);

    /** The agency as it is now: gone (deleted meanwhile) is a 404, never a crash. */
    const reload = async (db: Db, agencyId: string) => {
      const agency = await findAgencyById(db, agencyId);
      if (!agency) throw notFound("Agency not found");
      return agency;
    };

    app.get(
      "/api/admin/sso",
      {
        schema: {
          tags: ["sso admin"],
          summary: "Prerequisites, settings and connections (with their latest test)",
          response: {
            200: Type.Object({
              prerequisites: Type.Object({ met: Type.Boolean(), reasons: Type.Array(S()) }),
              settings: SettingsSchema,
              connections: Type.Array(ConnectionSchema),
              defaultRedirectUrl: S(),
            }),
            ...errors,
          },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const rows = await ctx.db
          .selectFrom("sso_connections")
          .selectAll()
          .where("agency_id", "=", agency.id)
          .orderBy("created_at")
          .execute();
        const latest = await latestTests(ctx.db, agency.id);
        const reasons = prerequisiteProblems(agency);
        return {
          prerequisites: { met: reasons.length === 0, reasons },
          settings: settingsOf(agency),
          connections: rows.map((r) => connectionApi(r, latest.get(r.id) ?? null, siteOf(request, agency))),
          defaultRedirectUrl: defaultRedirectUrl(request, agency),
        };
      },
    );

    app.get(
      "/api/admin/sso/kinds",
      {
        schema: {
          tags: ["sso admin"],
          summary: "The connection kinds and the setup wizard's description of each",
          response: { 200: Type.Object({ kinds: Type.Array(KindDescriptionSchema) }), ...errors },
        },
      },
      async (request) => {
        await guards.requireAdmin(request);
        return { kinds: kindDescriptions() };
      },
    );

    app.post(
      "/api/admin/sso/connections",
      {
        schema: {
          tags: ["sso admin"],
          summary: "Create a connection",
          body: ConnectionInputSchema,
          response: { 201: ConnectionEnvelope, ...errors },
        },
      },
      async (request, reply) => {
        const { agency } = await guards.requireAdmin(request);
        assertPrerequisites(agency);
        const input = request.body;
        const { value, warnings } = normalizeConnection(input, {
          allowHttp: ctx.config.allowPrivateIdpUrls,
          defaultRedirectUrl: defaultRedirectUrl(request, agency),
        });
        const secret = kindOf(value.type).usesClientSecret ? input.clientSecret : null;
        if (kindOf(value.type).usesClientSecret && !secret)
          throw badRequest("clientSecret is required", "clientSecret");
        const id = newConnectionId();
        const kind = kindOf(value.type);
        const extra = kind.prepare
          ? await kind.prepare(ctx, { connectionId: id, value, existing: null })
          : {};
        const row = await transaction(ctx.db, async (tx) => {
          const created = await tx
            .insertInto("sso_connections")
            .values({
              id,
              agency_id: agency.id,
              ...rowValues(value),
              ...extra,
              client_secret_enc: secret ? ctx.secretBox.encrypt(secret, secretAad(id)) : null,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          await auditRequest(tx, request, {
            action: "sso.connection.create",
            target: { type: "sso_connection", id },
            details: { type: value.type, name: value.name },
          });
          return created;
        });
        return reply
          .status(201)
          .send({ connection: connectionApi(row, null, siteOf(request, agency)), warnings });
      },
    );

    app.get(
      "/api/admin/sso/connections/:id",
      {
        schema: {
          tags: ["sso admin"],
          summary: "Get a connection",
          params: IdParams,
          response: { 200: ConnectionEnvelope, ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const row = await getConnectionRow(ctx.db, agency.id, request.params.id);
        const tests = await listTests(ctx.db, agency.id, row.id);
        return { connection: connectionApi(row, tests[0] ?? null, siteOf(request, agency)), warnings: [] };
      },
    );

    app.put(
      "/api/admin/sso/connections/:id",
      {
        schema: {
          tags: ["sso admin"],
          summary:
            "Edit a connection (a change expires its tests and disables it); a missing clientSecret keeps the stored one, unless an endpoint moves to another host (422 naming clientSecret)",
          params: IdParams,
          body: ConnectionInputSchema,
          response: { 200: ConnectionEnvelope, ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const id = request.params.id;
        const found = await getConnectionRow(ctx.db, agency.id, id);
        const input = request.body;
        if (input.type !== found.type)
          throw badRequest("type cannot change: create a new connection instead", "type");
        const { value, warnings } = normalizeConnection(input, {
          allowHttp: ctx.config.allowPrivateIdpUrls,
          defaultRedirectUrl: defaultRedirectUrl(request, agency),
        });
        // What the kind stores besides the configuration (SAML: the fetched metadata), made before
        // the transaction (a fetch never runs under the agency's lock).
        const kind = kindOf(found.type);
        const extra =
          kind.prepare && configChanged(found, value)
            ? await kind.prepare(ctx, { connectionId: id, value, existing: found })
            : {};
        // Compared and written under the agency's lock, on the row as it is now: a concurrent
        // edit, enable or settings change is either wholly before this one or wholly after.
        const { row, updated } = await transaction(ctx.db, async (tx) => {
          await lockAgency(tx, agency.id);
          const row = await getConnectionRow(tx, agency.id, id);
          // The stored secret never follows the configuration to a new host: it is entered again.
          const newHosts = newEndpointHosts(row, value);
          if (!input.clientSecret && row.client_secret_enc !== null && newHosts.length > 0) {
            throw badRequest(
              `clientSecret is required: the connection now points at ${newHosts.join(", ")}, and the stored client secret is only sent to the hosts it was entered for. Enter the client secret again.`,
              "clientSecret",
            );
          }
          // Re-sending the stored secret is no change (the wizard may send what the admin re-typed).
          const newSecret =
            input.clientSecret && input.clientSecret !== storedSecret(ctx, row) ? input.clientSecret : null;
          const secretChanged = newSecret !== null;
          if (!configChanged(row, value) && !secretChanged) return { row, updated: null };
          const r = await tx
            .updateTable("sso_connections")
            .set({
              ...rowValues(value),
              ...extra,
              ...(newSecret
                ? { client_secret_enc: ctx.secretBox.encrypt(newSecret, secretAad(row.id)) }
                : {}),
              enabled: false,
              config_version: row.config_version + 1,
              updated_at: new Date(),
            })
            .where("id", "=", row.id)
            .returningAll()
            .executeTakeFirstOrThrow();
          await expireTests(tx, row.id);
          await settleAgencySettings(tx, agency.id);
          await auditRequest(tx, request, {
            action: "sso.connection.update",
            target: { type: "sso_connection", id: row.id },
            details: {
              configVersion: r.config_version,
              secretChanged,
              testsExpired: true,
              disabled: row.enabled,
            },
          });
          return { row, updated: r };
        });
        if (updated) forgetProvider(ctx, row.id);
        const tests = await listTests(ctx.db, agency.id, row.id);
        return {
          connection: connectionApi(updated ?? row, tests[0] ?? null, siteOf(request, agency)),
          warnings,
        };
      },
    );

    app.delete(
      "/api/admin/sso/connections/:id",
      {
        schema: {
          tags: ["sso admin"],
          summary: "Delete a connection",
          params: IdParams,
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (request, reply) => {
        const { agency } = await guards.requireAdmin(request);
        const row = await getConnectionRow(ctx.db, agency.id, request.params.id);
        await transaction(ctx.db, async (tx) => {
          await lockAgency(tx, agency.id);
          await tx.deleteFrom("sso_connections").where("id", "=", row.id).execute();
          const reset = await settleAgencySettings(tx, agency.id);
          await auditRequest(tx, request, {
            action: "sso.connection.delete",
            target: { type: "sso_connection", id: row.id },
            details: { name: row.name, type: row.type, settingsReset: reset },
          });
        });
        forgetProvider(ctx, row.id);
        noContent(reply);
      },
    );

    app.post(
      "/api/admin/sso/connections/:id/tests",
      {
        schema: {
          tags: ["sso admin"],
          summary: "Start a test: sign in at the IdP with the returned URL",
          params: IdParams,
          response: {
            201: Type.Object({ test: TestSchema, authorizationUrl: S() }),
            ...errors,
            // The failed test is recorded: its id leads to the diagnostic (SPEC §7).
            502: Type.Object({
              error: Type.Object({ code: S(), message: S(), testId: S() }),
            }),
          },
        },
      },
      async (request, reply) => {
        const { agency, user } = await guards.requireAdmin(request);
        assertPrerequisites(agency);
        const row = await getConnectionRow(ctx.db, agency.id, request.params.id);
        const testId = await createTest(ctx.db, {
          connectionId: row.id,
          agencyId: agency.id,
          configVersion: row.config_version,
          startedBy: user.id,
        });
        const flow = { purpose: "test", testId } as const;
        const attempt = attemptOf(agency, row, flow, ctx.now());
        let authorizationUrl: string;
        try {
          authorizationUrl = await attempt.kind.start(ctx, { request, reply, row, flow });
        } catch (err) {
          const e =
            err instanceof SsoStepError
              ? err
              : new SsoStepError("authorize", err instanceof Error ? err.message : String(err));
          await failTestStart(ctx, request, attempt, testId, {
            step: e.step,
            cause: e.cause,
            idpError: e.idpError,
          });
          throw new AppError(502, "test_start_failed", ssoMessage("test_start_failed"), undefined, {
            body: { testId },
          });
        }
        await auditRequest(ctx.db, request, {
          action: "sso.test.start",
          target: { type: "sso_connection", id: row.id },
          details: { testId, configVersion: row.config_version },
        });
        const test = await getTest(ctx.db, agency.id, testId);
        if (!test) throw notFound("SSO test not found");
        return reply.status(201).send({ test, authorizationUrl });
      },
    );

    app.get(
      "/api/admin/sso/connections/:id/tests",
      {
        schema: {
          tags: ["sso admin"],
          summary: "The connection's tests, newest first",
          params: IdParams,
          response: { 200: Type.Object({ tests: Type.Array(TestSchema) }), ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const row = await getConnectionRow(ctx.db, agency.id, request.params.id);
        return { tests: await listTests(ctx.db, agency.id, row.id) };
      },
    );

    app.get(
      "/api/admin/sso/tests/:id",
      {
        schema: {
          tags: ["sso admin"],
          summary: "One test",
          params: IdParams,
          response: { 200: Type.Object({ test: TestSchema }), ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const test = await getTest(ctx.db, agency.id, request.params.id);
        if (!test) throw notFound("Test not found");
        return { test };
      },
    );

    app.put(
      "/api/admin/sso/connections/:id/enabled",
      {
        schema: {
          tags: ["sso admin"],
          summary:
            "Enable or disable a connection (enabling needs a passed test of its current configuration)",
          params: IdParams,
          body: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }),
          response: { 200: ConnectionEnvelope, ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const id = request.params.id;
        await getConnectionRow(ctx.db, agency.id, id);
        const { enabled } = request.body;
        if (enabled) assertPrerequisites(agency);
        // Checked and written under the agency's lock: an edit that expires the tests, or a
        // settings change that needs a live connection, is wholly before this or wholly after.
        const updated = await transaction(ctx.db, async (tx) => {
          await lockAgency(tx, agency.id);
          const row = await getConnectionRow(tx, agency.id, id);
          if (enabled && !(await hasPassedTest(tx, row.id, row.config_version))) {
            throw new AppError(
              409,
              "test_required",
              "Run a successful test of this configuration before enabling SSO.",
              "enabled",
            );
          }
          const r = await tx
            .updateTable("sso_connections")
            .set({ enabled, updated_at: new Date() })
            .where("id", "=", row.id)
            .returningAll()
            .executeTakeFirstOrThrow();
          if (!enabled) await settleAgencySettings(tx, agency.id);
          if (enabled !== row.enabled) {
            await auditRequest(tx, request, {
              action: enabled ? "sso.connection.enable" : "sso.connection.disable",
              target: { type: "sso_connection", id: row.id },
            });
          }
          return r;
        });
        const tests = await listTests(ctx.db, agency.id, updated.id);
        return {
          connection: connectionApi(updated, tests[0] ?? null, siteOf(request, agency)),
          warnings: [],
        };
      },
    );

    app.put(
      "/api/admin/sso/settings",
      {
        schema: {
          tags: ["sso admin"],
          summary: "Enable SSO, hide other login methods, choose the provisioning policy",
          body: Type.Object(
            {
              enabled: Type.Optional(Type.Boolean()),
              hideOtherLoginMethods: Type.Optional(Type.Boolean()),
              provisioning: Type.Optional(
                Type.Union([Type.Literal("existing-users"), Type.Literal("allowlist")]),
              ),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ settings: SettingsSchema }), ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const body = request.body;
        // The check (a live connection) and the write commit together under the agency's lock,
        // which a connection's disable, edit or delete takes too: neither can slip between them and
        // leave SSO (or Hide other login methods) on with no enabled connection.
        const after = await transaction(ctx.db, async (tx) => {
          const current = (await lockAgency(tx, agency.id)) ?? agency;
          const enabled = body.enabled ?? current.ssoEnabled;
          const hide = body.hideOtherLoginMethods ?? (enabled ? current.ssoHideOtherMethods : false);
          if (enabled) {
            assertPrerequisites(current);
            const live = await tx
              .selectFrom("sso_connections")
              .select("id")
              .where("agency_id", "=", agency.id)
              .where("enabled", "=", true)
              .limit(1)
              .execute();
            if (live.length === 0) {
              throw new AppError(
                409,
                "no_enabled_connection",
                "Enable a connection with a passed test before enabling SSO.",
                "enabled",
              );
            }
          }
          if (hide && !enabled) {
            throw new AppError(
              409,
              "sso_disabled",
              "Hide other login methods only works while SSO is enabled.",
              "hideOtherLoginMethods",
            );
          }
          await tx
            .updateTable("agencies")
            .set({
              sso_enabled: enabled,
              sso_hide_other_methods: hide,
              ...(body.provisioning ? { sso_provisioning: body.provisioning } : {}),
              updated_at: new Date(),
            })
            .where("id", "=", agency.id)
            .execute();
          const changed = await reload(tx, agency.id);
          await auditRequest(tx, request, {
            action: "sso.settings.update",
            target: { type: "agency", id: agency.id },
            details: { before: settingsOf(current), after: settingsOf(changed) },
          });
          return changed;
        });
        return { settings: settingsOf(after) };
      },
    );

    app.get(
      "/api/admin/sso/allowed-emails",
      {
        schema: {
          tags: ["sso admin"],
          summary: "The SSO allowed emails list",
          response: { 200: Type.Object({ allowedEmails: Type.Array(AllowedEmailSchema) }), ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const rows = await ctx.db
          .selectFrom("sso_allowed_emails")
          .select(["id", "email", "role", "created_at"])
          .where("agency_id", "=", agency.id)
          .orderBy("created_at", "desc")
          .execute();
        return {
          allowedEmails: rows.map((r) => ({
            id: r.id,
            email: r.email,
            role: r.role,
            createdAt: r.created_at.toISOString(),
          })),
        };
      },
    );

    app.post(
      "/api/admin/sso/allowed-emails",
      {
        schema: {
          tags: ["sso admin"],
          summary: "Add an email to the allowed list",
          body: Type.Object(
            {
              email: S({ maxLength: 320 }),
              role: Type.Optional(Type.Union([Type.Literal("admin"), Type.Literal("analyst")])),
            },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ allowedEmail: AllowedEmailSchema }), ...errors },
        },
      },
      async (request, reply) => {
        const { agency, user } = await guards.requireAdmin(request);
        const body = request.body;
        const email = normalizeEmail(body.email);
        const role = body.role ?? "analyst";
        const id = randomUUID();
        try {
          const row = await transaction(ctx.db, async (tx) => {
            const added = await tx
              .insertInto("sso_allowed_emails")
              .values({ id, agency_id: agency.id, email, role, created_by: user.id })
              .returning(["id", "email", "role", "created_at"])
              .executeTakeFirstOrThrow();
            await auditRequest(tx, request, {
              action: "sso.allowed_email.add",
              target: { type: "allowed_email", id },
              details: { email, role },
            });
            return added;
          });
          return reply.status(201).send({
            allowedEmail: {
              id: row.id,
              email: row.email,
              role: row.role,
              createdAt: row.created_at.toISOString(),
            },
          });
        } catch (err) {
          if (isUniqueViolation(err))
            throw new AppError(409, "email_taken", "This email is already on the allowed list", "email");
          throw err;
        }
      },
    );

    app.delete(
      "/api/admin/sso/allowed-emails/:id",
      {
        schema: {
          tags: ["sso admin"],
          summary: "Remove an email from the allowed list",
          params: IdParams,
          response: { 204: Type.Null(), ...errors },
        },
      },
      deleteAgencyRow(ctx, guards, {
        table: "sso_allowed_emails",
        notFound: "Allowed email not found",
        action: "sso.allowed_email.remove",
        targetType: "allowed_email",
        details: (row) => ({ email: row.email }),
      }),
    );
  };
}
