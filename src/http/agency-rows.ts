/**
 * Rows an agency owns, as the admin API handles them: every lookup is scoped to the request's
 * agency, so another agency's id is the same 404 as an unknown one.
 */
import type { Static } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Kysely, Selectable } from "kysely";
import { auditRequest } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import type { Db } from "../db/database.js";
import type { Database } from "../db/schema.js";
import { transaction } from "../db/transaction.js";
import { notFound } from "./errors.js";
import { noContent } from "./replies.js";
import type { Guards } from "./request-context.js";
import type { IdParams } from "./schemas.js";

/** The tables whose rows have an `id` and belong to one agency (`agency_id`). */
export type AgencyOwnedTable = {
  [K in keyof Database]: Database[K] extends { id: unknown; agency_id: string } ? K : never;
}[keyof Database];

export interface DeleteAgencyRowSpec<K extends AgencyOwnedTable> {
  table: K;
  /** The 404 message when the agency has no such row. */
  notFound: string;
  /** The audit action, e.g. `sub_account.delete`; the target is `{ type: targetType, id }`. */
  action: string;
  targetType: string;
  /** What the audit entry records of the removed row (never a secret). */
  details?: (row: Selectable<Database[K]>) => Record<string, unknown>;
  /** What else the removal changes, in the same transaction (after the row is gone). */
  afterDelete?: (db: Db, agencyId: string) => Promise<unknown>;
}

/**
 * The handler of `DELETE …/:id` (params `IdParams`) for a row the agency owns: an admin's request
 * deletes the row `:id` of the request's agency (404 when there is none), audits it, and answers 204.
 */
export function deleteAgencyRow<K extends AgencyOwnedTable>(
  ctx: AppContext,
  guards: Guards,
  spec: DeleteAgencyRowSpec<K>,
) {
  // The query is the same for every such table; Kysely cannot type it over a union of tables.
  type OwnedDb = Kysely<{ owned: { id: string; agency_id: string } }>;
  const table = spec.table as unknown as "owned";
  return async (
    request: FastifyRequest<{ Params: Static<typeof IdParams> }>,
    reply: FastifyReply,
  ): Promise<void> => {
    const { id } = request.params;
    const agencyId = (await guards.requireAdmin(request)).agency.id;
    // The removal, what else it changes and its audit record commit together.
    await transaction(ctx.db, async (tx) => {
      const row = await (tx as unknown as OwnedDb)
        .deleteFrom(table)
        .where("id", "=", id)
        .where("agency_id", "=", agencyId)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw notFound(spec.notFound);
      if (spec.afterDelete) await spec.afterDelete(tx, agencyId);
      await auditRequest(tx, request, {
        action: spec.action,
        target: { type: spec.targetType, id },
        ...(spec.details ? { details: spec.details(row as unknown as Selectable<Database[K]>) } : {}),
      });
    });
    noContent(reply);
  };
}
