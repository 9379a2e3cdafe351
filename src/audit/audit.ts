/**
 * The audit log writer (SPEC §10): every configuration change, test, sign-in success and
 * failure (with its precise cause), break-glass use, token and user change. `details` must
 * never hold a secret, token, code or password: callers pass causes and claim NAMES only.
 */
import type { FastifyRequest } from "fastify";
import type { Db } from "../db/database.js";
import type { AuditLogTable } from "../db/schema.js";

export interface Actor {
  type: AuditLogTable["actor_type"];
  id?: string | null;
  label?: string | null;
}

export interface AuditEntry {
  agencyId: string | null;
  action: string;
  outcome?: "success" | "failure";
  actor: Actor;
  target?: { type: string; id: string } | null;
  ip?: string | null;
  details?: Record<string, unknown>;
}

export const SYSTEM: Actor = { type: "system", label: "system" };
export const ANONYMOUS: Actor = { type: "anonymous" };

/** The audit_log row of an entry (for callers that write it together with another row). */
export function auditRow(entry: AuditEntry) {
  return {
    agency_id: entry.agencyId,
    action: entry.action,
    outcome: entry.outcome ?? "success",
    actor_type: entry.actor.type,
    actor_id: entry.actor.id ?? null,
    actor_label: entry.actor.label ?? null,
    target_type: entry.target?.type ?? null,
    target_id: entry.target?.id ?? null,
    ip: entry.ip ?? null,
    details: JSON.stringify(entry.details ?? {}),
  };
}

/** Writes one audit record; `db` may be a transaction, so the record commits with its change. */
export async function audit(db: Db, entry: AuditEntry): Promise<void> {
  await db.insertInto("audit_log").values(auditRow(entry)).execute();
}

/** The signed-in user behind a request, as an audit actor. */
export function actorOf(request: FastifyRequest): Actor {
  const u = request.auth?.user;
  return u ? { type: "user", id: u.id, label: u.email } : { type: "anonymous" };
}

/** The audit entry for what the signed-in user of this request did on its agency. */
export function requestEntry(
  request: FastifyRequest,
  entry: Omit<AuditEntry, "agencyId" | "actor" | "ip">,
): AuditEntry {
  return { agencyId: request.agency?.id ?? null, actor: actorOf(request), ip: request.ip, ...entry };
}

/**
 * Writes the audit entry for what the signed-in user of this request did on its agency. `db` may
 * be a transaction (src/db/transaction.ts): the record then commits with the change it records.
 */
export async function auditRequest(
  db: Db,
  request: FastifyRequest,
  entry: Omit<AuditEntry, "agencyId" | "actor" | "ip">,
): Promise<void> {
  await audit(db, requestEntry(request, entry));
}
