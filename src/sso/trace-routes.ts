/**
 * Connection traces for the agency's admins (SPEC §17):
 *   GET /api/admin/sso/connections/:id/traces?outcome=&limit=&before=   newest first, paged
 *   GET /api/admin/sso/traces/:id                                       one trace, with its messages
 * Another agency's connection or trace is "not found", exactly as a missing one; analysts get 403.
 */
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../context.js";
import { notFound } from "../http/errors.js";
import type { Guards } from "../http/request-context.js";
import { ErrorResponse, IdParams, OneOf } from "../http/schemas.js";
import { getConnectionRow } from "./connections.js";
import {
  DEFAULT_PAGE_SIZE,
  getTrace,
  listTraces,
  MAX_PAGE_SIZE,
  TracePageSchema,
  TraceSchema,
} from "./traces.js";

const errors = { 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse };

export function traceRoutes(ctx: AppContext, guards: Guards) {
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook("preHandler", guards.requireAdmin);

    app.get(
      "/api/admin/sso/connections/:id/traces",
      {
        schema: {
          tags: ["sso admin"],
          summary: "The connection's sign-in attempts and tests (traces), newest first; kept 7 days",
          params: IdParams,
          querystring: Type.Object(
            {
              outcome: Type.Optional(OneOf(["success", "failure"])),
              limit: Type.Optional(
                Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE }),
              ),
              before: Type.Optional(
                Type.String({ minLength: 1, maxLength: 128, description: "The `next` of the previous page" }),
              ),
            },
            { additionalProperties: false },
          ),
          response: { 200: TracePageSchema, ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const row = await getConnectionRow(ctx.db, agency.id, request.params.id);
        const { outcome, limit, before } = request.query;
        return listTraces(ctx.db, agency.id, row.id, {
          ...(outcome ? { outcome } : {}),
          ...(before !== undefined ? { before } : {}),
          ...(limit !== undefined ? { limit } : {}),
        });
      },
    );

    app.get(
      "/api/admin/sso/traces/:id",
      {
        schema: {
          tags: ["sso admin"],
          summary: "One trace: the step, the cause, the claim names and the redacted protocol messages",
          params: IdParams,
          response: { 200: Type.Object({ trace: TraceSchema }), ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const trace = await getTrace(ctx.db, agency.id, request.params.id);
        if (!trace) throw notFound("Trace not found");
        return { trace };
      },
    );
  };
}
