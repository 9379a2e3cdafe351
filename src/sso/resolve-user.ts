/**
 * From an IdP's claims to a CoPilot user (SPEC §4 steps 4–5), shared by OIDC and Cloudflare:
 *
 *   mapIdentity   the connection's mapping applied to the claims: Remote ID, email and whether
 *                 it is verified, the optional CoPilot id, the name
 *   resolveUser   within the connection's agency: by this connection's link of the Remote ID;
 *                 else by externalUserId = Remote ID while no connection has linked it; else by
 *                 the id field; else by email (case-insensitive), then the Remote ID is linked to
 *                 this connection (table sso_identities). A Remote-ID match with a changed email
 *                 updates the email (unless another user of the agency holds it). The provisioning policy decides who may sign
 *                 in: `existing-users` creates nobody; `allowlist` admits listed emails only and
 *                 creates a listed person on first sign-in — exactly once under concurrency.
 */
import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { Agency } from "../agencies/agencies.js";
import type { AppContext } from "../context.js";
import { isUniqueViolation } from "../db/database.js";
import type { ConnectionMapping, Role } from "../db/schema.js";
import { savepoint } from "../db/transaction.js";
import { findUserByEmail, selectUsers, type User, userOf } from "../users/users.js";
import type { SsoErrorCode } from "./messages.js";

export interface Identity {
  remoteId: string;
  email: string | null;
  idFieldValue: string | null;
  name: string | null;
}

export type MappingResult =
  | { ok: true; identity: Identity }
  | {
      ok: false;
      code: Extract<SsoErrorCode, "remote_id_missing" | "email_not_verified" | "email_or_id_missing">;
      cause: string;
    };

/** A claim by name; dotted names reach into objects (`address.email`). */
export function claim(claims: Record<string, unknown>, name: string | null): unknown {
  if (!name) return undefined;
  if (name in claims) return claims[name];
  return name
    .split(".")
    .reduce<unknown>(
      (v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined),
      claims,
    );
}

function asText(v: unknown): string | null {
  if (typeof v === "string" && v.trim()) return v.trim();
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return null;
}

/**
 * SPEC §3: verified when the claim is boolean true or the string "true"; when the field names a
 * claim that is not a boolean (seed 000's Azure guide maps it to `email`), a present, non-empty
 * value counts as verified.
 */
export function isEmailVerified(value: unknown): boolean {
  if (typeof value === "boolean") return value;
  if (typeof value === "string") {
    const v = value.trim().toLowerCase();
    if (v === "false") return false;
    return v.length > 0;
  }
  return false;
}

/** The claims mapIdentity reads with this mapping (the email-verified one only with an email). */
export function mappedClaims(mapping: ConnectionMapping): (string | null)[] {
  const { remoteIdField, idField, emailField, emailVerifiedField, nameField } = mapping;
  return [remoteIdField, idField, emailField, emailField ? emailVerifiedField : null, nameField];
}

export function mapIdentity(claims: Record<string, unknown>, mapping: ConnectionMapping): MappingResult {
  const remoteId = asText(claim(claims, mapping.remoteIdField));
  if (!remoteId) {
    return {
      ok: false,
      code: "remote_id_missing",
      cause: `the Remote ID claim "${mapping.remoteIdField}" is missing`,
    };
  }
  const email = asText(claim(claims, mapping.emailField));
  const idFieldValue = asText(claim(claims, mapping.idField));
  const name = asText(claim(claims, mapping.nameField));
  if (email) {
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
      return {
        ok: false,
        code: "email_or_id_missing",
        cause: `the email claim "${mapping.emailField}" is not an email address`,
      };
    }
    const verified = claim(claims, mapping.emailVerifiedField);
    if (!isEmailVerified(verified)) {
      return {
        ok: false,
        code: "email_not_verified",
        cause: `the email-verified claim "${mapping.emailVerifiedField}" is ${verified === undefined ? "missing" : "false"}`,
      };
    }
  } else if (!idFieldValue) {
    return {
      ok: false,
      code: "email_or_id_missing",
      cause: `the email claim "${mapping.emailField ?? "(not mapped)"}" is missing and the id claim "${mapping.idField ?? "(not mapped)"}" gives nothing`,
    };
  }
  return { ok: true, identity: { remoteId, email, idFieldValue, name } };
}

