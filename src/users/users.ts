/**
 * People (SPEC §1): one service behind the admin API, the provisioning API and the CLI, so a
 * user created by any of them is validated the same way.
 */
import { randomUUID } from "node:crypto";
import { hash, verify } from "@node-rs/argon2";
import { sql } from "kysely";
import { type AuditEntry, audit } from "../audit/audit.js";
import type { Db } from "../db/database.js";
import { isUniqueViolation } from "../db/database.js";
import type { Role } from "../db/schema.js";
import { savepoint } from "../db/transaction.js";
import { AppError, badRequest, notFound } from "../http/errors.js";

export interface User {
  id: string;
  agencyId: string;
  email: string;
  name: string;
  role: Role;
  externalUserId: string | null;
  platformLanguage: string;
  subAccountIds: string[];
  /** SPEC §13: those of subAccountIds granted by an SSO connection's groups (recomputed at sign-in). */
  groupSubAccountIds: string[];
  active: boolean;
  twoFactorEnabled: boolean;
  hasPassword: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface UserInput {
  email?: string;
  name?: string;
  role?: string;
  password?: string | null;
  externalUserId?: string | null;
  platformLanguage?: string;
  subAccountIds?: string[];
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const MIN_PASSWORD_LENGTH = 10;

export function normalizeEmail(value: unknown, field = "email"): string {
  const email = typeof value === "string" ? value.trim() : "";
  if (!email || email.length > 320 || !EMAIL.test(email))
    throw badRequest(`${field} must be an email address`, field);
  return email;
}

/** BCP 47 language tag, canonicalised (`en-us` → `en-US`). */
export function normalizeLanguage(value: unknown, field = "platformLanguage"): string {
  if (typeof value !== "string" || !value.trim())
    throw badRequest(`${field} must be a BCP 47 tag such as en or de-DE`, field);
  try {
    const [tag] = Intl.getCanonicalLocales(value.trim());
    if (!tag) throw new Error("empty");
    return tag;
  } catch {
    throw badRequest(`${field} must be a BCP 47 tag such as en or de-DE`, field);
  }
}

function normalizeRole(value: unknown): Role {
  if (value !== "admin" && value !== "analyst") throw badRequest("role must be admin or analyst", "role");
  return value;
}

function normalizeName(value: unknown): string {
  const name = typeof value === "string" ? value.trim() : "";
  if (!name || name.length > 200) throw badRequest("name is required (at most 200 characters)", "name");
  return name;
}

function normalizeExternalId(value: unknown): string | null {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value !== "string" || value.length > 512) {
    throw badRequest("externalUserId must be a string of at most 512 characters", "externalUserId");
  }
  return value.trim();
}

export async function hashPassword(password: unknown): Promise<string> {
  if (typeof password !== "string" || password.length < MIN_PASSWORD_LENGTH || password.length > 512) {
    throw badRequest(`password must be at least ${MIN_PASSWORD_LENGTH} characters`, "password");
  }
  return hash(password, { algorithm: 2 /* argon2id */ });
}

/** A fixed hash verified when no user matches, so both answers take as long (no enumeration). */
let dummyHash: Promise<string> | null = null;
export async function verifyPassword(passwordHash: string | null, password: string): Promise<boolean> {
  if (!passwordHash) {
    dummyHash ??= hash("not-a-real-password", { algorithm: 2 });
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  return verify(passwordHash, password).catch(() => false);
}

type UserRow = {
  id: string;
  agency_id: string;
  email: string;
  name: string;
  role: Role;
  external_user_id: string | null;
  platform_language: string;
  active: boolean;
  totp_enabled: boolean;
  password_hash: string | null;
  created_at: Date;
  updated_at: Date;
};

export const USER_COLUMNS = [
  "id",
  "agency_id",
  "email",
  "name",
  "role",
  "external_user_id",
  "platform_language",
  "active",
  "totp_enabled",
  "password_hash",
  "created_at",
  "updated_at",
] as const;

export function toUser(row: UserRow, subAccountIds: string[], groupSubAccountIds: string[] = []): User {
  return {
    id: row.id,
    agencyId: row.agency_id,
    email: row.email,
    name: row.name,
    role: row.role,
    externalUserId: row.external_user_id,
    platformLanguage: row.platform_language,
    subAccountIds,
    groupSubAccountIds,
    active: row.active,
    twoFactorEnabled: row.totp_enabled,
    hasPassword: row.password_hash !== null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The API shape of a user (docs/api-contract.md). */
export function userApi(u: User) {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    externalUserId: u.externalUserId,
    platformLanguage: u.platformLanguage,
    subAccountIds: u.subAccountIds,
    groupSubAccountIds: u.groupSubAccountIds,
    active: u.active,
    twoFactorEnabled: u.twoFactorEnabled,
    hasPassword: u.hasPassword,
    createdAt: u.createdAt.toISOString(),
    updatedAt: u.updatedAt.toISOString(),
  };
}

async function subAccountsOf(
  db: Db,
  userIds: string[],
): Promise<Map<string, { all: string[]; groups: string[] }>> {
  const map = new Map(userIds.map((id) => [id, { all: [] as string[], groups: [] as string[] }]));
  if (userIds.length === 0) return map;
  const rows = await db
    .selectFrom("memberships")
    .select(["user_id", "sub_account_id", "source_connection_id"])
    .where("user_id", "in", userIds)
    .orderBy("sub_account_id")
    .execute();
  for (const r of rows) {
    const entry = map.get(r.user_id);
    entry?.all.push(r.sub_account_id);
    if (r.source_connection_id !== null) entry?.groups.push(r.sub_account_id);
  }
  return map;
}

export async function withSubAccounts(db: Db, rows: UserRow[]): Promise<User[]> {
  const subs = await subAccountsOf(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => toUser(r, subs.get(r.id)?.all ?? [], subs.get(r.id)?.groups ?? []));
}

/** Users with their sub-account ids, in one query (the sign-in hot path reads a user this way). */
export function selectUsers(db: Db) {
  return db
    .selectFrom("users")
    .select(USER_COLUMNS)
    .select(
      sql<
        string[]
      >`coalesce((select json_agg(m.sub_account_id order by m.sub_account_id) from memberships m where m.user_id = users.id), '[]'::json)`.as(
        "sub_account_ids",
      ),
    )
    .select(
      sql<
        string[]
      >`coalesce((select json_agg(m.sub_account_id order by m.sub_account_id) from memberships m where m.user_id = users.id and m.source_connection_id is not null), '[]'::json)`.as(
        "group_sub_account_ids",
      ),
    );
}

/** A row of selectUsers as a User. */
export function userOf(row: UserRow & { sub_account_ids: string[]; group_sub_account_ids: string[] }): User {
  return toUser(row, row.sub_account_ids, row.group_sub_account_ids);
}

export async function getUser(db: Db, agencyId: string, id: string): Promise<User> {
  const row = await selectUsers(db).where("agency_id", "=", agencyId).where("id", "=", id).executeTakeFirst();
  if (!row) throw notFound("User not found");
  return userOf(row);
}

export async function findUserByEmail(db: Db, agencyId: string, email: string) {
  return db
    .selectFrom("users")
    .select(USER_COLUMNS)
    .where("agency_id", "=", agencyId)
    .where((eb) => eb(eb.fn("lower", ["email"]), "=", email.toLowerCase()))
    .executeTakeFirst();
}

export async function listUsers(
  db: Db,
  agencyId: string,
  filter: { q?: string; email?: string; externalUserId?: string; page?: number; pageSize?: number },
): Promise<{ users: User[]; total: number }> {
  let query = db.selectFrom("users").where("agency_id", "=", agencyId);
  if (filter.email)
    query = query.where((eb) => eb(eb.fn("lower", ["email"]), "=", filter.email!.toLowerCase()));
  if (filter.externalUserId) query = query.where("external_user_id", "=", filter.externalUserId);
  if (filter.q) {
    const like = `%${filter.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where((eb) =>
      eb.or([
        eb(eb.fn("lower", ["email"]), "like", like),
        eb(eb.fn("lower", ["name"]), "like", like),
        eb(eb.fn("lower", ["external_user_id"]), "like", like),
      ]),
    );
  }
  const pageSize = Math.min(Math.max(filter.pageSize ?? 50, 1), 200);
  const page = Math.max(filter.page ?? 1, 1);
  const [rows, count] = await Promise.all([
    query
      .select(USER_COLUMNS)
      .orderBy("email")
      .limit(pageSize)
      .offset((page - 1) * pageSize)
      .execute(),
    query.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow(),
  ]);
  return { users: await withSubAccounts(db, rows), total: Number(count.n) };
}

async function checkSubAccounts(db: Db, agencyId: string, ids: unknown): Promise<string[]> {
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string")) {
    throw badRequest("subAccountIds must be a list of sub-account ids", "subAccountIds");
  }
  const unique = [...new Set(ids as string[])];
  if (unique.length === 0) return [];
  const found = await db
    .selectFrom("sub_accounts")
    .select("id")
    .where("agency_id", "=", agencyId)
    .where("id", "in", unique)
    .execute();
  if (found.length !== unique.length)
    throw badRequest("subAccountIds names an unknown sub-account", "subAccountIds");
  return unique;
}

/** Maps unique violations to the 409 the API promises, naming the existing user. */
async function uniqueConflict(
  db: Db,
  agencyId: string,
  err: unknown,
  input: { email?: string; externalUserId?: string | null },
) {
  if (isUniqueViolation(err, "users_agency_email")) {
    const other = input.email ? await findUserByEmail(db, agencyId, input.email) : undefined;
    return new AppError(409, "email_taken", "A user with this email already exists", "email", {
      body: other ? { existingUserId: other.id } : {},
    });
  }
  if (isUniqueViolation(err, "users_agency_external_id")) {
    const other = await db
      .selectFrom("users")
      .select("id")
      .where("agency_id", "=", agencyId)
      .where("external_user_id", "=", input.externalUserId ?? "")
      .executeTakeFirst();
    return new AppError(
      409,
      "external_user_id_taken",
      "A user with this externalUserId already exists",
      "externalUserId",
      {
        body: other ? { existingUserId: other.id } : {},
      },
    );
  }
  return err;
}

/**
 * Creates a user with its memberships; `auditEntry` gives the audit record written in the same
 * transaction. Validation and the password hash happen before the transaction opens.
 */
export async function createUser(
  db: Db,
  agencyId: string,
  input: UserInput,
  auditEntry?: (user: User) => AuditEntry,
): Promise<User> {
  const email = normalizeEmail(input.email);
  const name = input.name === undefined ? email.split("@")[0]! : normalizeName(input.name);
  const role = input.role === undefined ? "analyst" : normalizeRole(input.role);
  const externalUserId = normalizeExternalId(input.externalUserId);
  const platformLanguage =
    input.platformLanguage === undefined ? "en" : normalizeLanguage(input.platformLanguage);
  const subAccountIds =
    input.subAccountIds === undefined ? [] : await checkSubAccounts(db, agencyId, input.subAccountIds);
  const passwordHash = input.password ? await hashPassword(input.password) : null;
  const id = randomUUID();
  try {
    // The user, its memberships and (given) its audit record commit together. In a savepoint, so
    // that a unique violation inside a caller's transaction still lets it answer the 409.
    return await savepoint(db, async (tx) => {
      await tx
        .insertInto("users")
        .values({
          id,
          agency_id: agencyId,
          email,
          name,
          role,
          password_hash: passwordHash,
          external_user_id: externalUserId,
          platform_language: platformLanguage,
        })
        .execute();
      if (subAccountIds.length > 0) {
        await tx
          .insertInto("memberships")
          .values(subAccountIds.map((s) => ({ user_id: id, sub_account_id: s })))
          .execute();
      }
      const user = await getUser(tx, agencyId, id);
      if (auditEntry) await audit(tx, auditEntry(user));
      return user;
    });
  } catch (err) {
    throw await uniqueConflict(db, agencyId, err, { email, externalUserId });
  }
}

/**
 * SPEC §1: an analyst needs a sub-account to sign in, so an analyst of the agency who has none
 * (of `userIds`, or anyone in the agency) is signed out: their sessions are deleted (the read
 * caches drop them through the write watcher). Run in the transaction of the change, after it.
 */
export async function endSessionsOfAnalystsWithoutSubAccount(
  db: Db,
  agencyId: string,
  userIds?: string[],
): Promise<number> {
  let analysts = db
    .selectFrom("users")
    .select("users.id")
    .where("users.agency_id", "=", agencyId)
    .where("users.role", "=", "analyst")
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom("memberships")
            .select("memberships.user_id")
            .whereRef("memberships.user_id", "=", "users.id"),
        ),
      ),
    );
  if (userIds) analysts = analysts.where("users.id", "in", userIds);
  const res = await db
    .deleteFrom("sessions")
    .where("agency_id", "=", agencyId)
    .where("user_id", "in", analysts)
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}

export async function updateUser(
  db: Db,
  agencyId: string,
  id: string,
  input: UserInput & { active?: boolean },
  auditEntry?: (change: UserChange) => AuditEntry,
): Promise<UserChange> {
  const before = await getUser(db, agencyId, id);
  const patch: Record<string, unknown> = {};
  if (input.email !== undefined) patch.email = normalizeEmail(input.email);
  if (input.name !== undefined) patch.name = normalizeName(input.name);
  if (input.role !== undefined) patch.role = normalizeRole(input.role);
  if (input.externalUserId !== undefined) patch.external_user_id = normalizeExternalId(input.externalUserId);
  if (input.platformLanguage !== undefined)
    patch.platform_language = normalizeLanguage(input.platformLanguage);
  if (input.password) patch.password_hash = await hashPassword(input.password);
  if (input.active !== undefined) patch.active = input.active;
  const subAccountIds =
    input.subAccountIds === undefined ? undefined : await checkSubAccounts(db, agencyId, input.subAccountIds);
  const changed = Object.keys(patch).filter((k) => k !== "password_hash");
  try {
    // The change, the sessions it ends and (given) its audit record commit together.
    return await savepoint(db, async (tx) => {
      if (Object.keys(patch).length > 0) {
        await tx
          .updateTable("users")
          .set({ ...patch, updated_at: new Date() })
          .where("id", "=", id)
          .where("agency_id", "=", agencyId)
          .execute();
      }
      if (subAccountIds !== undefined) {
        // The list replaces the memberships; one kept keeps its source (SPEC §13: a group-granted
        // membership sent back unchanged stays the groups', recomputed at the next sign-in).
        let gone = tx.deleteFrom("memberships").where("user_id", "=", id);
        if (subAccountIds.length > 0) gone = gone.where("sub_account_id", "not in", subAccountIds);
        await gone.execute();
        if (subAccountIds.length > 0) {
          await tx
            .insertInto("memberships")
            .values(subAccountIds.map((s) => ({ user_id: id, sub_account_id: s })))
            .onConflict((oc) => oc.doNothing())
            .execute();
        }
      }
      // SPEC §1: an analyst left without a sub-account (memberships replaced, or made an analyst)
      // may not sign in, so their sessions end with the change.
      if (subAccountIds !== undefined || patch.role !== undefined) {
        await endSessionsOfAnalystsWithoutSubAccount(tx, agencyId, [id]);
      }
      // Password change and deactivation end every session of the user (SPEC §2).
      if (patch.password_hash !== undefined || patch.active === false) {
        await tx.deleteFrom("sessions").where("user_id", "=", id).execute();
        await tx.deleteFrom("mfa_challenges").where("user_id", "=", id).execute();
      }
      const change = { before, after: await getUser(tx, agencyId, id), changed };
      if (auditEntry) await audit(tx, auditEntry(change));
      return change;
    });
  } catch (err) {
    throw await uniqueConflict(db, agencyId, err, {
      email: patch.email as string | undefined,
      externalUserId: patch.external_user_id as string | null | undefined,
    });
  }
}

export interface UserChange {
  before: User;
  after: User;
  /** The columns changed (the password hash is not named). */
  changed: string[];
}
