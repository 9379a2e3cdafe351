/**
 * The HTTP application: Fastify with its official plugins, one encapsulated plugin per feature.
 * `buildApp` takes everything from its context, so tests build as many instances as they like.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyCookie from "@fastify/cookie";
import fastifyStatic from "@fastify/static";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from "fastify";
import helmet from "helmet";
import { auditRoutes } from "./audit/routes.js";
import { authRoutes } from "./auth/routes.js";
import type { Config } from "./config.js";
import type { AppContext } from "./context.js";
import { cookieName, readCookie } from "./http/cookies.js";
import { AppError, registerErrorHandler } from "./http/errors.js";
import { opsRoutes, registerLifecycle } from "./http/ops-routes.js";
import { makeGuards, requestOrigin } from "./http/request-context.js";
import { ErrorResponse } from "./http/schemas.js";
import { partAwareValidatorFactory } from "./http/validation.js";
import { mfaRoutes } from "./mfa/routes.js";
import { provisioningRoutes } from "./provisioning/routes.js";
import { securityRoutes } from "./security/routes.js";
import { ssoAdminRoutes } from "./sso/admin-routes.js";
import { cloudflareRoutes } from "./sso/cloudflare-routes.js";
import { flowRoutes } from "./sso/flow-routes.js";
import { googleInstanceRoutes } from "./sso/google-instance.js";
import { groupMappingRoutes } from "./sso/group-routes.js";
import { isIdpFacingPost, samlRoutes } from "./sso/saml-routes.js";
import { traceRoutes } from "./sso/trace-routes.js";
import { adminUserRoutes } from "./users/routes.js";

const here = path.dirname(fileURLToPath(import.meta.url));
/** Built pages: dist/web next to the compiled server, or from the sources' point of view. */
export const WEB_DIR = here.endsWith(`${path.sep}dist${path.sep}src`)
  ? path.resolve(here, "../web")
  : path.resolve(here, "../dist/web");

const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Paths whose handlers need to know the host's agency. */
function needsAgency(url: string): boolean {
  return url.startsWith("/api/") || url.startsWith("/login/");
}

/**
 * Answers that may carry a session cookie, a token secret, backup codes or personal data: every
 * API answer (including provisioning) and the sign-in flow's redirects under /login/ (SSO start
 * and callbacks, Google, Cloudflare Access). Browsers and shared caches must not store them.
 */
function neverStored(url: string): boolean {
  return url.startsWith("/api/") || url.startsWith("/login/");
}

/**
 * SPEC §11: cookie-authenticated requests that change state are refused unless their Origin is
 * the agency's own origin. Bearer-token API calls carry no cookie and are not affected; a
 * browser request that carries our cookies must prove it comes from our own pages.
 */
function checkOrigin(request: FastifyRequest): void {
  if (!UNSAFE_METHODS.has(request.method)) return;
  // SPEC §12: the IdP's form POST to the ACS is cross-site by design; it sets no session.
  if (isIdpFacingPost(request.url)) return;
  if (request.headers.authorization?.startsWith("Bearer ")) return;
  const cookieAuthenticated = Boolean(readCookie(request, "session") || readCookie(request, "mfa"));
  const origin = request.headers.origin;
  if (!origin && !cookieAuthenticated) return;
  if (origin !== requestOrigin(request)) {
    throw new AppError(403, "bad_origin", "This request must come from the agency's own sign-in pages");
  }
}

/**
 * TRUST_PROXY as Fastify takes it. A hop count trusts the last N hops (the socket's peer and the
 * N − 1 proxies before it), the right-most entries of X-Forwarded-For, which our proxies wrote;
 * Fastify's own number form trusts no hop at all, so it is a function here.
 */
function trustProxyOption(
  value: Config["trustProxy"],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value !== "number") return value;
  return (_address, hop) => hop < value;
}

