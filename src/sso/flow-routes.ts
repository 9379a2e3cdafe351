/**
 * The OIDC sign-in flow over HTTP (SPEC §4):
 *   GET /login/sso/start?connection=&returnTo=   → 302 to the IdP (PKCE, nonce, signed state)
 *   GET /login/sso?code&state[&iss]               → the callback: code → verified claims → finishSso
 * Nothing about a flow is stored on the server: the state carries it, sealed and signed, and a
 * short-lived cookie binds it to the browser that started it (a fresh server-issued value per
 * start, consumed by its callback, so a state is usable once per browser: sso/binding.ts).
 */

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Selectable } from "kysely";
import type { Agency } from "../agencies/agencies.js";
import { audit } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import type { SsoConnectionsTable } from "../db/schema.js";
import { inTransaction } from "../db/transaction.js";
import { requestOrigin } from "../http/request-context.js";
import { safeReturnTo } from "../shared/return-to.js";
import { browserBindings, consumeBrowserBinding, startBrowserBinding } from "./binding.js";
import { agencyConnections, ssoLive } from "./connections.js";
import { failSignIn, finishSso, type SsoFailure } from "./finish.js";
import { authorizationUrl, callbackClaims, newFlowSecrets, providerFor, SsoStepError } from "./oidc.js";
import { mappedClaims } from "./resolve-user.js";
import { createState, type StatePayload, verifyState } from "./state.js";
import { finishTest } from "./tests.js";
import { redactUrl } from "./trace-redact.js";
import { causeWithIdpError, recordTrace, type TraceMessage } from "./traces.js";

type ConnectionRow = Selectable<SsoConnectionsTable>;

/** Builds the IdP redirect for a login or a test (the test route of the admin API uses it too). */
export async function startOidcFlow(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  row: ConnectionRow,
  purpose: { purpose: "login"; returnTo?: string } | { purpose: "test"; testId: string },
): Promise<URL> {
  const provider = await providerFor(ctx, row);
  const { nonce, codeVerifier } = newFlowSecrets();
  const state = createState(
    ctx.stateKeys,
    {
      connectionId: row.id,
      nonce,
      codeVerifier,
      browserBinding: startBrowserBinding(ctx, request, reply),
      ...purpose,
    },
    ctx.now().getTime(),
  );
  return authorizationUrl(provider, row, { state, nonce, codeVerifier });
}

/** The connection `id` of this agency (none for another agency's id). */
async function connectionById(ctx: AppContext, agency: Agency | null, id: string) {
  return agency ? (await agencyConnections(ctx, agency.id)).find((r) => r.id === id) : undefined;
}

