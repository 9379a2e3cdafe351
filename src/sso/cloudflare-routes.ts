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
 * "Start test" for this type sends the admin's browser to the second form (kinds/cloudflare-access.ts).
 */
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Agency } from "../agencies/agencies.js";
import type { AppContext } from "../context.js";
import { type Guards, requestOrigin } from "../http/request-context.js";
import { ErrorResponse } from "../http/schemas.js";
import { safeReturnTo } from "../shared/return-to.js";
import { enabledConnection, readAssertion } from "./cloudflare-session.js";
import { ssoLive } from "./connections.js";
import { attemptOf } from "./flow-routes.js";
import { CLOUDFLARE_LOGIN_PATH, cloudflareAccessKind } from "./kinds/cloudflare-access.js";
import type { ConnectionRow, FlowPurpose } from "./kinds/kind.js";
import { failSignIn, settle, wantedClaims } from "./settle.js";

export { CLOUDFLARE_LOGIN_PATH };

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
    cause: string,
  ) =>
    failSignIn(ctx, request, reply, {
      agencyId: agency?.id ?? null,
      connectionId,
      method: "cloudflare",
      failure: { code: "cloudflare_failed", step: "connection", cause },
    });

  /** The assertion of this request, verified by the kind, then settle. */
  async function complete(
    request: FastifyRequest,
    reply: FastifyReply,
    agency: Agency,
    row: ConnectionRow,
    flow: FlowPurpose,
  ) {
    const attempt = attemptOf(agency, row, flow, ctx.now());
    const completion = await cloudflareAccessKind.complete(ctx, {
      request,
      row,
      flow,
      state: null,
      wanted: wantedClaims(attempt),
    });
    return settle(ctx, request, reply, attempt, completion);
  }

  async function signIn(request: FastifyRequest, reply: FastifyReply, returnTo: string | null) {
    const agency = request.agency;
    if (!agency) return fail(request, reply, null, null, "no agency is configured for this host");
    const row = await enabledConnection(ctx, agency, readAssertion(request)?.token ?? null);
    if (!row) {
      return fail(request, reply, agency, null, "the agency has no enabled Cloudflare Access connection");
    }
    if (!ssoLive(agency)) return fail(request, reply, agency, row.id, "SSO is not enabled for the agency");
    return complete(request, reply, agency, row, { purpose: "login", returnTo });
  }

  async function runTest(request: FastifyRequest, reply: FastifyReply, testId: string) {
    const agency = request.agency;
    if (!agency) return fail(request, reply, null, null, "no agency is configured for this host");
    await guards.loadSession(request);
    const admin = request.auth?.user;
    if (!admin || admin.role !== "admin") {
      return fail(request, reply, agency, null, "a Cloudflare Access test needs an agency admin's session");
    }
    const test = await ctx.db
      .selectFrom("sso_tests")
      .select(["id", "connection_id", "status", "config_version"])
      .where("id", "=", testId)
      .where("agency_id", "=", agency.id)
      .executeTakeFirst();
    if (!test) return fail(request, reply, agency, null, "the test does not exist in this agency");
    // A finished (or expired) test is shown again, not run again: a reload changes nothing.
    if (test.status !== "pending")
      return reply.redirect(`/settings/sso?test=${encodeURIComponent(test.id)}`, 302);
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
        "the test is not for the current configuration of a Cloudflare Access connection",
      );
    }
    return complete(request, reply, agency, row, { purpose: "test", testId: test.id });
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
