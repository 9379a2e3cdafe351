/**
 * Agency security settings (SPEC §6): require 2FA. With it on, a user without 2FA who signs in —
 * by any method — is sent to enrolment before getting a session (sessions/sign-in.ts).
 */

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { auditRequest } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import { transaction } from "../db/transaction.js";
import type { Guards } from "../http/request-context.js";
import { ErrorResponse } from "../http/schemas.js";

const Settings = Type.Object({
  require2fa: Type.Boolean({ description: "Everyone must use two-factor authentication" }),
});
const errors = { 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse };

export function securityRoutes(ctx: AppContext, guards: Guards) {
  async function read(agencyId: string) {
    const row = await ctx.db
      .selectFrom("agencies")
      .select("require_2fa")
      .where("id", "=", agencyId)
      .executeTakeFirstOrThrow();
    return { require2fa: row.require_2fa };
  }

  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.get(
      "/api/admin/security",
      {
        preHandler: guards.requireAdmin,
        schema: {
          tags: ["admin"],
          summary: "The agency's security settings",
          response: { 200: Settings, ...errors },
        },
      },
      async (request) => read((await guards.requireAdmin(request)).agency.id),
    );

    app.put(
      "/api/admin/security",
      {
        preHandler: guards.requireAdmin,
        schema: {
          tags: ["admin"],
          summary: "Change the agency's security settings",
          body: Type.Object({ require2fa: Type.Boolean() }, { additionalProperties: false }),
          response: { 200: Settings, ...errors },
        },
      },
      async (request) => {
        const agencyId = (await guards.requireAdmin(request)).agency.id;
        const { require2fa } = request.body;
        const before = await read(agencyId);
        if (before.require2fa !== require2fa) {
          await transaction(ctx.db, async (tx) => {
            await tx
              .updateTable("agencies")
              .set({ require_2fa: require2fa, updated_at: ctx.now() })
              .where("id", "=", agencyId)
              .execute();
            await auditRequest(tx, request, {
              action: "security.update",
              target: { type: "agency", id: agencyId },
              details: { require2fa: { from: before.require2fa, to: require2fa } },
            });
          });
        }
        return read(agencyId);
      },
    );
  };
}
