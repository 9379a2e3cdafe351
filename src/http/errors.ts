/**
 * One error shape for the whole API: `{ "error": { "code", "message", "field"? } }` (SPEC §11).
 * Handlers throw AppError; Fastify's own validation errors are turned into 422 naming the field.
 */
import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import { isDatabaseUnavailable, UNAVAILABLE_RETRY_AFTER_SECONDS } from "../db/unavailable.js";
import { ssoMessage } from "../sso/messages.js";

export class AppError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly extra?: { headers?: Record<string, string>; body?: Record<string, unknown> },
  ) {
    super(message);
  }
}

export const badRequest = (message: string, field?: string) =>
  new AppError(422, "invalid_input", message, field);
export const notFound = (what = "Not found") => new AppError(404, "not_found", what);
export const conflict = (code: string, message: string, field?: string) =>
  new AppError(409, code, message, field);
export const unauthorized = (message = "Authentication required") =>
  new AppError(401, "unauthorized", message);
export const forbidden = (message = "You do not have permission to do this") =>
  new AppError(403, "forbidden", message);

/** `body/email must match format "email"` → field "email". */
function fieldOf(error: FastifyError): string | undefined {
  const v = error.validation?.[0];
  if (!v) return undefined;
  const missing = (v.params as { missingProperty?: string; additionalProperty?: string } | undefined) ?? {};
  const path = (v.instancePath ?? "").replace(/^\//, "").replace(/\//g, ".");
  const extra = missing.missingProperty ?? missing.additionalProperty;
  return [path, extra].filter(Boolean).join(".") || undefined;
}

/** An API client (fetch, curl, scripts) asks for JSON and not for a page (SPEC §4: they get JSON errors). */
export function prefersJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? "";
  return accept.includes("application/json") && !accept.includes("text/html");
}

/** A browser navigating to one of our pages or sign-in steps (not the API, not a script). */
function isBrowserNavigation(request: FastifyRequest): boolean {
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  if (request.url.startsWith("/api/") || request.url.startsWith("/scim/")) return false;
  return !prefersJson(request);
}

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) {
      if (error.extra?.headers) reply.headers(error.extra.headers);
      return reply.status(error.statusCode).send({
        error: {
          code: error.code,
          message: error.message,
          ...(error.field ? { field: error.field } : {}),
          ...error.extra?.body,
        },
      });
    }
    if (isDatabaseUnavailable(error)) {
      // The database is down, restarting or hung: nothing the request did. Browsers end on the login
      // page with §4's message; API clients are told to come back (SPEC §10, issue 13).
      request.log.warn({ err: error }, "database unavailable");
      if (isBrowserNavigation(request)) return reply.redirect("/login?error=sso_failed", 302);
      return reply
        .status(503)
        .header("retry-after", String(UNAVAILABLE_RETRY_AFTER_SECONDS))
        .send({ error: { code: "unavailable", message: ssoMessage("sso_failed") } });
    }
    if (error.validation) {
      const field = fieldOf(error);
      const v = error.validation[0];
      const extra = (v?.params as { additionalProperty?: string } | undefined)?.additionalProperty;
      const message = extra
        ? `${field} is not a known field`
        : `${field ?? "input"} ${v?.message ?? "is invalid"}`.replace(
            /^(\S+) must have required property '[^']+'$/,
            "$1 is required",
          );
      return reply
        .status(422)
        .send({ error: { code: "invalid_input", message, ...(field ? { field } : {}) } });
    }
    if (error.statusCode === 429) {
      return reply.status(429).send({ error: { code: "rate_limited", message: error.message } });
    }
    if (error.statusCode && error.statusCode < 500) {
      return reply
        .status(error.statusCode)
        .send({ error: { code: error.code?.toLowerCase() ?? "bad_request", message: error.message } });
    }
    request.log.error({ err: error }, "unhandled error");
    return reply
      .status(500)
      .send({ error: { code: "internal", message: "Something went wrong, please try again." } });
  });
}
