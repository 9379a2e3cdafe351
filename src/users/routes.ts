/** Agency admin management of people and sub-accounts (SPEC §9 Users, §11 /api/admin/users). */
import { randomUUID } from "node:crypto";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { auditRequest, requestEntry } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import { isUniqueViolation } from "../db/database.js";
import { inTransaction, transaction } from "../db/transaction.js";
import { deleteAgencyRow } from "../http/agency-rows.js";
import { AppError, badRequest } from "../http/errors.js";
import type { Guards } from "../http/request-context.js";
import { ErrorResponse, IdParams, UserInputSchema, UserSchema } from "../http/schemas.js";
import { removeTwoFactor } from "../mfa/service.js";
import {
  createUser,
  endSessionsOfAnalystsWithoutSubAccount,
  getUser,
  listUsers,
  updateUser,
  userApi,
} from "./users.js";

const UserEnvelope = Type.Object({ user: UserSchema });
const errors = {
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  422: ErrorResponse,
};

export function adminUserRoutes(ctx: AppContext, guards: Guards) {
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook("preHandler", guards.requireAdmin);

    app.get(
      "/api/admin/users",
      {
        schema: {
          tags: ["admin"],
          summary: "List the agency's users",
          querystring: Type.Object({
            q: Type.Optional(Type.String({ maxLength: 200 })),
            page: Type.Optional(Type.Integer({ minimum: 1 })),
            pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
          }),
          response: { 200: Type.Object({ users: Type.Array(UserSchema), total: Type.Integer() }), ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const { users, total } = await listUsers(ctx.db, agency.id, request.query);
        return { users: users.map(userApi), total };
      },
    );

    app.post(
      "/api/admin/users",
      {
        schema: {
          tags: ["admin"],
          summary: "Create a user",
          body: UserInputSchema,
          response: { 201: UserEnvelope, ...errors },
        },
      },
      async (request, reply) => {
        const { agency } = await guards.requireAdmin(request);
        const user = await createUser(ctx.db, agency.id, request.body, (u) =>
          requestEntry(request, {
            action: "user.create",
            target: { type: "user", id: u.id },
            details: { email: u.email, role: u.role, via: "admin" },
          }),
        );
        return reply.status(201).send({ user: userApi(user) });
      },
    );

    app.get(
      "/api/admin/users/:id",
      {
        schema: {
          tags: ["admin"],
          summary: "Get a user",
          params: IdParams,
          response: { 200: UserEnvelope, ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        return { user: userApi(await getUser(ctx.db, agency.id, request.params.id)) };
      },
    );

    app.put(
      "/api/admin/users/:id",
      {
        schema: {
          tags: ["admin"],
          summary: "Edit a user",
          params: IdParams,
          body: Type.Object(
            { ...UserInputSchema.properties, active: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
          response: { 200: UserEnvelope, ...errors },
        },
      },
      async (request) => {
        const { agency, user: me } = await guards.requireAdmin(request);
        const { id } = request.params;
        const input = request.body;
        if (id === me.id && (input.active === false || input.role === "analyst")) {
          throw badRequest(
            "You cannot deactivate yourself or remove your own admin role",
            input.active === false ? "active" : "role",
          );
        }
        const { after } = await updateUser(ctx.db, agency.id, id, input, ({ changed }) =>
          requestEntry(request, {
            action: "user.update",
            target: { type: "user", id },
            details: { changed: input.password ? [...changed, "password"] : changed, via: "admin" },
          }),
        );
        return { user: userApi(after) };
      },
    );

    app.delete(
      "/api/admin/users/:id",
      {
        schema: {
          tags: ["admin"],
          summary: "Deactivate a user (ends their sessions)",
          params: IdParams,
          response: { 200: UserEnvelope, ...errors },
        },
      },
      async (request) => {
        const { agency, user: me } = await guards.requireAdmin(request);
        const { id } = request.params;
        if (id === me.id) throw badRequest("You cannot deactivate yourself", "id");
        const { after } = await updateUser(ctx.db, agency.id, id, { active: false }, () =>
          requestEntry(request, {
            action: "user.deactivate",
            target: { type: "user", id },
            details: { via: "admin" },
          }),
        );
        return { user: userApi(after) };
      },
    );

    app.post(
      "/api/admin/users/:id/reset-2fa",
      {
        schema: {
          tags: ["admin"],
          summary: "Reset a user's 2FA (secret, backup codes); they set it up again",
          params: IdParams,
          response: { 200: UserEnvelope, ...errors },
        },
      },
      async (request) => {
        const { agency, user: me } = await guards.requireAdmin(request);
        const { id } = request.params;
        if (id === me.id) {
          throw badRequest("Turn off your own 2FA from your account page (it needs a code)", "id");
        }
        const before = await getUser(ctx.db, agency.id, id);
        await inTransaction(ctx, async (tx) => {
          await removeTwoFactor(tx, id);
          await auditRequest(tx.db, request, {
            action: "mfa.reset",
            target: { type: "user", id },
            details: { hadTwoFactor: before.twoFactorEnabled, via: "admin" },
          });
        });
        return { user: userApi(await getUser(ctx.db, agency.id, id)) };
      },
    );

    const SubAccount = Type.Object({ id: Type.String(), name: Type.String(), memberCount: Type.Integer() });

    app.get(
      "/api/admin/sub-accounts",
      {
        schema: {
          tags: ["admin"],
          summary: "List sub-accounts",
          response: { 200: Type.Object({ subAccounts: Type.Array(SubAccount) }), ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const rows = await ctx.db
          .selectFrom("sub_accounts")
          .leftJoin("memberships", "memberships.sub_account_id", "sub_accounts.id")
          .select([
            "sub_accounts.id",
            "sub_accounts.name",
            (eb) => eb.fn.count<number>("memberships.user_id").as("memberCount"),
          ])
          .where("sub_accounts.agency_id", "=", agency.id)
          .groupBy(["sub_accounts.id", "sub_accounts.name"])
          .orderBy("sub_accounts.name")
          .execute();
        return { subAccounts: rows.map((r) => ({ ...r, memberCount: Number(r.memberCount) })) };
      },
    );

    const SubAccountBody = Type.Object(
      { name: Type.String({ minLength: 1, maxLength: 200 }) },
      { additionalProperties: false },
    );

    app.post(
      "/api/admin/sub-accounts",
      {
        schema: {
          tags: ["admin"],
          summary: "Create a sub-account",
          body: SubAccountBody,
          response: { 201: Type.Object({ subAccount: SubAccount }), ...errors },
        },
      },
      async (request, reply) => {
        const { agency } = await guards.requireAdmin(request);
        const name = request.body.name.trim();
        if (!name) throw badRequest("name is required", "name");
        const id = randomUUID();
        try {
          await transaction(ctx.db, async (tx) => {
            await tx.insertInto("sub_accounts").values({ id, agency_id: agency.id, name }).execute();
            await auditRequest(tx, request, {
              action: "sub_account.create",
              target: { type: "sub_account", id },
              details: { name },
            });
          });
        } catch (err) {
          if (isUniqueViolation(err))
            throw new AppError(409, "name_taken", "A sub-account with this name already exists", "name");
          throw err;
        }
        return reply.status(201).send({ subAccount: { id, name, memberCount: 0 } });
      },
    );

    app.delete(
      "/api/admin/sub-accounts/:id",
      {
        schema: {
          tags: ["admin"],
          summary: "Delete a sub-account",
          params: IdParams,
          response: { 204: Type.Null(), ...errors },
        },
      },
      deleteAgencyRow(ctx, guards, {
        table: "sub_accounts",
        notFound: "Sub-account not found",
        action: "sub_account.delete",
        targetType: "sub_account",
        details: (row) => ({ name: row.name }),
        // SPEC §1: its analysts who had no other sub-account are signed out.
        afterDelete: (db, agencyId) => endSessionsOfAnalystsWithoutSubAccount(db, agencyId),
      }),
    );
  };
}
