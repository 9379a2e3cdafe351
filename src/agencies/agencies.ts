/** Agencies (tenants, SPEC §1): creation, lookup by whitelabel domain, and their origin. */
import { randomUUID } from "node:crypto";
import type { Db } from "../db/database.js";
import { isUniqueViolation } from "../db/database.js";
import type { Plan } from "../db/schema.js";
import { AppError, badRequest } from "../http/errors.js";

export interface Agency {
  id: string;
  name: string;
  slug: string;
  plan: Plan;
  domain: string | null;
  ssoEnabled: boolean;
  ssoHideOtherMethods: boolean;
  ssoProvisioning: "existing-users" | "allowlist";
  require2fa: boolean;
}

type AgencyRow = {
  id: string;
  name: string;
  slug: string;
  plan: Plan;
  domain: string | null;
  sso_enabled: boolean;
  sso_hide_other_methods: boolean;
  sso_provisioning: "existing-users" | "allowlist";
  require_2fa: boolean;
};

export function toAgency(row: AgencyRow): Agency {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    plan: row.plan,
    domain: row.domain,
    ssoEnabled: row.sso_enabled,
    ssoHideOtherMethods: row.sso_hide_other_methods,
    ssoProvisioning: row.sso_provisioning,
    require2fa: row.require_2fa,
  };
}

export function agencyApi(a: Agency) {
  return { id: a.id, name: a.name, slug: a.slug, plan: a.plan, domain: a.domain };
}

const AGENCY_COLUMNS = [
  "id",
  "name",
  "slug",
  "plan",
  "domain",
  "sso_enabled",
  "sso_hide_other_methods",
  "sso_provisioning",
  "require_2fa",
] as const;

export async function findAgencyByDomain(db: Db, hostname: string): Promise<Agency | null> {
  const row = await db
    .selectFrom("agencies")
    .select(AGENCY_COLUMNS)
    .where("domain", "=", hostname.toLowerCase())
    .executeTakeFirst();
  return row ? toAgency(row) : null;
}

export async function findAgencyById(db: Db, id: string): Promise<Agency | null> {
  const row = await db.selectFrom("agencies").select(AGENCY_COLUMNS).where("id", "=", id).executeTakeFirst();
  return row ? toAgency(row) : null;
}

/**
 * The agency, its row locked until the caller's transaction ends: the writes that check and change
 * an agency's SSO state (its settings, its connections' enabled state and configuration) take this
 * lock first, so each sees the others' committed result. FOR NO KEY UPDATE (the lock an UPDATE of
 * the row takes) serialises them without blocking the rows that merely reference the agency (audit
 * records, sessions: their foreign-key check takes KEY SHARE, which this lock does not conflict with).
 */
export async function lockAgency(db: Db, id: string): Promise<Agency | null> {
  if (!db.isTransaction) throw new Error("lockAgency needs a transaction");
  const row = await db
    .selectFrom("agencies")
    .select(AGENCY_COLUMNS)
    .where("id", "=", id)
    .forNoKeyUpdate()
    .executeTakeFirst();
  return row ? toAgency(row) : null;
}

export async function findAgencyBySlug(db: Db, slug: string): Promise<Agency | null> {
  const row = await db
    .selectFrom("agencies")
    .select(AGENCY_COLUMNS)
    .where("slug", "=", slug)
    .executeTakeFirst();
  return row ? toAgency(row) : null;
}

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const HOSTNAME =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function normalizeDomain(value: string): string {
  const d = value.trim().toLowerCase().replace(/\.$/, "");
  if (!HOSTNAME.test(d)) {
    throw badRequest("domain must be a hostname such as login.acme.com (no scheme, port or path)", "domain");
  }
  return d;
}

export async function createAgency(
  db: Db,
  input: { name: string; slug: string; plan: string; domain?: string | null },
): Promise<Agency> {
  const name = input.name?.trim();
  if (!name) throw badRequest("name is required", "name");
  const slug = input.slug?.trim().toLowerCase();
  if (!slug || !SLUG.test(slug)) {
    throw badRequest("slug must be lowercase letters, digits and dashes (1-63 characters)", "slug");
  }
  if (input.plan !== "starter" && input.plan !== "pro")
    throw badRequest("plan must be starter or pro", "plan");
  const domain = input.domain ? normalizeDomain(input.domain) : null;
  try {
    const row = await db
      .insertInto("agencies")
      .values({ id: randomUUID(), name, slug, plan: input.plan, domain })
      .returning(AGENCY_COLUMNS)
      .executeTakeFirstOrThrow();
    return toAgency(row);
  } catch (err) {
    if (isUniqueViolation(err, "agencies_slug_key")) {
      throw new AppError(409, "slug_taken", `An agency with slug "${slug}" already exists`, "slug");
    }
    if (isUniqueViolation(err, "agencies_domain_key")) {
      throw new AppError(409, "domain_taken", `Another agency already uses the domain ${domain}`, "domain");
    }
    throw err;
  }
}

/**
 * The agency's origin: its whitelabel domain with the scheme and port the instance is reached
 * on (SPEC §3). `reachedVia` is the URL of the current request (or PUBLIC_URL).
 */
export function agencyOrigin(domain: string, reachedVia: { protocol: string; port: string }): string {
  const scheme = reachedVia.protocol.replace(/:$/, "");
  const defaultPort = scheme === "https" ? "443" : "80";
  const port = reachedVia.port && reachedVia.port !== defaultPort ? `:${reachedVia.port}` : "";
  return `${scheme}://${domain}${port}`;
}
