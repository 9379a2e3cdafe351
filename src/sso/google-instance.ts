/**
 * "Sign in with Google" with the instance's own Google client (SPEC §2): configured by the
 * operator (GOOGLE_CLIENT_ID / GOOGLE_CLIENT_SECRET), offered on every agency's login page unless
 * the agency hides other login methods — then refused server-side too. It signs in EXISTING users
 * of the host's agency by their verified Google email; it never links a Remote ID (that belongs to
 * the agency's own IdP) and never creates anyone.
 *
 *   GET /login/google/start[?returnTo=]   → 302 to Google (same protocol steps as oidc.ts)
 *   GET /login/google?code&state          → the redirect URI registered at Google for each agency
 */

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Selectable } from "kysely";
import { type Agency, agencyOrigin } from "../agencies/agencies.js";
import type { AppContext } from "../context.js";
import type { SsoConnectionsTable } from "../db/schema.js";
import { requestOrigin } from "../http/request-context.js";
import { completeSignIn } from "../sessions/sign-in.js";
import { safeReturnTo } from "../shared/return-to.js";
import { findUserByEmail } from "../users/users.js";
import { browserBindings, consumeBrowserBinding, startBrowserBinding } from "./binding.js";
import { DEFAULT_MAPPINGS, DEFAULT_SCOPES, otherMethodsHidden, secretAad } from "./connections.js";
import { failSignIn, type SsoFailure, sendFailure } from "./finish.js";
import { authorizationUrl, callbackClaims, newFlowSecrets, providerFor, SsoStepError } from "./oidc.js";
import { isEmailVerified } from "./resolve-user.js";
import { createState, verifyState } from "./state.js";

export const GOOGLE_INSTANCE_ID = "google-instance";

/** The instance client as a connection row, so the OIDC protocol steps serve it unchanged. */
function instanceConnection(
  ctx: AppContext,
  request: FastifyRequest,
  agency: Agency,
): Selectable<SsoConnectionsTable> {
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
    mapping: DEFAULT_MAPPINGS.google,
    azure_tenant_id: null,
    google_hosted_domain: null,
    team_domain: null,
    audience: null,
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

export function googleInstanceRoutes(ctx: AppContext) {
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    const fail = (request: FastifyRequest, reply: FastifyReply, failure: SsoFailure) =>
      failSignIn(ctx, request, reply, {
        agencyId: request.agency?.id ?? null,
        connectionId: null,
        method: "google",
        failure,
      });

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
        if ("why" in available)
          return fail(request, reply, { code: "sso_failed", step: "connection", cause: available.why });
        const row = instanceConnection(ctx, request, available.agency);
        const returnTo = safeReturnTo(request.query.returnTo, requestOrigin(request));
        try {
          const provider = await providerFor(ctx, row);
          const { nonce, codeVerifier } = newFlowSecrets();
          const state = createState(
            ctx.stateKeys,
            {
              connectionId: GOOGLE_INSTANCE_ID,
              purpose: "login",
              nonce,
              codeVerifier,
              browserBinding: startBrowserBinding(ctx, request, reply),
              ...(returnTo ? { returnTo } : {}),
            },
            ctx.now().getTime(),
          );
          return reply.redirect(
            authorizationUrl(provider, row, { state, nonce, codeVerifier }).toString(),
            302,
          );
        } catch (err) {
          const e = err instanceof SsoStepError ? err : new SsoStepError("authorize", String(err));
          return fail(request, reply, { code: "sso_failed", step: e.step, cause: e.cause });
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
      async (request, reply) => {
        const { state: token } = request.query;
        const verified = token
          ? verifyState(
              ctx.stateKeys,
              token,
              { browserBinding: browserBindings(ctx, request) },
              ctx.now().getTime(),
            )
          : ({ ok: false, reason: "malformed" } as const);
        if (verified.ok) consumeBrowserBinding(ctx, request, reply, verified.browserBinding);
        if (!verified.ok || verified.payload.connectionId !== GOOGLE_INSTANCE_ID) {
          return fail(request, reply, {
            code: "sso_failed",
            step: "state",
            cause: `state refused: ${verified.ok ? "not a Google sign-in" : verified.reason}`,
          });
        }
        const available = availability(ctx, request.agency);
        if ("why" in available)
          return fail(request, reply, { code: "sso_failed", step: "connection", cause: available.why });
        const { agency } = available;
        const row = instanceConnection(ctx, request, agency);
        const { nonce, codeVerifier, returnTo, issuedAt } = verified.payload;
        let claims: Record<string, unknown>;
        try {
          const query = request.url.slice(request.url.indexOf("?") + 1);
          const checks = { state: token!, nonce, codeVerifier, flowStartedAt: issuedAt };
          claims = await callbackClaims(ctx, row, query, checks, ["email", "email_verified"], "login");
        } catch (err) {
          const e = err instanceof SsoStepError ? err : new SsoStepError("token", String(err));
          return fail(request, reply, {
            code: "sso_failed",
            step: e.step,
            cause: e.cause,
            idpError: e.idpError,
          });
        }
        const claimNames = Object.keys(claims).sort();
        const email = typeof claims.email === "string" ? claims.email : null;
        if (!email)
          return fail(request, reply, {
            code: "email_or_id_missing",
            step: "mapping",
            cause: "Google gave no email",
            claimNames,
          });
        if (!isEmailVerified(claims.email_verified)) {
          return fail(request, reply, {
            code: "email_not_verified",
            step: "mapping",
            cause: "Google says the email is not verified",
            claimNames,
          });
        }
        const user = await findUserByEmail(ctx.db, agency.id, email);
        if (!user)
          return fail(request, reply, {
            code: "user_not_found",
            step: "resolution",
            cause: `no user with ${email}`,
            claimNames,
          });
        const outcome = await completeSignIn(ctx, request, reply, {
          agency,
          userId: user.id,
          method: "google",
          returnTo: returnTo ?? null,
        });
        if (outcome.kind === "refused") return sendFailure(request, reply, "not_authorized");
        const target = { session: returnTo ?? "/", mfa: "/login/2fa", enroll: "/login/2fa/enroll" }[
          outcome.kind
        ];
        return reply.redirect(target, 302);
      },
    );
  };
}