export function flowRoutes(ctx: AppContext) {
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.get(
      "/login/sso/start",
      {
        schema: {
          tags: ["sso"],
          summary: "Start an SSO sign-in: redirects to the identity provider",
          querystring: Type.Object({
            connection: Type.String({ maxLength: 64 }),
            returnTo: Type.Optional(Type.String({ maxLength: 2048 })),
          }),
          response: { 302: Type.Null() },
        },
      },
      async (request, reply) => {
        const { connection, returnTo } = request.query;
        const agency = request.agency;
        const fail = (cause: string, step: SsoFailure["step"] = "connection") =>
          failSignIn(ctx, request, reply, {
            agencyId: agency?.id ?? null,
            connectionId: null,
            method: "sso",
            failure: { code: "sso_failed", step, cause },
          });
        if (!agency) return fail("no agency is configured for this host");
        const row = await connectionById(ctx, agency, connection);
        // A connection signs people into its own agency only, and only while enabled.
        if (!row || row.agency_id !== agency.id) return fail("the connection does not belong to this agency");
        if (row.type === "cloudflare-access") return reply.redirect("/login/sso/cloudflare", 302);
        if (!row.enabled || !ssoLive(agency)) return fail("the connection or SSO is not enabled");
        const target = safeReturnTo(returnTo, requestOrigin(request));
        try {
          const url = await startOidcFlow(ctx, request, reply, row, {
            purpose: "login",
            ...(target ? { returnTo: target } : {}),
          });
          return reply.redirect(url.toString(), 302);
        } catch (err) {
          const e = err instanceof SsoStepError ? err : new SsoStepError("authorize", String(err));
          return failSignIn(ctx, request, reply, {
            agencyId: agency.id,
            connectionId: row.id,
            method: "sso",
            failure: { code: "sso_failed", step: e.step, cause: e.cause, idpError: e.idpError },
          });
        }
      },
    );

    app.get(
      "/login/sso",
      {
        schema: {
          tags: ["sso"],
          summary: "The redirect URL: the identity provider sends the browser back here",
          querystring: Type.Object(
            {
              code: Type.Optional(Type.String({ maxLength: 4096 })),
              state: Type.Optional(Type.String({ maxLength: 8192 })),
              iss: Type.Optional(Type.String({ maxLength: 2048 })),
              error: Type.Optional(Type.String({ maxLength: 256 })),
              error_description: Type.Optional(Type.String({ maxLength: 2048 })),
            },
            { additionalProperties: true },
          ),
          response: { 302: Type.Null() },
        },
      },
      async (request, reply) => {
        const { query } = request;
        const agency = request.agency;
        const rawQuery = request.url.includes("?") ? request.url.slice(request.url.indexOf("?") + 1) : "";

        const verified = query.state
          ? verifyState(
              ctx.stateKeys,
              query.state,
              { browserBinding: browserBindings(ctx, request) },
              ctx.now().getTime(),
            )
          : ({ ok: false, reason: "malformed" } as const);
        // Usable once per browser: the state's binding value is used up (other flows keep theirs).
        if (verified.ok) consumeBrowserBinding(ctx, request, reply, verified.browserBinding);

        const fail = (
          failure: SsoFailure,
          connectionId: string | null,
          trace?: { startedAt: Date; messages: TraceMessage[] },
        ) =>
          failSignIn(ctx, request, reply, {
            agencyId: agency?.id ?? null,
            connectionId,
            method: "sso",
            failure,
            ...(trace ? { trace } : {}),
          });
        // The callback as the trace shows it: parameter names, and the values of iss / error only.
        const messages: TraceMessage[] = [
          {
            name: "callback",
            at: ctx.now().toISOString(),
            data: redactUrl(`${requestOrigin(request)}${request.url}`, "callback"),
          },
        ];

        if (!verified.ok) {
          return fail(
            {
              code: "sso_failed",
              step: "state",
              cause: query.state ? `state refused: ${verified.reason}` : "no state in the callback",
            },
            null,
          );
        }
        const state: StatePayload = verified.payload;
        const startedAt = new Date(state.issuedAt);
        const row = await connectionById(ctx, agency, state.connectionId);
        if (!agency || !row || row.agency_id !== agency.id) {
          return fail(
            {
              code: "sso_failed",
              step: "connection",
              cause: "the state's connection does not belong to this host's agency",
            },
            row?.id ?? null,
          );
        }
        const isTest = state.purpose === "test";
        if (!isTest && (!row.enabled || !ssoLive(agency))) {
          return fail(
            {
              code: "sso_failed",
              step: "connection",
              cause: "the connection or SSO was disabled during the sign-in",
            },
            row.id,
            { startedAt, messages },
          );
        }

        let claims: Record<string, unknown>;
        try {
          const checks = {
            state: query.state!,
            nonce: state.nonce,
            codeVerifier: state.codeVerifier,
            flowStartedAt: state.issuedAt,
          };
          claims = await callbackClaims(ctx, row, rawQuery, checks, mappedClaims(row.mapping), state.purpose);
        } catch (err) {
          const e =
            err instanceof SsoStepError
              ? err
              : new SsoStepError("token", err instanceof Error ? err.message : String(err));
          if (isTest) {
            await inTransaction(ctx, async (tx) => {
              await finishTest(tx, state.testId!, {
                passed: false,
                errorCode: "sso_failed",
                diagnostic: { step: e.step, idpError: e.idpError, claimNames: [], detail: e.cause },
              });
              await failSignInAuditOnly(tx, request, agency.id, row.id, e);
              await recordTrace(tx.db, tx.now(), {
                agencyId: agency.id,
                connectionId: row.id,
                kind: row.type,
                purpose: "test",
                testId: state.testId ?? null,
                outcome: "failure",
                step: e.step,
                code: "sso_failed",
                cause: causeWithIdpError(e.cause, e.idpError),
                claimNames: [],
                userId: null,
                messages,
                startedAt,
              });
            });
            return reply.redirect(`/settings/sso?test=${encodeURIComponent(state.testId!)}`, 302);
          }
          return fail({ code: "sso_failed", step: e.step, cause: e.cause, idpError: e.idpError }, row.id, {
            startedAt,
            messages,
          });
        }
        return finishSso(ctx, request, reply, {
          agency,
          connection: row,
          claims,
          method: "sso",
          purpose: state.purpose,
          testId: state.testId ?? null,
          returnTo: state.returnTo ?? null,
          startedAt,
          messages,
        });
      },
    );
  };
}

async function failSignInAuditOnly(
  ctx: AppContext,
  request: FastifyRequest,
  agencyId: string,
  connectionId: string,
  e: SsoStepError,
) {
  await audit(ctx.db, {
    agencyId,
    action: "sso.test",
    outcome: "failure",
    actor: { type: "anonymous" },
    target: { type: "sso_connection", id: connectionId },
    ip: request.ip,
    details: { step: e.step, cause: e.cause, ...(e.idpError ? { idpError: e.idpError } : {}) },
  });
}