export type Resolution =
  | {
      ok: true;
      userId: string;
      /** The matched user as it is now (absent for a user created or re-read after a race). */
      user?: User;
      /**
       * `remote_id`: this connection's link; `external_id`: the user's externalUserId, not yet
       * linked by any connection (now linked to this one); `id_field`, `email`; `created`.
       */
      how: "remote_id" | "external_id" | "id_field" | "email" | "created";
      emailUpdated: boolean;
      linked: boolean;
    }
  | {
      ok: false;
      code: Extract<SsoErrorCode, "user_not_found" | "email_not_allowed" | "email_or_id_missing">;
      cause: string;
    };

/**
 * Whether signing in on this resolution (a dry run's) writes nothing about the user: the Remote
 * ID is already this connection's link and the IdP's email is the stored one (a non-dry run would
 * then insert no link and update no column). Such a sign-in needs no transaction: its only
 * writes, the session and its audit record, are one statement (finish.ts).
 */
export function changesNothing(
  r: Resolution,
  identity: Identity,
): r is Extract<Resolution, { ok: true }> & { user: User } {
  return (
    r.ok &&
    r.how === "remote_id" &&
    !r.linked &&
    r.user !== undefined &&
    (!identity.email || identity.email.toLowerCase() === r.user.email.toLowerCase())
  );
}

async function allowedEntry(
  ctx: AppContext,
  agencyId: string,
  email: string,
): Promise<{ role: Role } | undefined> {
  return ctx.db
    .selectFrom("sso_allowed_emails")
    .select("role")
    .where("agency_id", "=", agencyId)
    .where((eb) => eb(eb.fn("lower", ["email"]), "=", email.toLowerCase()))
    .executeTakeFirst();
}

/** The user's SSO links (connection, Remote ID), over all of the agency's connections. */
function linksOf(ctx: AppContext, userId: string) {
  return ctx.db
    .selectFrom("sso_identities")
    .select(["connection_id", "remote_id"])
    .where("user_id", "=", userId)
    .execute();
}

type Links = Awaited<ReturnType<typeof linksOf>>;

/**
 * The user's externalUserId while it still names the user to every connection: set, and no
 * connection has linked it yet. Once one connection has linked it, it is that connection's.
 */
function pendingExternalId(user: { external_user_id: string | null }, links: Links): string | null {
  const id = user.external_user_id;
  return id && !links.some((l) => l.remote_id === id) ? id : null;
}

/**
 * Finds (and, outside a dry run, links, updates or creates) the user for an identity vouched for
 * by `connectionId`'s IdP. A dry run (the configuration test of SPEC §7) changes nothing and
 * reports whom the identity matches. A sign-in calls it on a transaction (`ctx.db`), which then
 * writes the audit record and the session: a user is never created or linked without them.
 *
 * Remote IDs are per connection (README "SSO links"): the Remote ID finds the user this
 * connection linked it to — never a link of another connection. A user's externalUserId (set by an
 * admin or the provisioning API, or by the user's first SSO link) counts as the Remote ID for any
 * of the agency's connections as long as no connection has linked it; the first connection that
 * signs the user in with it links it, and from then on only that connection's link finds the user
 * by that value.
 */
