/** The agency's audit log for its admins: newest first, filterable, paged. */
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../context.js";
import type { Guards } from "../http/request-context.js";
import { ErrorResponse, Nullable } from "../http/schemas.js";

const Entry = Type.Object({
  id: Type.Integer(),
  at: Type.String({ format: "date-time" }),
  action: Type.String(),
  outcome: Type.String(),
  actor: Type.Object({ type: Type.String(), id: Nullable(Type.String()), label: Nullable(Type.String()) }),
  target: Nullable(Type.Object({ type: Type.String(), id: Type.String() })),
  ip: Nullable(Type.String()),
  details: Type.Record(Type.String(), Type.Unknown()),
});

export function auditRoutes(ctx: AppContext, guards: Guards) {
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.get(
      "/api/admin/audit",
      {
        preHandler: guards.requireAdmin,
        schema: {
          tags: ["admin"],
          summary: "The agency's audit log, newest first",
          querystring: Type.Object({
            action: Type.Optional(Type.String({ maxLength: 100 })),
            outcome: Type.Optional(Type.Union([Type.Literal("success"), Type.Literal("failure")])),
            page: Type.Optional(Type.Integer({ minimum: 1 })),
            pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
          }),
          response: {
            200: Type.Object({
              entries: Type.Array(Entry),
              total: Type.Integer(),
              page: Type.Integer(),
              pageSize: Type.Integer(),
            }),
            401: ErrorResponse,
            403: ErrorResponse,
          },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const q = request.query;
        const page = q.page ?? 1;
        const pageSize = q.pageSize ?? 50;
        let query = ctx.db.selectFrom("audit_log").where("agency_id", "=", agency.id);
        if (q.action) query = query.where("action", "like", `${q.action.replace(/[\\%_]/g, "\\$&")}%`);
        if (q.outcome) query = query.where("outcome", "=", q.outcome);
        const [rows, count] = await Promise.all([
          query
            .selectAll()
            .orderBy("id", "desc")
            .limit(pageSize)
            .offset((page - 1) * pageSize)
            .execute(),
          query.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow(),
        ]);
        return {
          entries: rows.map((r) => ({
            id: r.id,
            at: r.at.toISOString(),
            action: r.action,
            outcome: r.outcome,
            actor: { type: r.actor_type, id: r.actor_id, label: r.actor_label },
            target: r.target_type && r.target_id ? { type: r.target_type, id: r.target_id } : null,
            ip: r.ip,
            details: r.details ?? {},
          })),
          total: Number(count.n),
          page,
          pageSize,
        };
      },
    );
  };
}
