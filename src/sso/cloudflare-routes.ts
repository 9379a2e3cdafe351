/**
 * Cloudflare Access sign-in over HTTP (SPEC §5, §7, §11):
 *
 *   GET /login/sso/cloudflare[?returnTo=/path]   the agency's enabled `cloudflare-access`
 *        connection verifies the assertion Cloudflare added (`Cf-Access-Jwt-Assertion`, falling
 *        back to the `CF_Authorization` cookie), then the same mapping, resolution, provisioning
 *        policy, 2FA hand-off and audit as OIDC (finishSso). Failures: `cloudflare_failed`, or the
 *        §4 code of the resolution when the assertion is good but the person may not sign in.
 *   GET /login/sso/cloudflare?test=<testId>       the §7 test of a connection, for an agency admin:
 *        records whether an assertion arrived, which check failed and the claims' names, then
 *        back to `/settings/sso?test=<id>`. It changes no user.
 *
 * "Start test" for this type sends the admin's browser to the second form (testStarters below).
 */

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Selectable } from "kysely";
import type { Agency } from "../agencies/agencies.js";
import { auditRequest } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import type { SsoConnectionsTable } from "../db/schema.js";
import { inTransaction } from "../db/transaction.js";
import { type Guards, requestOrigin } from "../http/request-context.js";
import { ErrorResponse } from "../http/schemas.js";
import { safeReturnTo } from "../shared/return-to.js";
import { testStarters } from "./admin-routes.js";
import { CloudflareAssertionError, verifyAccessAssertion } from "./cloudflare.js";
import { type Assertion, enabledConnection, readAssertion } from "./cloudflare-session.js";
import { ssoLive } from "./connections.js";
import { failSignIn, finishSso, type SsoFailure } from "./finish.js";
import { finishTest } from "./tests.js";
import { redactJwt } from "./trace-redact.js";
import { recordTrace, type TraceMessage } from "./traces.js";

type ConnectionRow = Selectable<SsoConnectionsTable>;

export const CLOUDFLARE_LOGIN_PATH = "/login/sso/cloudflare";

// SPEC §7 "Start test": the test is the real sign-in, run by the admin's own browser behind Access.
testStarters["cloudflare-access"] = async (_ctx, _request, _reply, _row, testId) =>
  `${CLOUDFLARE_LOGIN_PATH}?test=${encodeURIComponent(testId)}`;

function describeSource(assertion: Assertion | null): string {
  if (!assertion)
    return "no assertion arrived (neither a Cf-Access-Jwt-Assertion header nor a CF_Authorization cookie)";
  return assertion.source === "header"
    ? "an assertion arrived in the Cf-Access-Jwt-Assertion header"
    : "an assertion arrived in the CF_Authorization cookie";
}

/** The assertion as a connection trace shows it (SPEC §17): redacted, and where it arrived. */
function assertionMessages(ctx: AppContext, assertion: Assertion | null): TraceMessage[] {
  if (!assertion) return [];
  return [
    {
      name: "cloudflare_assertion",
      at: ctx.now().toISOString(),
      data: { source: assertion.source, ...redactJwt(assertion.token) },
    },
  ];
}

/** Any failure of the verification as a CloudflareAssertionError (never a 500). */
async function verify(ctx: AppContext, row: ConnectionRow, token: string) {
  try {
    return { ok: true as const, claims: await verifyAccessAssertion(ctx, row, token) };
  } catch (err) {
    const error =
      err instanceof CloudflareAssertionError
        ? err
        : new CloudflareAssertionError(
            "signature",
            `the assertion could not be verified (${err instanceof Error ? err.name : "unknown error"})`,
          );
    return { ok: false as const, error };
  }
}

const QuerySchema = Type.Object(
  {
    test: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    returnTo: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: true },
);

