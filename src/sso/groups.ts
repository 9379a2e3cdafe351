/**
 * Groups → role, sub-accounts and access (SPEC §13), the same for every connection kind:
 *
 *   readGroups       the groups the IdP vouched for, from the claim or attribute the connection
 *                    names (`groupsField`); Entra's group overage (`hasgroups`, or the groups as
 *                    a distributed claim `_claim_names`) is a failure, never "no groups"
 *   groupGrants      what the connection's mapping table gives for those groups: the highest
 *                    role, the sub-accounts, and whether `allowedGroups` lets the person in
 *   applyGroupGrants on a sign-in, in its transaction: the role (unchanged when no group maps
 *                    one) and the memberships this connection's groups granted, recomputed;
 *                    memberships granted by hand are never touched; every change audited with
 *                    the groups that caused it
 *
 * Group values (ids or names) are not personal data: audit records, traces and the test's
 * diagnostic name them.
 */
import { type Static, Type } from "@sinclair/typebox";
import { audit } from "../audit/audit.js";
import type { Db } from "../db/database.js";
import type { Role } from "../db/schema.js";
import { OneOf } from "../http/schemas.js";
import { endSessionsOfAnalystsWithoutSubAccount } from "../users/users.js";
import { claim } from "./resolve-user.js";

/** At most this many groups are read from one sign-in (an IdP sending more is refused). */
export const MAX_GROUPS = 1000;

/** What the fix of Entra's group overage is (SPEC §13): said by the diagnostic and the audit record. */
export const OVERAGE_FIX =
  "In Entra ID, open the app registration → Token configuration → edit the groups claim and choose " +
  '"Groups assigned to the application" (then assign the groups to the enterprise application), ' +
  "or define app roles (App roles) and set the Groups Field to roles.";

export type GroupsRead =
  | { ok: true; groups: string[] }
  | { ok: false; overage: boolean; cause: string; details: Record<string, string | boolean> };

/** A group as a string: an id or name, or both of an object (`{ id, name }`, e.g. Cloudflare's). */
function groupValues(item: unknown): string[] {
  if (typeof item === "string") return item.trim() ? [item.trim()] : [];
  if (typeof item === "number" && Number.isFinite(item)) return [String(item)];
  if (item && typeof item === "object") {
    const { id, name } = item as { id?: unknown; name?: unknown };
    return [id, name]
      .filter((v): v is string => typeof v === "string" && v.trim() !== "")
      .map((v) => v.trim());
  }
  return [];
}

/**
 * The groups of the vouched claims, or null when the connection maps no groups. An absent claim is
 * no groups (an IdP omits it for a person in none); an overage or a value that is no list fails.
 */
export function readGroups(claims: Record<string, unknown>, groupsField: string | null): GroupsRead | null {
  if (!groupsField) return null;
  const names = claims._claim_names;
  const distributed =
    names && typeof names === "object" && !Array.isArray(names)
      ? [groupsField, "groups"].find((n) => Object.hasOwn(names, n))
      : undefined;
  const hasGroups = claims.hasgroups === true || claims.hasgroups === "true";
  if (distributed !== undefined || hasGroups) {
    return {
      ok: false,
      overage: true,
      cause: `group overage: the IdP sent ${
        hasGroups ? '"hasgroups"' : `the groups claim "${distributed}" as a distributed claim (_claim_names)`
      } instead of the list of groups, because the person is in too many groups. ${OVERAGE_FIX}`,
      details: { check: "group_overage", overage: hasGroups ? "hasgroups" : "_claim_names" },
    };
  }
  const value = claim(claims, groupsField);
  if (value === undefined || value === null) return { ok: true, groups: [] };
  const list = Array.isArray(value) ? value : typeof value === "string" ? [value] : null;
  if (!list) {
    return {
      ok: false,
      overage: false,
      cause: `the groups claim "${groupsField}" is not a list of groups`,
      details: { check: "groups_format" },
    };
  }
  if (list.length > MAX_GROUPS) {
    return {
      ok: false,
      overage: false,
      cause: `the groups claim "${groupsField}" holds ${list.length} groups, more than ${MAX_GROUPS}`,
      details: { check: "groups_count" },
    };
  }
  return { ok: true, groups: [...new Set(list.flatMap(groupValues))] };
}

export interface GroupMapping {
  id: string;
  group: string;
  role: Role | null;
  subAccountIds: string[];
}

/** The connection's mapping table, by group (SPEC §13). */
export async function groupMappingsOf(db: Db, connectionId: string): Promise<GroupMapping[]> {
  const rows = await db
    .selectFrom("sso_group_mappings")
    .select(["id", "group_name", "role", "sub_account_ids"])
    .where("connection_id", "=", connectionId)
    .orderBy("group_name")
    .execute();
  return rows.map((r) => ({ id: r.id, group: r.group_name, role: r.role, subAccountIds: r.sub_account_ids }));
}

export const GroupsOutcomeSchema = Type.Object(
  {
    received: Type.Array(Type.String(), { description: "The groups the IdP sent (ids or names)" }),
    matched: Type.Array(Type.String(), { description: "The received groups that the mapping table maps" }),
    role: Type.Union([Type.Null(), OneOf(["admin", "analyst"] as const)], {
      description: "The role they give (the highest); null: none, the role stays as it is",
    }),
    subAccountIds: Type.Array(Type.String(), { description: "The sub-accounts they give" }),
    allowed: Type.Boolean({ description: "The person passes the connection's allowedGroups" }),
  },
  { description: "SPEC §13: what the groups received give" },
);
export type GroupsOutcome = Static<typeof GroupsOutcomeSchema>;

