/**
 * SSO connections (SPEC §3): validation of what an admin enters, per type with its defaults,
 * storage (the client secret sealed with AES-256-GCM, bound to the connection id), and the
 * lifecycle rules of SPEC §7 — any change expires the tests and disables the connection, and
 * when no enabled connection remains the agency's Enable SSO and Hide other login methods go off.
 */
import { randomUUID } from "node:crypto";
import type { Selectable } from "kysely";
import { type Agency, lockAgency } from "../agencies/agencies.js";
import type { AppContext } from "../context.js";
import type { Db } from "../db/database.js";
import { type ReadCache, readCachesOf } from "../db/read-cache.js";
import type { SsoConnectionsTable } from "../db/schema.js";
import { AppError, notFound } from "../http/errors.js";
import type { NormalizedConnection } from "./kinds/fields.js";

type Row = Selectable<SsoConnectionsTable>;

/** SPEC §3 prerequisites: the reasons SSO is not available to the agency (empty when it is). */
export function prerequisiteProblems(agency: Agency): string[] {
  const reasons: string[] = [];
  if (agency.plan !== "pro") reasons.push("Your agency must be on the Pro plan to use SSO.");
  if (!agency.domain) reasons.push("A whitelabel domain must be configured before SSO can be set up.");
  return reasons;
}

/** SSO signs people in only while enabled AND the prerequisites still hold (a downgrade stops it). */
export function ssoLive(agency: Agency): boolean {
  return agency.ssoEnabled && prerequisiteProblems(agency).length === 0;
}

/** SPEC §2: other login methods are hidden only while SSO is live. */
export function otherMethodsHidden(agency: Agency): boolean {
  return ssoLive(agency) && agency.ssoHideOtherMethods;
}

export function assertPrerequisites(agency: Agency): void {
  const reasons = prerequisiteProblems(agency);
  if (reasons.length > 0) throw new AppError(409, "sso_unavailable", reasons.join(" "));
}

/**
 * The connections cache of one application context (ctx.connectionsCache), on its clock; cleared
 * by every write to sso_connections through the database handle's read caches.
 */
export function createConnectionsCache(db: Db, now: () => Date): ReadCache<Row[]> {
  return readCachesOf(db).create<Row[]>(["sso_connections"], () => now().getTime());
}

/**
 * The agency's SSO connections, oldest first, through this node's read cache (cleared by every
 * write to sso_connections on this node; other nodes see a change within READ_CACHE_TTL_MS). The
 * rows are shared: callers must not modify them.
 */
export function agencyConnections(ctx: AppContext, agencyId: string): Promise<Row[]> {
  // Inside a transaction, read what the transaction sees (and cache nothing it may roll back).
  if (ctx.db.isTransaction) return connectionsOf(ctx.db, agencyId);
  return ctx.connectionsCache.through(agencyId, () => connectionsOf(ctx.db, agencyId));
}

function connectionsOf(db: Db, agencyId: string): Promise<Row[]> {
  return db
    .selectFrom("sso_connections")
    .selectAll()
    .where("agency_id", "=", agencyId)
    .orderBy("created_at")
    .execute();
}

export async function getConnectionRow(db: Db, agencyId: string, id: string): Promise<Row> {
  const row = await db
    .selectFrom("sso_connections")
    .selectAll()
    .where("agency_id", "=", agencyId)
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) throw notFound("SSO connection not found");
  return row;
}

export function rowValues(v: NormalizedConnection) {
  return {
    ...v,
    scopes: JSON.stringify(v.scopes),
    mapping: JSON.stringify(v.mapping),
    allowed_groups: JSON.stringify(v.allowed_groups),
    saml_certificates: v.saml_certificates === null ? null : JSON.stringify(v.saml_certificates),
  };
}

/** JSON with object keys sorted: jsonb columns come back with their keys in another order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

/** True when the stored configuration differs from the normalized input (ignoring the secret). */
export function configChanged(row: Row, v: NormalizedConnection): boolean {
  const keys = Object.keys(v) as Array<keyof NormalizedConnection>;
  return keys.some((k) => canonical(row[k as keyof Row]) !== canonical(v[k]));
}

/** The configuration's URLs: where the flow's requests go, the token endpoint's (with the secret) among them. */
const ENDPOINT_FIELDS = [
  "discovery_url",
  "issuer",
  "authorization_endpoint",
  "token_endpoint",
  "userinfo_endpoint",
  "jwks_uri",
] as const;

function endpointOrigins(v: Pick<NormalizedConnection, (typeof ENDPOINT_FIELDS)[number]>): Set<string> {
  const origins = new Set<string>();
  for (const field of ENDPOINT_FIELDS) {
    const value = v[field];
    if (!value) continue;
    try {
      origins.add(new URL(value).origin);
    } catch {
      // An issuer need not be a URL; nothing is sent to it.
    }
  }
  return origins;
}

/**
 * The hosts (origins: scheme, host and port) an edited configuration sends requests to that the
 * stored one did not. A stored client secret is kept only while this is empty: an edit that points
 * a connection at a new host must be given the secret again, or the next test would hand the
 * stored secret to whoever answers there. A new path on the same host keeps it.
 */
export function newEndpointHosts(row: Row, next: NormalizedConnection): string[] {
  const before = endpointOrigins(row);
  return [...endpointOrigins(next)].filter((origin) => !before.has(origin)).map((o) => new URL(o).host);
}

export function newConnectionId(): string {
  return randomUUID();
}

/**
 * SPEC §7: a changed or disabled connection leaves SSO on only while another enabled connection
 * remains; otherwise the agency's Enable SSO and Hide other login methods turn off. Runs in the
 * caller's transaction, which holds the agency's lock (lockAgency, taken before any connection
 * write so that every path locks in the same order); taken here again, it is a no-op then.
 */
export async function settleAgencySettings(db: Db, agencyId: string): Promise<boolean> {
  await lockAgency(db, agencyId);
  const enabled = await db
    .selectFrom("sso_connections")
    .select("id")
    .where("agency_id", "=", agencyId)
    .where("enabled", "=", true)
    .limit(1)
    .execute();
  if (enabled.length > 0) return false;
  const res = await db
    .updateTable("agencies")
    .set({ sso_enabled: false, sso_hide_other_methods: false, updated_at: new Date() })
    .where("id", "=", agencyId)
    .where((eb) => eb.or([eb("sso_enabled", "=", true), eb("sso_hide_other_methods", "=", true)]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** AAD for the sealed client secret: a ciphertext only opens for its own connection. */
export const secretAad = (connectionId: string) => `sso_connection:${connectionId}:client_secret`;

export function connectionSecret(ctx: AppContext, row: Row): string | null {
  return row.client_secret_enc ? ctx.secretBox.decrypt(row.client_secret_enc, secretAad(row.id)) : null;
}
