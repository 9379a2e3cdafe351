/**
 * Integration tokens and the provisioning API (SPEC §8).
 *
 * - `/api/admin/tokens`: agency admins create (the secret is shown once), list and revoke tokens.
 * - `/api/v1/users`: scripts holding a token create, find, update and deactivate the token's
 *   agency's users. The TOKEN decides the agency (never the Host header): a token of agency A
 *   sees agency B's users as 404. Writes are audited with the token as the actor (its name as
 *   the label); reads are logged at debug level only (see `auditFailure` / the onResponse hook).
 */
import rateLimit from "@fastify/rate-limit";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import { type Actor, type AuditEntry, audit, auditRequest } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import { transaction } from "../db/transaction.js";
import { AppError } from "../http/errors.js";
import type { Guards } from "../http/request-context.js";
import { ErrorResponse, IdParams, Nullable, UserInputSchema, UserSchema } from "../http/schemas.js";
import { hit, LIMITS } from "../http/throttle.js";
import { createUser, getUser, listUsers, updateUser, userApi } from "../users/users.js";
import { throttleTableStore } from "./rate-limit-store.js";
import {
  type AuthenticatedToken,
  authenticateToken,
  createToken,
  hasScope,
  listTokens,
  revokeToken,
  SCOPES,
  type Scope,
  tokenApi,
} from "./tokens.js";

/** Requests per token per window (SPEC §8 rate limiting), shared by every node. */
export const RATE_LIMIT = { max: 600, timeWindowMs: 60_000 };

const REALM = "CoPilot provisioning API";

// ------------------------------------------------------------------------------------------------
// Schemas
// ------------------------------------------------------------------------------------------------

const ScopeSchema = Type.Union(
  SCOPES.map((s) => Type.Literal(s)),
  { description: "users.readonly: read users; users.write: create, update, deactivate (implies read)" },
);

const TokenSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    scopes: Type.Array(ScopeSchema),
    prefix: Type.String({ description: "The first characters of the secret (pit_ + 8), to recognise it" }),
    createdBy: Nullable(Type.Object({ id: Type.String(), email: Type.String() })),
    createdAt: Type.String({ format: "date-time" }),
    lastUsedAt: Nullable(Type.String({ format: "date-time" })),
    revokedAt: Nullable(Type.String({ format: "date-time" })),
  },
  { description: "A private integration token (never its secret)" },
);

const CreateTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: SCOPES.length, uniqueItems: true }),
  },
  { additionalProperties: false },
);

const UserEnvelope = Type.Object({ user: UserSchema });

/** Create: the shared user input, with email required. */
const CreateUserBody = Type.Object(
  { ...UserInputSchema.properties, email: Type.String({ maxLength: 320 }) },
  { additionalProperties: false, description: "A new user; omitted fields take their defaults" },
);

/** Update: any subset of the shared user input; `active: true` reactivates a deactivated user. */
const UpdateUserBody = Type.Object(
  {
    ...UserInputSchema.properties,
    active: Type.Optional(
      Type.Boolean({ description: "false deactivates (ends sessions), true reactivates" }),
    ),
  },
  { additionalProperties: false, description: "The fields to change; omitted fields keep their values" },
);

const FindUsersQuery = Type.Object(
  {
    email: Type.Optional(Type.String({ minLength: 1, maxLength: 320, description: "Case-insensitive" })),
    externalUserId: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    page: Type.Optional(Type.Integer({ minimum: 1 })),
    pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
  },
  { additionalProperties: false },
);

/** The shared error shape, described for one status. */
const errorResponse = (description: string) => Type.Object(ErrorResponse.properties, { description });

const tokenErrors = {
  401: errorResponse("Missing, invalid or revoked token (WWW-Authenticate: Bearer)"),
  403: errorResponse("The token lacks the scope this operation needs"),
  429: errorResponse(
    "Too many requests for this token, or too many failed authentications from this address (see Retry-After)",
  ),
};

const adminErrors = {
  401: errorResponse("Not signed in"),
  403: errorResponse("Not an agency admin, or a cross-site request"),
};

const SECURITY_TOKEN = [{ integrationToken: [] }];
const SECURITY_SESSION = [{ session: [] }];

// ------------------------------------------------------------------------------------------------
// Admin: integration tokens
// ------------------------------------------------------------------------------------------------