export async function resolveUser(
  ctx: AppContext,
  agency: Agency,
  connectionId: string,
  identity: Identity,
  options: { dryRun: boolean },
): Promise<Resolution> {
  const db = ctx.db;

  // The allowlist policy admits listed emails only (seed 003), whoever they match.
  let allowed: { role: Role } | undefined;
  if (agency.ssoProvisioning === "allowlist") {
    if (!identity.email)
      return {
        ok: false,
        code: "email_not_allowed",
        cause: "the IdP gave no email to check against the allowed list",
      };
    allowed = await allowedEntry(ctx, agency.id, identity.email);
    if (!allowed)
      return {
        ok: false,
        code: "email_not_allowed",
        cause: `${identity.email} is not on the SSO allowed emails list`,
      };
  }

  const users = selectUsers(db).where("agency_id", "=", agency.id);
  const linkedUser = (remoteId: string) =>
    users
      .where("id", "=", (eb) =>
        eb
          .selectFrom("sso_identities")
          .select("user_id")
          .where("connection_id", "=", connectionId)
          .where("remote_id", "=", remoteId),
      )
      .executeTakeFirst();

  // One statement finds both Remote-ID candidates: the user this connection linked the Remote ID
  // to, and a user whose externalUserId it is — usable only while no connection has linked that
  // externalUserId and this connection has no other link for the user.
  const R = identity.remoteId;
  const candidates = await users
    .select([
      sql<boolean>`exists (select 1 from sso_identities l where l.user_id = users.id
        and l.connection_id = ${connectionId} and l.remote_id = ${R})`.as("own_link"),
      sql<boolean>`exists (select 1 from sso_identities l where l.user_id = users.id
        and (l.connection_id = ${connectionId} or l.remote_id = users.external_user_id))`.as(
        "external_id_taken",
      ),
    ])
    .where((eb) =>
      eb.or([
        eb(
          "id",
          "=",
          eb
            .selectFrom("sso_identities")
            .select("user_id")
            .where("connection_id", "=", connectionId)
            .where("remote_id", "=", R),
        ),
        eb("external_user_id", "=", R),
      ]),
    )
    .execute();
  let how: "remote_id" | "external_id" | "id_field" | "email" = "remote_id";
  let found:
    | (typeof candidates)[number]
    | Omit<(typeof candidates)[number], "own_link" | "external_id_taken">
    | undefined = candidates.find((c) => c.own_link);
  // Whether the user already has this very link.
  const ownLink = found !== undefined;
  if (!found) {
    found = candidates.find((c) => !c.external_id_taken);
    if (found) how = "external_id";
  }
  if (!found && identity.idFieldValue) {
    how = "id_field";
    found = await users.where("id", "=", identity.idFieldValue).executeTakeFirst();
  }
  if (!found && identity.email) {
    how = "email";
    found = await users
      .where((eb) => eb(eb.fn("lower", ["email"]), "=", identity.email!.toLowerCase()))
      .executeTakeFirst();
  }

  if (found && (how === "id_field" || how === "email")) {
    const links = await linksOf(ctx, found.id);
    // A user this connection linked to another Remote ID, or whose externalUserId (not linked by
    // any connection yet) is another Remote ID, is never taken over by email or id claim.
    if (links.some((l) => l.connection_id === connectionId)) {
      return {
        ok: false,
        code: "user_not_found",
        cause:
          how === "email"
            ? `${identity.email} belongs to a user linked to another Remote ID`
            : "the id claim names a user linked to another Remote ID",
      };
    }
    const pending = pendingExternalId(found, links);
    if (pending && pending !== identity.remoteId) {
      return {
        ok: false,
        code: "user_not_found",
        cause:
          how === "email"
            ? `${identity.email} belongs to a user with another externalUserId`
            : "the id claim names a user with another externalUserId",
      };
    }
  }

  if (found) {
    const linked = !ownLink;
    let emailUpdated = false;
    let externalIdSet = false;
    if (!options.dryRun) {
      if (linked) {
        const link = await insertLink(ctx, agency.id, connectionId, identity.remoteId, found.id);
        if (!link.ok) return link;
      }
      const patch: { external_user_id?: string; email?: string } = {};
      // The first link also fills an empty externalUserId (what the API and the account page show)
      // when no other user of the agency holds that value.
      if (linked && !found.external_user_id) {
        const holder = await users.where("external_user_id", "=", identity.remoteId).executeTakeFirst();
        if (!holder) patch.external_user_id = identity.remoteId;
      }
      // SPEC §4 step 4: the IdP's email follows, for a user this connection links or had linked
      // (Remote ID) or that the id claim names — never for one it matched by email.
      if (how !== "email" && identity.email && identity.email.toLowerCase() !== found.email.toLowerCase()) {
        const holder = await findUserByEmail(db, agency.id, identity.email);
        if (!holder) patch.email = identity.email;
      }
      if (Object.keys(patch).length > 0) {
        try {
          await savepoint(db, (tx) =>
            tx
              .updateTable("users")
              .set({ ...patch, updated_at: new Date() })
              .where("id", "=", found.id)
              .execute(),
          );
          emailUpdated = patch.email !== undefined;
          externalIdSet = patch.external_user_id !== undefined;
        } catch (err) {
          // A concurrent sign-in took the value first: keep what is stored.
          if (!isUniqueViolation(err)) throw err;
        }
      }
    }
    const user = userOf(found);
    if (externalIdSet) user.externalUserId = identity.remoteId;
    if (emailUpdated) user.email = identity.email!;
    return { ok: true, userId: found.id, user, how, emailUpdated, linked };
  }

  if (agency.ssoProvisioning !== "allowlist" || !allowed || !identity.email) {
    return {
      ok: false,
      code: identity.email ? "user_not_found" : "email_or_id_missing",
      cause: identity.email
        ? `no user matches Remote ID or ${identity.email}`
        : "no user matches the Remote ID or the id claim",
    };
  }
  if (options.dryRun) {
    return {
      ok: false,
      code: "user_not_found",
      cause: `${identity.email} is allowed; the user will be created at first sign-in`,
    };
  }
  // First sign-in of an allowed email: create the user with the list's role, linked to this
  // connection. Two simultaneous first sign-ins race on the unique (agency, email) index and the
  // link's key; the loser reads the winner's row. The caller's transaction goes on writing the
  // audit record and the session, so the inserts run in a savepoint: the loser's unique violation
  // must not abort it (on PostgreSQL the loser's insert waits for the winner's transaction, then
  // fails and reads the committed row).
  const id = randomUUID();
  const email = identity.email;
  const externalIdFree = !(await users.where("external_user_id", "=", identity.remoteId).executeTakeFirst());
  try {
    await savepoint(db, async (tx) => {
      await tx
        .insertInto("users")
        .values({
          id,
          agency_id: agency.id,
          email,
          name: identity.name ?? email.split("@")[0]!,
          role: allowed.role,
          external_user_id: externalIdFree ? identity.remoteId : null,
        })
        .execute();
      await tx
        .insertInto("sso_identities")
        .values({
          agency_id: agency.id,
          connection_id: connectionId,
          remote_id: identity.remoteId,
          user_id: id,
        })
        .execute();
    });
    return { ok: true, userId: id, how: "created", emailUpdated: false, linked: true };
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const winner = await linkedUser(identity.remoteId);
    if (!winner)
      return {
        ok: false,
        code: "user_not_found",
        cause: `${identity.email} is held by a user linked to another Remote ID`,
      };
    return { ok: true, userId: winner.id, how: "remote_id", emailUpdated: false, linked: false };
  }
}

