/**
 * "Sign in with Google" with the instance's own Google client (SPEC §2): configured by the
 * operator (GOOGLE_CLIENT_ID / GOOGLE_CLIENT_SECRET), offered on every agency's login page unless
 * the agency hides other login methods — then refused server-side too. It signs in EXISTING users
 * of the host's agency by their verified Google email; it never links a Remote ID (that belongs to
 * the agency's own IdP) and never creates anyone (settle's `instance` origin).
 *
 *   GET /login/google/start[?returnTo=]   → the `google` kind's start (sso/kinds/oidc.ts)
 *   GET /login/google?code&state          → the redirect URI registered at Google for each agency:
 *                                            the same callback as /login/sso (flow-routes.ts)
 */

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { type Agency, agencyOrigin } from "../agencies/agencies.js";
import type { AppContext } from "../context.js";
import { requestOrigin } from "../http/request-context.js";
import { safeReturnTo } from "../shared/return-to.js";
import { otherMethodsHidden, secretAad } from "./connections.js";
import { type CallbackTarget, finishCallback } from "./flow-routes.js";
import { DEFAULT_SCOPES } from "./kinds/fields.js";
import { KINDS } from "./kinds/index.js";
import type { ConnectionRow, FlowPurpose } from "./kinds/kind.js";
import { NO_SAML_COLUMNS } from "./kinds/saml.js";
import { SsoStepError } from "./oidc.js";
import { type Attempt, failSignIn } from "./settle.js";
import type { StatePayload } from "./state.js";

export const GOOGLE_INSTANCE_ID = "google-instance";

/** The instance client as a connection row, so the `google` kind serves it unchanged. */
function instanceConnection(ctx: AppContext, request: FastifyRequest, agency: Agency): ConnectionRow {
  const port = /:(\d+)$/.exec(request.host)?.[1] ?? "";
  const origin = agencyOrigin(agency.domain ?? request.hostname, { protocol: `${request.protocol}:`, port });
  const now = new Date(0);
  return {
    id: GOOGLE_INSTANCE_ID,
    agency_id: agency.id,
    type: "google",
    name: "Google",
    client_id: ctx.config.googleClientId,
    client_secret_enc: ctx.secretBox.encrypt(
      ctx.config.googleClientSecret ?? "",
      secretAad(GOOGLE_INSTANCE_ID),
    ),
    discovery_url: ctx.config.googleDiscoveryUrl,
    issuer: null,
    authorization_endpoint: null,
    token_endpoint: null,
    userinfo_endpoint: null,
    jwks_uri: null,
    scopes: DEFAULT_SCOPES,
    redirect_url: `${origin}/login/google`,
    token_endpoint_auth_method: "client_secret_basic",
    mapping: KINDS.google.defaultMapping,
    azure_tenant_id: null,
    google_hosted_domain: null,
    team_domain: null,
    audience: null,
    groups_field: null,
    allowed_groups: [],
    ...NO_SAML_COLUMNS,
    enabled: true,
    config_version: 1,
    created_at: now,
    updated_at: now,
  };
}

/** The agency Google sign-in is available to on this host right now, or why it is not. */
function availability(ctx: AppContext, agency: Agency | null): { agency: Agency } | { why: string } {
  if (!ctx.config.googleClientId) return { why: "Google sign-in is not configured on this instance" };
  if (!agency) return { why: "no agency is configured for this host" };
  if (otherMethodsHidden(agency))
    return { why: "the agency hides other login methods: Google sign-in is refused" };
  return { agency };
}

function instanceAttempt(
  ctx: AppContext,
  request: FastifyRequest,
  agency: Agency,
  flow: FlowPurpose,
  startedAt: Date,
): Attempt {
  const row = instanceConnection(ctx, request, agency);
  return { agency, connection: row, kind: KINDS.google, flow, startedAt, origin: "instance" };
}

export function googleInstanceRoutes(ctx: AppContext) {
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      "/login/google/start",
      {
        schema: {
          tags: ["auth"],
          summary: "Sign in with Google (the instance's own client): redirects to Google",
          querystring: Type.Object({ returnTo: Type.Optional(Type.String({ maxLength: 2048 })) }),
          response: { 302: Type.Null() },
        },
      },
      async (request, reply) => {
        const available = availability(ctx, request.agency);
        const fail = (step: "connection" | SsoStepError["step"], cause: string) =>
          failSignIn(ctx, request, reply, {
            agencyId: request.agency?.id ?? null,
            connectionId: null,
            method: "google",
            failure: { code: "sso_failed", step, cause },
          });
        if ("why" in available) return fail("connection", available.why);
        const flow: FlowPurpose = {
          purpose: "login",
          returnTo: safeReturnTo(request.query.returnTo, requestOrigin(request)),
        };
        const attempt = instanceAttempt(ctx, request, available.agency, flow, ctx.now());
        try {
          return reply.redirect(
            await attempt.kind.start(ctx, { request, reply, row: attempt.connection, flow }),
            302,
          );
        } catch (err) {
          const e = err instanceof SsoStepError ? err : new SsoStepError("authorize", String(err));
          return fail(e.step, e.cause);
        }
      },
    );

    app.get(
      "/login/google",
      {
        schema: {
          tags: ["auth"],
          summary: "Google's redirect back after Sign in with Google",
          querystring: Type.Object(
            { state: Type.Optional(Type.String({ maxLength: 8192 })) },
            { additionalProperties: true },
          ),
          response: { 302: Type.Null() },
        },
      },
      async (request, reply) =>
        finishCallback(ctx, request, reply, "google", request.query.state, async (state: StatePayload) => {
          const fail = (step: "state" | "connection", cause: string): CallbackTarget => ({
            ok: false,
            agencyId: request.agency?.id ?? null,
            connectionId: null,
            failure: { code: "sso_failed", step, cause },
          });
          if (state.connectionId !== GOOGLE_INSTANCE_ID || state.purpose !== "login") {
            return fail("state", "state refused: not a Google sign-in");
          }
          const available = availability(ctx, request.agency);
          if ("why" in available) return fail("connection", available.why);
          const flow: FlowPurpose = { purpose: "login", returnTo: state.returnTo ?? null };
          return {
            ok: true,
            attempt: instanceAttempt(ctx, request, available.agency, flow, new Date(state.issuedAt)),
          };
        }),
    );
  };
}