function adminTokenRoutes(ctx: AppContext, guards: Guards) {
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook("preHandler", guards.requireAdmin);

    app.get(
      "/api/admin/tokens",
      {
        schema: {
          tags: ["admin"],
          summary: "List the agency's integration tokens (revoked ones included)",
          operationId: "adminListTokens",
          security: SECURITY_SESSION,
          response: { 200: Type.Object({ tokens: Type.Array(TokenSchema) }), ...adminErrors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        return { tokens: (await listTokens(ctx.db, agency.id)).map(tokenApi) };
      },
    );

    app.post(
      "/api/admin/tokens",
      {
        schema: {
          tags: ["admin"],
          summary: "Create an integration token; the secret is in this answer only",
          operationId: "adminCreateToken",
          security: SECURITY_SESSION,
          body: CreateTokenBody,
          response: {
            201: Type.Object({
              token: TokenSchema,
              secret: Type.String({ description: "pit_ + 43 base64url characters; shown once" }),
            }),
            ...adminErrors,
            409: errorResponse("An active token already has this name"),
            422: errorResponse("Invalid input (the field is named)"),
          },
        },
      },
      async (request, reply) => {
        const { agency, user } = await guards.requireAdmin(request);
        const body = request.body;
        // The token and its audit record commit together.
        const { token, secret } = await transaction(ctx.db, async (tx) => {
          const created = await createToken(tx, {
            agencyId: agency.id,
            name: body.name,
            scopes: body.scopes,
            createdBy: user.id,
          });
          const t = created.token;
          await auditRequest(tx, request, {
            action: "token.create",
            target: { type: "token", id: t.id },
            details: { name: t.name, scopes: t.scopes, prefix: t.prefix, via: "admin" },
          });
          return created;
        });
        return reply.status(201).send({ token: tokenApi(token), secret });
      },
    );

    app.delete(
      "/api/admin/tokens/:id",
      {
        schema: {
          tags: ["admin"],
          summary: "Revoke an integration token (at once; idempotent)",
          operationId: "adminRevokeToken",
          security: SECURITY_SESSION,
          params: IdParams,
          response: {
            200: Type.Object({ token: TokenSchema }),
            ...adminErrors,
            404: errorResponse("No such token in this agency"),
          },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const { id } = request.params;
        const token = await transaction(ctx.db, async (tx) => {
          const revoked = await revokeToken(tx, agency.id, id, ctx.now());
          if (revoked.changed) {
            await auditRequest(tx, request, {
              action: "token.revoke",
              target: { type: "token", id: revoked.token.id },
              details: { name: revoked.token.name, prefix: revoked.token.prefix },
            });
          }
          return revoked.token;
        });
        return { token: tokenApi(token) };
      },
    );
  };
}

// ------------------------------------------------------------------------------------------------
// The provisioning API
// ------------------------------------------------------------------------------------------------

/** What a route needs: its scope, and for writes the audit action. */
interface RouteConfig {
  scope: Scope;
  action?: "user.create" | "user.update" | "user.deactivate";
}

declare module "fastify" {
  interface FastifyRequest {
    /** The provisioning API's authenticated integration token (set by its onRequest hook). */
    integrationToken: AuthenticatedToken | null;
  }
}

/** The request's authenticated token; a route reached without one fails closed (401). */
function tokenOf(request: FastifyRequest): AuthenticatedToken {
  if (!request.integrationToken) {
    throw unauthorizedToken("An integration token is required: Authorization: Bearer <token>");
  }
  return request.integrationToken;
}

function tokenActor(token: AuthenticatedToken): Actor {
  return { type: "token", id: token.id, label: token.name };
}

function configOf(request: FastifyRequest): Partial<RouteConfig> {
  return (request.routeOptions.config ?? {}) as Partial<RouteConfig>;
}

function unauthorizedToken(message: string, error?: "invalid_token"): AppError {
  const challenge = error
    ? `Bearer realm="${REALM}", error="${error}", error_description="${message}"`
    : `Bearer realm="${REALM}"`;
  return new AppError(401, error ?? "unauthorized", message, undefined, {
    headers: { "www-authenticate": challenge },
  });
}

/** The bearer credential of a request, or null. */
function bearerOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match ? match[1]! : "";
}

function provisioningApi(ctx: AppContext) {
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.decorateRequest("integrationToken", null);
    // 1. Authentication first (onRequest, below): a request without a valid token never reaches
    //    the per-token limit, so a made-up token writes no counter of its own. Failed
    //    authentications count per client address instead (one row per IP, `refuseToken`).
    // 2. Per-token rate limit, keyed by the authenticated token's id, before the body is parsed.
    //    Counted in the database, so a cluster of nodes shares one count per token.
    await app.register(rateLimit, {
      global: true,
      hook: "preParsing",
      store: throttleTableStore(ctx),
      max: RATE_LIMIT.max,
      timeWindow: RATE_LIMIT.timeWindowMs,
      keyGenerator: (request) => `token:${request.integrationToken?.id ?? "none"}`,
      errorResponseBuilder: (_request, context) =>
        new AppError(
          429,
          "rate_limited",
          `Too many requests: at most ${context.max} a minute per token, retry in ${context.after}`,
        ),
    });

    /**
     * A refused authentication: 401, or 429 with Retry-After once the client address has failed
     * LIMITS.tokenFailuresPerIp times in the window (one counter per address, whatever the
     * tokens it made up).
     */
    const refuseToken = async (request: FastifyRequest, refusal: AppError): Promise<never> => {
      const { count, retryAfter } = await hit(
        ctx,
        `api:auth-failed:ip:${request.ip}`,
        LIMITS.tokenFailuresPerIp,
      );
      if (count > LIMITS.tokenFailuresPerIp.max) {
        throw new AppError(
          429,
          "rate_limited",
          `Too many failed authentications from this address, retry in ${retryAfter} seconds`,
          undefined,
          { headers: { "retry-after": String(retryAfter) } },
        );
      }
      throw refusal;
    };

    // 3. Authentication (onRequest), then the rate limit, then scope (preParsing), all before the
    //    body is parsed or validated: 401, then 429, then 403, then 422. The scope check is added
    //    per route after the rate limiter's own hook (onRoute hooks run in order).
    const authenticate = async (request: FastifyRequest) => {
      const secret = bearerOf(request);
      if (secret === null) {
        return refuseToken(
          request,
          unauthorizedToken("An integration token is required: Authorization: Bearer <token>"),
        );
      }
      const result = await authenticateToken(ctx.db, secret, ctx.now());
      if (!result.ok) {
        // The token's id only (a revoked one is known); never the presented secret.
        request.log.info({ reason: result.reason, tokenId: result.token?.id }, "integration token refused");
        return refuseToken(
          request,
          unauthorizedToken(
            result.reason === "revoked"
              ? "This integration token has been revoked"
              : "The integration token is invalid",
            "invalid_token",
          ),
        );
      }
      request.integrationToken = result.token;
    };
    const checkScope = async (request: FastifyRequest) => {
      const token = tokenOf(request);
      const { scope } = configOf(request);
      if (scope && !hasScope(token.scopes, scope)) {
        throw new AppError(403, "insufficient_scope", `This token lacks the ${scope} scope`, undefined, {
          headers: {
            "www-authenticate": `Bearer realm="${REALM}", error="insufficient_scope", scope="${scope}"`,
          },
        });
      }
    };
    app.addHook("onRoute", (route) => {
      route.onRequest = [...(route.onRequest ? [route.onRequest].flat() : []), authenticate];
      route.preParsing = [...(route.preParsing ? [route.preParsing].flat() : []), checkScope];
    });

    // 3. Audit: every write, successful or refused (403, 404, 409, 422), with the token as the
    //    actor. Reads are not audited — a sync job looks users up by the thousand, and the audit
    //    log is for changes an admin must be able to account for; reads are logged at debug level
    //    and leave their trace in the token's lastUsedAt.
    app.addHook("onError", async (request, _reply, error: FastifyError) => {
      const token = request.integrationToken;
      const { action } = configOf(request);
      const appError = error instanceof AppError ? error : null;
      const status = appError?.statusCode ?? (error.validation ? 422 : (error.statusCode ?? 500));
      if (!token || !action || status === 429 || status === 401) return;
      // A hook of every route of the plugin, so the params are not typed by one route's schema.
      const params: unknown = request.params;
      const userId =
        params && typeof params === "object" && "id" in params && typeof params.id === "string"
          ? params.id
          : undefined;
      await audit(ctx.db, {
        agencyId: token.agencyId,
        action,
        outcome: "failure",
        actor: tokenActor(token),
        target: userId && status !== 404 ? { type: "user", id: userId } : null,
        ip: request.ip,
        details: {
          via: "api",
          status,
          error: appError?.code ?? (error.validation ? "invalid_input" : "error"),
          ...(appError?.field ? { field: appError.field } : {}),
          ...(userId && status === 404 ? { userId } : {}),
        },
      }).catch((err) => request.log.error({ err }, "audit of a refused provisioning call failed"));
    });

    app.addHook("onResponse", async (request, reply) => {
      const token = request.integrationToken;
      if (!token || configOf(request).action) return;
      request.log.debug(
        { tokenId: token.id, tokenName: token.name, agencyId: token.agencyId, status: reply.statusCode },
        "provisioning read",
      );
    });

    /** The audit record of a successful write, committed with it (createUser/updateUser). */
    const apiEntry = (
      request: FastifyRequest,
      action: NonNullable<RouteConfig["action"]>,
      userId: string,
      details: Record<string, unknown>,
    ): AuditEntry => {
      const token = tokenOf(request);
      return {
        agencyId: token.agencyId,
        action,
        actor: tokenActor(token),
        target: { type: "user", id: userId },
        ip: request.ip,
        details: { via: "api", ...details },
      };
    };

    app.post(
      "/api/v1/users",
      {
        config: { scope: "users.write", action: "user.create" } satisfies RouteConfig,
        schema: {
          tags: ["provisioning"],
          summary: "Create a user",
          description:
            "Creates a user of the token's agency. The same email or externalUserId twice is a 409 " +
            "naming the field and the existing user's id (`error.existingUserId`), so a sync job can recover.",
          operationId: "v1CreateUser",
          security: SECURITY_TOKEN,
          body: CreateUserBody,
          response: {
            201: UserEnvelope,
            ...tokenErrors,
            409: errorResponse("email or externalUserId already taken"),
            422: errorResponse("Invalid input (the field is named)"),
          },
        },
      },
      async (request, reply) => {
        const token = tokenOf(request);
        const user = await createUser(ctx.db, token.agencyId, request.body, (u) =>
          apiEntry(request, "user.create", u.id, {
            email: u.email,
            role: u.role,
            externalUserId: u.externalUserId,
          }),
        );
        return reply.status(201).send({ user: userApi(user) });
      },
    );

    app.get(
      "/api/v1/users",
      {
        config: { scope: "users.readonly" } satisfies RouteConfig,
        schema: {
          tags: ["provisioning"],
          summary: "Find users by email or externalUserId (or list them, paged)",
          description:
            "With `email` (case-insensitive) and/or `externalUserId`: the matching users (zero or one " +
            "each, as both are unique per agency). Without either: every user, by email, paged.",
          operationId: "v1FindUsers",
          security: SECURITY_TOKEN,
          querystring: FindUsersQuery,
          response: {
            200: Type.Object({
              users: Type.Array(UserSchema),
              total: Type.Integer(),
              page: Type.Integer(),
              pageSize: Type.Integer(),
            }),
            ...tokenErrors,
            422: errorResponse("Invalid query (the parameter is named)"),
          },
        },
      },
      async (request) => {
        const token = tokenOf(request);
        const q = request.query;
        const page = q.page ?? 1;
        const pageSize = q.pageSize ?? 50;
        const { users, total } = await listUsers(ctx.db, token.agencyId, { ...q, page, pageSize });
        return { users: users.map(userApi), total, page, pageSize };
      },
    );

    app.get(
      "/api/v1/users/:id",
      {
        config: { scope: "users.readonly" } satisfies RouteConfig,
        schema: {
          tags: ["provisioning"],
          summary: "Get a user",
          operationId: "v1GetUser",
          security: SECURITY_TOKEN,
          params: IdParams,
          response: {
            200: UserEnvelope,
            ...tokenErrors,
            404: errorResponse("No such user in the token's agency"),
          },
        },
      },
      async (request) => {
        const token = tokenOf(request);
        const { id } = request.params;
        return { user: userApi(await getUser(ctx.db, token.agencyId, id)) };
      },
    );

    app.put(
      "/api/v1/users/:id",
      {
        config: { scope: "users.write", action: "user.update" } satisfies RouteConfig,
        schema: {
          tags: ["provisioning"],
          summary: "Update a user",
          description:
            "Changes the given fields. A new password or `active: false` ends the user's sessions.",
          operationId: "v1UpdateUser",
          security: SECURITY_TOKEN,
          params: IdParams,
          body: UpdateUserBody,
          response: {
            200: UserEnvelope,
            ...tokenErrors,
            404: errorResponse("No such user in the token's agency"),
            409: errorResponse("email or externalUserId already taken"),
            422: errorResponse("Invalid input (the field is named)"),
          },
        },
      },
      async (request) => {
        const token = tokenOf(request);
        const { id } = request.params;
        const input = request.body ?? {};
        const { after } = await updateUser(ctx.db, token.agencyId, id, input, ({ changed }) =>
          apiEntry(request, "user.update", id, {
            changed: input.password ? [...changed, "password"] : changed,
          }),
        );
        return { user: userApi(after) };
      },
    );

    app.delete(
      "/api/v1/users/:id",
      {
        config: { scope: "users.write", action: "user.deactivate" } satisfies RouteConfig,
        schema: {
          tags: ["provisioning"],
          summary: "Deactivate a user (ends their sessions; idempotent)",
          operationId: "v1DeactivateUser",
          security: SECURITY_TOKEN,
          params: IdParams,
          response: {
            200: UserEnvelope,
            ...tokenErrors,
            404: errorResponse("No such user in the token's agency"),
          },
        },
      },
      async (request) => {
        const token = tokenOf(request);
        const { id } = request.params;
        const { after } = await updateUser(ctx.db, token.agencyId, id, { active: false }, ({ before }) =>
          apiEntry(request, "user.deactivate", id, { wasActive: before.active }),
        );
        return { user: userApi(after) };
      },
    );
  };
}

export function provisioningRoutes(ctx: AppContext, guards: Guards) {
  return async (app: FastifyInstance) => {
    await app.register(adminTokenRoutes(ctx, guards));
    await app.register(provisioningApi(ctx));
  };
}