/** Links (connection, Remote ID) to the user; a concurrent link of the same pair is no conflict. */
async function insertLink(
  ctx: AppContext,
  agencyId: string,
  connectionId: string,
  remoteId: string,
  userId: string,
): Promise<{ ok: true } | Extract<Resolution, { ok: false }>> {
  // ON CONFLICT DO NOTHING rather than a savepoint: a concurrent link is no error to roll back.
  const inserted = await ctx.db
    .insertInto("sso_identities")
    .values({ agency_id: agencyId, connection_id: connectionId, remote_id: remoteId, user_id: userId })
    .onConflict((oc) => oc.doNothing())
    .returning("user_id")
    .executeTakeFirst();
  if (!inserted) {
    const now = await ctx.db
      .selectFrom("sso_identities")
      .select(["remote_id", "user_id"])
      .where("connection_id", "=", connectionId)
      .where((eb) => eb.or([eb("remote_id", "=", remoteId), eb("user_id", "=", userId)]))
      .execute();
    if (now.length === 1 && now[0]!.remote_id === remoteId && now[0]!.user_id === userId) return { ok: true };
    return {
      ok: false,
      code: "user_not_found",
      cause: "a concurrent sign-in linked this Remote ID or this user to another identity",
    };
  }
  return { ok: true };
}
