/**
 * Operator endpoints (SPEC §10): liveness, readiness (the database answers, and the node is not
 * shutting down), metrics.
 *
 * `/metrics` is the operator's, not the public's (issue 14 item 12): on the public port it answers
 * only with `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time) and is 404 when no
 * token is set; with `METRICS_PORT` a second listener (loopback by default, `METRICS_HOST`) serves it,
 * also behind the token when one is set.
 */
import { Type } from "@sinclair/typebox";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from "fastify";
import { sql } from "kysely";
import type { AppContext } from "../context.js";
import { timingSafeEqualStr } from "../crypto/tokens.js";
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from "../db/unavailable.js";
import { ssoMessage } from "../sso/messages.js";
import { AppError, notFound, registerErrorHandler } from "./errors.js";
import { ErrorResponse } from "./schemas.js";

declare module "fastify" {
  interface FastifyInstance {
    /**
     * `draining`: the process received SIGTERM/SIGINT: readiness fails, answers close their connection.
     * `closing`: the drain window is over and the server closes: a request still arriving on an open
     * connection gets 503 `unavailable` (in the API's error shape, not Fastify's own).
     */
    lifecycle: { draining: boolean; closing: boolean };
  }
}

/** Shutdown state on the root instance, and `Connection: close` on every answer while draining. */
export function registerLifecycle(app: FastifyInstance): void {
  const lifecycle = { draining: false, closing: false };
  app.decorate("lifecycle", lifecycle);
  app.addHook("onRequest", (_request, reply, done) => {
    if (lifecycle.draining) reply.header("connection", "close");
    if (!lifecycle.closing) return done();
    done(
      new AppError(503, "unavailable", ssoMessage("sso_failed"), undefined, {
        headers: { "retry-after": String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
      }),
    );
  });
}

/** The token check of /metrics: fails closed (401) without the exact bearer token. */
function checkMetricsToken(ctx: AppContext, request: FastifyRequest): void {
  const expected = ctx.config.metricsToken;
  if (expected === null) return;
  const header = request.headers.authorization ?? "";
  const given = header.startsWith("Bearer ") ? header.slice(7) : "";
  if (!timingSafeEqualStr(given, expected)) {
    throw new AppError(401, "unauthorized", "The metrics need the operator's bearer token", undefined, {
      headers: { "www-authenticate": 'Bearer realm="metrics"' },
    });
  }
}

/** GET /metrics for one listener: the public port ("main") or the operator's METRICS_PORT. */
function metricsRoute(ctx: AppContext, listener: "main" | "operator") {
  return async (app: FastifyInstance) => {
    app.get(
      "/metrics",
      {
        schema: {
          tags: ["ops"],
          summary:
            "Prometheus metrics (operator only: METRICS_TOKEN bearer token or the METRICS_PORT listener)",
          produces: ["text/plain"],
          security: [{ metricsToken: [] }],
          response: { 200: Type.String(), 401: ErrorResponse, 404: ErrorResponse },
        },
      },
      async (request, reply) => {
        if (listener === "main" && ctx.config.metricsToken === null) throw notFound();
        checkMetricsToken(ctx, request);
        return reply.type("text/plain; version=0.0.4").send(await ctx.metrics.collect());
      },
    );
  };
}

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
          summary: "The node takes traffic: the database is reachable and it is not shutting down",
          response: {
            200: Type.Object({ status: Type.String() }),
            503: Type.Object({ status: Type.String() }),
          },
        },
      },
      async (request, reply) => {
        if (app.lifecycle.draining) return reply.status(503).send({ status: "shutting down" });
        try {
          await sql`select 1`.execute(ctx.db);
          return { status: "ready" };
        } catch (err) {
          request.log.warn({ err }, "readiness check failed");
          return reply.status(503).send({ status: "database unreachable" });
        }
      },
    );
    await app.register(metricsRoute(ctx, "main"));
  };
}

/** The METRICS_PORT listener: /metrics only (the caller listens on METRICS_HOST:METRICS_PORT). */
export async function buildMetricsApp(ctx: AppContext): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: ctx.log as FastifyBaseLogger, disableRequestLogging: true });
  registerErrorHandler(app);
  app.addSchema(ErrorResponse);
  await app.register(metricsRoute(ctx, "operator"));
  return app;
}
