/**
 * The group mappings of a connection (SPEC §13), for agency admins:
 * `GET/POST …/connections/:id/group-mappings`, `PUT/DELETE …/group-mappings/:mappingId`.
 * A row maps one group (its id or name, matched exactly) to a role and/or sub-accounts of the
 * agency; the same group twice on a connection is a 409, an unknown sub-account a 422 naming the
 * field. Changes apply from the next sign-in through the connection; every change is audited.
 */
import { randomUUID } from "node:crypto";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { auditRequest } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import { type Db, isUniqueViolation } from "../db/database.js";
import type { Role } from "../db/schema.js";
import { transaction } from "../db/transaction.js";
import { AppError, badRequest, notFound } from "../http/errors.js";
import { noContent } from "../http/replies.js";
import type { Guards } from "../http/request-context.js";
import { ErrorResponse, IdParams, OneOf } from "../http/schemas.js";
import { getConnectionRow } from "./connections.js";

/** At most this many mappings per connection, and sub-accounts per mapping. */
export const MAX_GROUP_MAPPINGS = 500;
const MAX_SUB_ACCOUNTS = 200;

/** A role or null (an enum of strings with `type: ["null", …]` would refuse the null). */
const NullableRole = Type.Union([Type.Null(), OneOf(["admin", "analyst"] as const)]);

const GroupMappingSchema = Type.Object({
  id: Type.String(),
  connectionId: Type.String(),
  group: Type.String({ description: "The group's id or name as the IdP sends it (exact match)" }),
  role: NullableRole,
  subAccountIds: Type.Array(Type.String()),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
});

const GroupMappingInput = Type.Object(
  {
    group: Type.String({ maxLength: 256 }),
    role: Type.Optional(NullableRole),
    subAccountIds: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: MAX_SUB_ACCOUNTS })),
  },
  { additionalProperties: false },
);

const MappingParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  mappingId: Type.String({ minLength: 1, maxLength: 64 }),
});

const errors = {
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  422: ErrorResponse,
};

type MappingRow = {
  id: string;
  connection_id: string;
  group_name: string;
  role: Role | null;
  sub_account_ids: string[];
  created_at: Date;
  updated_at: Date;
};