const RANK: Record<Role, number> = { analyst: 1, admin: 2 };

/** SPEC §13 "only members of these groups may sign in": no list admits anyone. */
export function passesAllowedGroups(allowedGroups: readonly string[], groups: readonly string[]): boolean {
  return allowedGroups.length === 0 || allowedGroups.some((g) => groups.includes(g));
}

/** What the groups give under the mapping table (exact match on id or name) and allowedGroups. */
export function groupGrants(
  groups: readonly string[],
  mappings: readonly GroupMapping[],
  allowedGroups: readonly string[],
): GroupsOutcome & { roleGroups: string[]; subAccountGroups: Record<string, string[]> } {
  const received = new Set(groups);
  const hits = mappings.filter((m) => received.has(m.group));
  let role: Role | null = null;
  for (const m of hits) if (m.role && (!role || RANK[m.role] > RANK[role])) role = m.role;
  const subAccountGroups: Record<string, string[]> = {};
  for (const m of hits) {
    for (const s of m.subAccountIds) subAccountGroups[s] = [...(subAccountGroups[s] ?? []), m.group];
  }
  return {
    received: [...groups].sort(),
    matched: hits.map((m) => m.group).sort(),
    role,
    roleGroups: hits.filter((m) => m.role === role && role !== null).map((m) => m.group),
    subAccountIds: Object.keys(subAccountGroups).sort(),
    subAccountGroups,
    allowed: passesAllowedGroups(allowedGroups, groups),
  };
}

/** A one-line account of the groups for a trace's cause and a test's detail. */
export function describeGroups(outcome: GroupsOutcome): string {
  const received = outcome.received.length > 0 ? outcome.received.join(", ") : "none";
  const role = outcome.role ? `role ${outcome.role}` : "no role (unchanged)";
  const subs = outcome.subAccountIds.length > 0 ? outcome.subAccountIds.join(", ") : "none";
  return `groups received: ${received}; mapped: ${outcome.matched.join(", ") || "none"} → ${role}, sub-accounts: ${subs}`;
}

export interface GroupChanges {
  role: { from: Role; to: Role } | null;
  added: string[];
  removed: string[];
}

/**
 * SPEC §13, on a sign-in through the connection, in its transaction: the role becomes the highest
 * mapped one (none mapped: unchanged); the memberships this connection's groups granted become
 * exactly the mapped sub-accounts (that still exist); a membership granted by hand (or by another
 * connection's groups) is left alone. Each change is audited with the groups that caused it; an
 * analyst left without a sub-account loses their sessions (the sign-in itself is then refused).
 */
export async function applyGroupGrants(
  db: Db,
  input: {
    agencyId: string;
    connectionId: string;
    connectionName: string;
    userId: string;
    ip: string | null;
    grants: ReturnType<typeof groupGrants>;
  },
): Promise<GroupChanges> {
  const { agencyId, connectionId, userId, grants } = input;
  const actor = { type: "system" as const, label: `SSO ${input.connectionName}` };
  const target = { type: "user", id: userId };
  const user = await db
    .selectFrom("users")
    .select("role")
    .where("id", "=", userId)
    .where("agency_id", "=", agencyId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  const changes: GroupChanges = { role: null, added: [], removed: [] };
  if (grants.role && grants.role !== user.role) {
    await db
      .updateTable("users")
      .set({ role: grants.role, updated_at: new Date() })
      .where("id", "=", userId)
      .execute();
    changes.role = { from: user.role, to: grants.role };
    await audit(db, {
      agencyId,
      action: "user.update",
      actor,
      target,
      ip: input.ip,
      details: {
        via: "sso_groups",
        connectionId,
        role: changes.role,
        groups: grants.roleGroups,
        groupsReceived: grants.received,
      },
    });
  }
  const wanted =
    grants.subAccountIds.length === 0
      ? []
      : (
          await db
            .selectFrom("sub_accounts")
            .select("id")
            .where("agency_id", "=", agencyId)
            .where("id", "in", grants.subAccountIds)
            .execute()
        ).map((r) => r.id);
  const held = await db
    .selectFrom("memberships")
    .select(["sub_account_id", "source_connection_id"])
    .where("user_id", "=", userId)
    .execute();
  const heldIds = new Set(held.map((m) => m.sub_account_id));
  const wantedIds = new Set(wanted);
  changes.added = wanted.filter((s) => !heldIds.has(s)).sort();
  changes.removed = held
    .filter((m) => m.source_connection_id === connectionId && !wantedIds.has(m.sub_account_id))
    .map((m) => m.sub_account_id)
    .sort();
  if (changes.added.length > 0) {
    await db
      .insertInto("memberships")
      .values(
        changes.added.map((s) => ({
          user_id: userId,
          sub_account_id: s,
          source_connection_id: connectionId,
        })),
      )
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  if (changes.removed.length > 0) {
    await db
      .deleteFrom("memberships")
      .where("user_id", "=", userId)
      .where("source_connection_id", "=", connectionId)
      .where("sub_account_id", "in", changes.removed)
      .execute();
  }
  if (changes.added.length > 0 || changes.removed.length > 0) {
    await audit(db, {
      agencyId,
      action: "user.memberships.sync",
      actor,
      target,
      ip: input.ip,
      details: {
        via: "sso_groups",
        connectionId,
        added: changes.added.map((s) => ({ subAccountId: s, groups: grants.subAccountGroups[s] ?? [] })),
        removed: changes.removed,
        groupsReceived: grants.received,
      },
    });
  }
  if (changes.removed.length > 0 || changes.role) {
    await endSessionsOfAnalystsWithoutSubAccount(db, agencyId, [userId]);
  }
  return changes;
}