export function cloudflareRoutes(ctx: AppContext, guards: Guards) {
  /** A refused sign-in: `/login?error=cloudflare_failed` (401 JSON for API clients) + audit. */
  const fail = (
    request: FastifyRequest,
    reply: FastifyReply,
    agency: Agency | null,
    connectionId: string | null,
    step: SsoFailure["step"],
    cause: string,
    claimNames?: string[],
    messages?: TraceMessage[],
  ) =>
    failSignIn(ctx, request, reply, {
      agencyId: agency?.id ?? null,
      connectionId,
      method: "cloudflare",
      ...(messages ? { trace: { messages } } : {}),
      failure: {
        code: "cloudflare_failed",
        step,
        cause,
        ...(claimNames && claimNames.length > 0 ? { claimNames } : {}),
      },
    });

  async function signIn(request: FastifyRequest, reply: FastifyReply, returnTo: string | null) {
    const agency = request.agency;
    if (!agency)
      return fail(request, reply, null, null, "connection", "no agency is configured for this host");
    const assertion = readAssertion(request);
    const row = await enabledConnection(ctx, agency, assertion?.token ?? null);
    if (!row) {
      return fail(
        request,
        reply,
        agency,
        null,
        "connection",
        "the agency has no enabled Cloudflare Access connection",
      );
    }
    if (!ssoLive(agency))
      return fail(request, reply, agency, row.id, "connection", "SSO is not enabled for the agency");
    if (!assertion) return fail(request, reply, agency, row.id, "assertion", describeSource(null));
    const result = await verify(ctx, row, assertion.token);
    if (!result.ok) {
      const e = result.error;
      return fail(
        request,
        reply,
        agency,
        row.id,
        "assertion",
        `${e.check} check failed: ${e.detail} (${assertion.source})`,
        e.claimNames,
        assertionMessages(ctx, assertion),
      );
    }
    return finishSso(ctx, request, reply, {
      agency,
      connection: row,
      claims: result.claims,
      method: "cloudflare",
      purpose: "login",
      returnTo,
      messages: assertionMessages(ctx, assertion),
    });
  }

  async function runTest(request: FastifyRequest, reply: FastifyReply, testId: string) {
    const agency = request.agency;
    if (!agency)
      return fail(request, reply, null, null, "connection", "no agency is configured for this host");
    await guards.loadSession(request);
    const admin = request.auth?.user;
    if (!admin || admin.role !== "admin") {
      return fail(
        request,
        reply,
        agency,
        null,
        "connection",
        "a Cloudflare Access test needs an agency admin's session",
      );
    }
    const test = await ctx.db
      .selectFrom("sso_tests")
      .select(["id", "connection_id", "status", "config_version"])
      .where("id", "=", testId)
      .where("agency_id", "=", agency.id)
      .executeTakeFirst();
    if (!test)
      return fail(request, reply, agency, null, "connection", "the test does not exist in this agency");
    const back = () => reply.redirect(`/settings/sso?test=${encodeURIComponent(test.id)}`, 302);
    // A finished (or expired) test is shown again, not run again: a reload changes nothing.
    if (test.status !== "pending") return back();
    const row = await ctx.db
      .selectFrom("sso_connections")
      .selectAll()
      .where("id", "=", test.connection_id)
      .where("agency_id", "=", agency.id)
      .executeTakeFirst();
    if (!row || row.type !== "cloudflare-access" || row.config_version !== test.config_version) {
      return fail(
        request,
        reply,
        agency,
        test.connection_id,
        "connection",
        "the test is not for the current configuration of a Cloudflare Access connection",
      );
    }

    const assertion = readAssertion(request);
    const result = assertion ? await verify(ctx, row, assertion.token) : null;
    if (!result?.ok) {
      const e = result?.error;
      const detail = e
        ? `${describeSource(assertion)}; the ${e.check} check failed: ${e.detail}`
        : describeSource(assertion);
      const claimNames = e?.claimNames ?? [];
      // The test's result and its audit record commit together.
      await inTransaction(ctx, async (tx) => {
        await finishTest(tx, test.id, {
          passed: false,
          errorCode: "cloudflare_failed",
          diagnostic: { step: "cloudflare", idpError: null, claimNames, detail },
        });
        // The request's agency and admin (checked above), as actor, from the request's IP.
        await auditRequest(tx.db, request, {
          action: "sso.test",
          outcome: "failure",
          target: { type: "sso_connection", id: row.id },
          details: {
            testId: test.id,
            code: "cloudflare_failed",
            step: "assertion",
            check: e?.check ?? "missing",
            cause: detail,
            assertionReceived: assertion !== null,
            claimNames,
          },
        });
        await recordTrace(tx.db, tx.now(), {
          agencyId: agency.id,
          connectionId: row.id,
          kind: row.type,
          purpose: "test",
          testId: test.id,
          outcome: "failure",
          step: "assertion",
          code: "cloudflare_failed",
          cause: detail,
          claimNames,
          userId: null,
          messages: assertionMessages(ctx, assertion),
          startedAt: tx.now(),
        });
      });
      return back();
    }
    return finishSso(ctx, request, reply, {
      agency,
      connection: row,
      claims: result.claims,
      method: "cloudflare",
      purpose: "test",
      testId: test.id,
      messages: assertionMessages(ctx, assertion),
    });
  }

  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.get(
      CLOUDFLARE_LOGIN_PATH,
      {
        schema: {
          tags: ["sso"],
          summary:
            "Cloudflare Access sign-in: verifies the Cf-Access-Jwt-Assertion header (or the CF_Authorization cookie); with ?test=<id>, runs an admin's connection test",
          querystring: QuerySchema,
          response: { 302: Type.Null(), 401: ErrorResponse },
        },
      },
      async (request, reply) => {
        const { test, returnTo } = request.query;
        if (test !== undefined) return runTest(request, reply, test);
        return signIn(request, reply, safeReturnTo(returnTo, requestOrigin(request)));
      },
    );
  };
}