function mappingApi(r: MappingRow): Static<typeof GroupMappingSchema> {
  return {
    id: r.id,
    connectionId: r.connection_id,
    group: r.group_name,
    role: r.role,
    subAccountIds: r.sub_account_ids,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** The input checked: a group, and a role or at least one sub-account of the agency. */
async function checkInput(db: Db, agencyId: string, body: Static<typeof GroupMappingInput>) {
  const group = body.group.trim();
  if (!group) throw badRequest("group is required", "group");
  const role = body.role ?? null;
  const subAccountIds = [...new Set(body.subAccountIds ?? [])];
  if (!role && subAccountIds.length === 0) {
    throw badRequest("A group mapping gives a role, sub-accounts or both", "role");
  }
  if (subAccountIds.length > 0) {
    const found = await db
      .selectFrom("sub_accounts")
      .select("id")
      .where("agency_id", "=", agencyId)
      .where("id", "in", subAccountIds)
      .execute();
    if (found.length !== subAccountIds.length) {
      const known = new Set(found.map((f) => f.id));
      const unknown = subAccountIds.filter((s) => !known.has(s));
      throw badRequest(`subAccountIds names an unknown sub-account: ${unknown.join(", ")}`, "subAccountIds");
    }
  }
  return { group, role, subAccountIds: subAccountIds.sort() };
}

function duplicate(err: unknown): unknown {
  return isUniqueViolation(err)
    ? new AppError(409, "group_mapped", "This group already has a mapping on this connection", "group")
    : err;
}

const COLUMNS = [
  "id",
  "connection_id",
  "group_name",
  "role",
  "sub_account_ids",
  "created_at",
  "updated_at",
] as const;

export function groupMappingRoutes(ctx: AppContext, guards: Guards) {
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook("preHandler", guards.requireAdmin);
    const base = "/api/admin/sso/connections/:id/group-mappings";

    app.get(
      base,
      {
        schema: {
          tags: ["sso admin"],
          summary: "The connection's group mappings (SPEC §13)",
          params: IdParams,
          response: { 200: Type.Object({ groupMappings: Type.Array(GroupMappingSchema) }), ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const row = await getConnectionRow(ctx.db, agency.id, request.params.id);
        const rows = await ctx.db
          .selectFrom("sso_group_mappings")
          .select(COLUMNS)
          .where("agency_id", "=", agency.id)
          .where("connection_id", "=", row.id)
          .orderBy("group_name")
          .execute();
        return { groupMappings: rows.map(mappingApi) };
      },
    );

    app.post(
      base,
      {
        schema: {
          tags: ["sso admin"],
          summary: "Map a group to a role and/or sub-accounts (409 when the group has a mapping)",
          params: IdParams,
          body: GroupMappingInput,
          response: { 201: Type.Object({ groupMapping: GroupMappingSchema }), ...errors },
        },
      },
      async (request, reply) => {
        const { agency } = await guards.requireAdmin(request);
        const row = await getConnectionRow(ctx.db, agency.id, request.params.id);
        const value = await checkInput(ctx.db, agency.id, request.body);
        const id = randomUUID();
        try {
          const created = await transaction(ctx.db, async (tx) => {
            const count = await tx
              .selectFrom("sso_group_mappings")
              .select((eb) => eb.fn.countAll<number>().as("n"))
              .where("connection_id", "=", row.id)
              .executeTakeFirstOrThrow();
            if (Number(count.n) >= MAX_GROUP_MAPPINGS) {
              throw badRequest(`A connection has at most ${MAX_GROUP_MAPPINGS} group mappings`, "group");
            }
            const r = await tx
              .insertInto("sso_group_mappings")
              .values({
                id,
                agency_id: agency.id,
                connection_id: row.id,
                group_name: value.group,
                role: value.role,
                sub_account_ids: JSON.stringify(value.subAccountIds),
              })
              .returning(COLUMNS)
              .executeTakeFirstOrThrow();
            await auditRequest(tx, request, {
              action: "sso.group_mapping.create",
              target: { type: "sso_connection", id: row.id },
              details: { mappingId: id, ...value },
            });
            return r;
          });
          return reply.status(201).send({ groupMapping: mappingApi(created) });
        } catch (err) {
          throw duplicate(err);
        }
      },
    );

    app.put(
      `${base}/:mappingId`,
      {
        schema: {
          tags: ["sso admin"],
          summary: "Change a group mapping",
          params: MappingParams,
          body: GroupMappingInput,
          response: { 200: Type.Object({ groupMapping: GroupMappingSchema }), ...errors },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const row = await getConnectionRow(ctx.db, agency.id, request.params.id);
        const value = await checkInput(ctx.db, agency.id, request.body);
        try {
          const updated = await transaction(ctx.db, async (tx) => {
            const before = await tx
              .selectFrom("sso_group_mappings")
              .select(COLUMNS)
              .where("agency_id", "=", agency.id)
              .where("connection_id", "=", row.id)
              .where("id", "=", request.params.mappingId)
              .forUpdate()
              .executeTakeFirst();
            if (!before) throw notFound("Group mapping not found");
            const r = await tx
              .updateTable("sso_group_mappings")
              .set({
                group_name: value.group,
                role: value.role,
                sub_account_ids: JSON.stringify(value.subAccountIds),
                updated_at: new Date(),
              })
              .where("id", "=", before.id)
              .returning(COLUMNS)
              .executeTakeFirstOrThrow();
            await auditRequest(tx, request, {
              action: "sso.group_mapping.update",
              target: { type: "sso_connection", id: row.id },
              details: {
                mappingId: before.id,
                before: {
                  group: before.group_name,
                  role: before.role,
                  subAccountIds: before.sub_account_ids,
                },
                after: value,
              },
            });
            return r;
          });
          return { groupMapping: mappingApi(updated) };
        } catch (err) {
          throw duplicate(err);
        }
      },
    );

    app.delete(
      `${base}/:mappingId`,
      {
        schema: {
          tags: ["sso admin"],
          summary: "Remove a group mapping (its grants go at the person's next sign-in)",
          params: MappingParams,
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (request, reply) => {
        const { agency } = await guards.requireAdmin(request);
        const row = await getConnectionRow(ctx.db, agency.id, request.params.id);
        await transaction(ctx.db, async (tx) => {
          const gone = await tx
            .deleteFrom("sso_group_mappings")
            .where("agency_id", "=", agency.id)
            .where("connection_id", "=", row.id)
            .where("id", "=", request.params.mappingId)
            .returning(["id", "group_name", "role", "sub_account_ids"])
            .executeTakeFirst();
          if (!gone) throw notFound("Group mapping not found");
          await auditRequest(tx, request, {
            action: "sso.group_mapping.delete",
            target: { type: "sso_connection", id: row.id },
            details: {
              mappingId: gone.id,
              group: gone.group_name,
              role: gone.role,
              subAccountIds: gone.sub_account_ids,
            },
          });
        });
        noContent(reply);
      },
    );
  };
}
