/**
 * The SSO flows over HTTP (SPEC §4), for every kind whose flow is a redirect to the IdP:
 *   GET /login/sso/start?connection=&returnTo=   → the kind's start (an OIDC authorization request
 *                                                  with PKCE, nonce and the signed state; Cloudflare
 *                                                  Access: the page behind Access)
 *   GET /login/sso?code&state[&iss]               → the callback: state → the kind's completion →
 *                                                  settle (sso/settle.ts)
 * The instance's Google sign-in (sso/google-instance.ts) goes through the same start (its kind's)
 * and the same `finishCallback`, with a connection of its own.
 * Nothing about a flow is stored on the server: the state carries it, sealed and signed, and a
 * short-lived cookie binds it to the browser that started it (a fresh server-issued value per
 * start, consumed by its callback, so a state is usable once per browser: sso/binding.ts).
 */

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Agency } from "../agencies/agencies.js";
import type { AppContext } from "../context.js";
import { requestOrigin } from "../http/request-context.js";
import { safeReturnTo } from "../shared/return-to.js";
import { browserBindings, consumeBrowserBinding } from "./binding.js";
import { agencyConnections, ssoLive } from "./connections.js";
import { kindOf } from "./kinds/index.js";
import type { ConnectionRow, FlowPurpose } from "./kinds/kind.js";
import { SsoStepError } from "./oidc.js";
import {
  type Attempt,
  failSignIn,
  type SignInMethod,
  type SsoFailure,
  settle,
  wantedClaims,
} from "./settle.js";
import { type StatePayload, verifyState } from "./state.js";

/** The connection `id` of this agency (none for another agency's id). */
async function connectionById(ctx: AppContext, agency: Agency | null, id: string) {
  return agency ? (await agencyConnections(ctx, agency.id)).find((r) => r.id === id) : undefined;
}

/** What a callback's state leads to: the attempt it finishes, or why it finishes none. */
export type CallbackTarget =
  | { ok: true; attempt: Attempt }
  | { ok: false; agencyId: string | null; connectionId: string | null; failure: SsoFailure };

/**
 * A callback of any redirect kind (SPEC §4 step 3): the state (signature, age, this browser's
 * binding, then used up), the attempt it belongs to (`target`), the kind's completion, settle.
 */
export async function finishCallback(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  method: SignInMethod,
  stateToken: string | undefined,
  target: (state: StatePayload) => Promise<CallbackTarget>,
  /** What else is known of a flow whose state is refused (SAML: the ACS's refusal), for the audit. */
  refusedAlso?: { cause: string; details: Record<string, string | boolean> },
) {
  const verified = stateToken
    ? verifyState(
        ctx.stateKeys,
        stateToken,
        { browserBinding: browserBindings(ctx, request) },
        ctx.now().getTime(),
      )
    : ({ ok: false, reason: "malformed" } as const);
  // Usable once per browser: the state's binding value is used up (other flows keep theirs).
  if (verified.ok) consumeBrowserBinding(ctx, request, reply, verified.browserBinding);
  if (!verified.ok || stateToken === undefined) {
    return failSignIn(ctx, request, reply, {
      agencyId: request.agency?.id ?? null,
      connectionId: null,
      method,
      failure: {
        code: "sso_failed",
        step: "state",
        cause:
          (stateToken
            ? `state refused: ${verified.ok ? "malformed" : verified.reason}`
            : "no state in the callback") + (refusedAlso ? `; ${refusedAlso.cause}` : ""),
        ...(refusedAlso ? { details: refusedAlso.details } : {}),
      },
    });
  }
  const state = verified.payload;
  const found = await target(state);
  if (!found.ok) {
    return failSignIn(ctx, request, reply, {
      agencyId: found.agencyId,
      connectionId: found.connectionId,
      method,
      failure: found.failure,
    });
  }
  const { attempt } = found;
  const completion = await attempt.kind.complete(ctx, {
    request,
    row: attempt.connection,
    flow: attempt.flow,
    state: {
      token: stateToken,
      nonce: state.nonce,
      codeVerifier: state.codeVerifier,
      issuedAt: state.issuedAt,
    },
    wanted: wantedClaims(attempt),
  });
  return settle(ctx, request, reply, attempt, completion);
}

/** The flow a verified state is for. */
export function flowOfState(state: StatePayload): FlowPurpose {
  return state.purpose === "test"
    ? { purpose: "test", testId: state.testId }
    : { purpose: "login", returnTo: state.returnTo ?? null };
}

/** The agency's connection a callback's state names, for this host's agency only. */
export async function agencyTarget(
  ctx: AppContext,
  agency: Agency | null,
  state: StatePayload,
): Promise<CallbackTarget> {
  const row = await connectionById(ctx, agency, state.connectionId);
  if (!agency || !row || row.agency_id !== agency.id) {
    return {
      ok: false,
      agencyId: agency?.id ?? null,
      connectionId: row?.id ?? null,
      failure: {
        code: "sso_failed",
        step: "connection",
        cause: "the state's connection does not belong to this host's agency",
      },
    };
  }
  const flow = flowOfState(state);
  if (flow.purpose === "login" && (!row.enabled || !ssoLive(agency))) {
    return {
      ok: false,
      agencyId: agency.id,
      connectionId: row.id,
      failure: {
        code: "sso_failed",
        step: "connection",
        cause: "the connection or SSO was disabled during the sign-in",
      },
    };
  }
  return { ok: true, attempt: attemptOf(agency, row, flow, new Date(state.issuedAt)) };
}

export function attemptOf(agency: Agency, row: ConnectionRow, flow: FlowPurpose, startedAt: Date): Attempt {
  return { agency, connection: row, kind: kindOf(row.type), flow, startedAt, origin: "connection" };
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
        const fail = (cause: string, connectionId: string | null = null) =>
          failSignIn(ctx, request, reply, {
            agencyId: agency?.id ?? null,
            connectionId,
            method: "sso",
            failure: { code: "sso_failed", step: "connection", cause },
          });
        if (!agency) return fail("no agency is configured for this host");
        const row = await connectionById(ctx, agency, connection);
        // A connection signs people into its own agency only, and only while enabled.
        if (!row || row.agency_id !== agency.id) return fail("the connection does not belong to this agency");
        const flow: FlowPurpose = {
          purpose: "login",
          returnTo: safeReturnTo(returnTo, requestOrigin(request)),
        };
        const attempt = attemptOf(agency, row, flow, ctx.now());
        // Cloudflare Access decides who gets to its page; that page checks the connection itself.
        if (attempt.kind.method !== "cloudflare" && (!row.enabled || !ssoLive(agency))) {
          return fail("the connection or SSO is not enabled", row.id);
        }
        try {
          return reply.redirect(await attempt.kind.start(ctx, { request, reply, row, flow }), 302);
        } catch (err) {
          const e = err instanceof SsoStepError ? err : new SsoStepError("authorize", String(err));
          return failSignIn(ctx, request, reply, {
            agencyId: agency.id,
            connectionId: row.id,
            method: attempt.kind.method,
            failure: { code: attempt.kind.failureCode, step: e.step, cause: e.cause, idpError: e.idpError },
            attempt,
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
      async (request, reply) =>
        finishCallback(ctx, request, reply, "sso", request.query.state, (state) =>
          agencyTarget(ctx, request.agency, state),
        ),
    );
  };
}