export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    trustProxy: trustProxyOption(ctx.config.trustProxy),
    // Bodies are validated strictly, querystring and params with coercion (http/validation.ts).
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
    schemaController: { compilersFactory: { buildValidator: partAwareValidatorFactory() } },
    bodyLimit: 256 * 1024,
    // A request arriving while the server closes is answered by registerLifecycle (the API's shape).
    return503OnClosing: false,
  });
  registerErrorHandler(app);
  if (ctx.config.trustProxy === true) {
    ctx.log.warn(
      "TRUST_PROXY=true trusts every X-Forwarded-For hop, so a client can choose the address the rate " +
        "limits and the audit log see; set the number of proxies (TRUST_PROXY=1) or their addresses instead",
    );
  }
  // A JSON request without a body (e.g. POST …/tests from fetch) is an empty object, not an error.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => {
    if (body === "") return done(null, undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new AppError(400, "invalid_json", "The request body is not valid JSON"), undefined);
    }
  });

  await app.register(fastifyCookie);
  // Security headers (helmet). @fastify/helmet builds helmet's middleware anew on every request
  // (parsing the CSP directives each time, about a fifth of a small request's CPU); the same
  // middleware is built once here and applied in the same hook.
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        scriptSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        upgradeInsecureRequests: null,
      },
    },
    // Sign-in pages must not leak the callback URL's code to the next site.
    referrerPolicy: { policy: "no-referrer" },
    strictTransportSecurity: ctx.config.publicUrl.protocol === "https:",
  });
  app.addHook("onRequest", (request, reply, done) => securityHeaders(request.raw, reply.raw, () => done()));
  registerLifecycle(app);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "CoPilot SSO API",
        version: "1.0.0",
        description: "Sign-in, SSO configuration, administration and provisioning of CoPilot agencies.",
      },
      components: {
        securitySchemes: {
          session: {
            type: "apiKey",
            in: "cookie",
            name: cookieName("session", ctx.config.publicUrl.protocol === "https:"),
            description: "`__Host-copilot_session` on https, `copilot_session` on plain http",
          },
          integrationToken: {
            type: "http",
            scheme: "bearer",
            description: "Private integration token (pit_…)",
          },
          metricsToken: { type: "http", scheme: "bearer", description: "The operator's METRICS_TOKEN" },
        },
      },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/docs" });
  app.addSchema(ErrorResponse);

  const guards = makeGuards(ctx);
  app.decorateRequest("agency", null);
  app.decorateRequest("auth", null);
  app.addHook("onRequest", async (request) => {
    if (needsAgency(request.url)) request.agency = await guards.resolveAgency(request);
    checkOrigin(request);
  });
  app.addHook("onSend", (request, reply, payload, done) => {
    if (neverStored(request.url)) reply.header("cache-control", "no-store");
    done(null, payload);
  });
  app.addHook("onResponse", async (request, reply) => {
    ctx.metrics.observeHttp(
      request.method,
      request.routeOptions.url ?? "unmatched",
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  });

  await app.register(opsRoutes(ctx));
  await app.register(authRoutes(ctx, guards));
  await app.register(adminUserRoutes(ctx, guards));
  await app.register(auditRoutes(ctx, guards));
  await app.register(ssoAdminRoutes(ctx, guards));
  await app.register(groupMappingRoutes(ctx, guards));
  await app.register(traceRoutes(ctx, guards));
  await app.register(flowRoutes(ctx));
  await app.register(samlRoutes(ctx, guards));
  await app.register(googleInstanceRoutes(ctx));
  await app.register(cloudflareRoutes(ctx, guards));
  await app.register(mfaRoutes(ctx, guards));
  await app.register(securityRoutes(ctx, guards));
  await app.register(provisioningRoutes(ctx, guards));

  app.get(
    "/openapi.json",
    {
      schema: {
        tags: ["ops"],
        summary: "This OpenAPI 3.1 document",
        response: { 200: { type: "object", additionalProperties: true } },
      },
    },
    async () => app.swagger(),
  );

  const hasPages = existsSync(path.join(WEB_DIR, "index.html"));
  if (hasPages) await app.register(fastifyStatic, { root: WEB_DIR, wildcard: false, index: false });
  // The pages are one application: every non-API GET that is not a file gets index.html.
  app.setNotFoundHandler((request, reply) => {
    const isPage = hasPages && request.method === "GET" && !request.url.startsWith("/api/");
    if (isPage) return reply.type("text/html").sendFile("index.html");
    return reply.status(404).send({ error: { code: "not_found", message: "Not found" } });
  });
  return app;
}
