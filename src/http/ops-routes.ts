/** Operator endpoints (SPEC §10): liveness, readiness (the database answers), metrics. */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { sql } from "kysely";
import type { AppContext } from "../context.js";

export function opsRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    app.get(
      "/healthz",
      {
        schema: {
          tags: ["ops"],
          summary: "The process is up",
          response: { 200: Type.Object({ status: Type.Literal("ok") }) },
        },
      },
      async () => ({ status: "ok" as const }),
    );
    app.get(
      "/readyz",
      {
        schema: {
          tags: ["ops"],
          summary: "The database is reachable",
          response: {
            200: Type.Object({ status: Type.String() }),
            503: Type.Object({ status: Type.String() }),
          },
        },
      },
      async (request, reply) => {
        try {
          await sql`select 1`.execute(ctx.db);
          return { status: "ready" };
        } catch (err) {
          request.log.warn({ err }, "readiness check failed");
          return reply.status(503).send({ status: "database unreachable" });
        }
      },
    );
    app.get(
      "/metrics",
      {
        schema: {
          tags: ["ops"],
          summary: "Prometheus metrics",
          produces: ["text/plain"],
          response: { 200: Type.String() },
        },
      },
      async (_request, reply) => reply.type("text/plain; version=0.0.4").send(ctx.metrics.render()),
    );
  };
}
