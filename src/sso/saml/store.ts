/**
 * The SAML one-time values in PostgreSQL (SPEC §12, §10; tables of migration 005_saml):
 *   - the AuthnRequest ID of each started SP-initiated flow, consumed once by the Response that
 *     answers it (`DELETE … RETURNING`: of two nodes racing, exactly one gets the row);
 *   - the ID of each accepted Assertion per IdP, kept until the Assertion expires
 *     (`INSERT … ON CONFLICT DO NOTHING`: a second insert, on any node, inserts nothing).
 *
 * `settleSamlResponse` runs both for a verified Response in ONE transaction: a replayed
 * Assertion leaves the AuthnRequest unconsumed, and a consumed AuthnRequest always has its
 * Assertion recorded. Verify first (response.ts), settle second: a forged Response never reaches
 * the database, so it cannot burn a legitimate flow's request ID.
 */
import { randomBytes } from "node:crypto";
import type { Db } from "../../db/database.js";
import { transaction } from "../../db/transaction.js";
import { SamlError } from "./errors.js";
import type { SamlAssertionFacts } from "./response.js";

/** How long a started flow may take at the IdP (sign-in, MFA) before its AuthnRequest expires. */
export const AUTHN_REQUEST_TTL_SECONDS = 10 * 60;

/** An AuthnRequest ID: `_` (an xs:ID starts with a letter or `_`) + 160 random bits, hex. */
export function newRequestId(): string {
  return `_${randomBytes(20).toString("hex")}`;
}

export async function saveAuthnRequest(
  db: Db,
  input: { id: string; connectionId: string; now: Date; ttlSeconds?: number },
): Promise<void> {
  await db
    .insertInto("saml_requests")
    .values({
      id: input.id,
      connection_id: input.connectionId,
      created_at: input.now,
      expires_at: new Date(input.now.getTime() + (input.ttlSeconds ?? AUTHN_REQUEST_TTL_SECONDS) * 1000),
    })
    .execute();
}

/**
 * Uses the AuthnRequest once: true when it was pending for this connection and unexpired (and
 * is now gone), false otherwise — unknown, already used, expired or another connection's.
 */
export async function consumeAuthnRequest(
  db: Db,
  input: { id: string; connectionId: string; now: Date },
): Promise<boolean> {
  const row = await db
    .deleteFrom("saml_requests")
    .where("id", "=", input.id)
    .where("connection_id", "=", input.connectionId)
    .where("expires_at", ">", input.now)
    .returning("id")
    .executeTakeFirst();
  return !!row;
}

/**
 * Records an accepted Assertion ID; false when the IdP's Assertion ID was already recorded and
 * has not expired (a replay). An expired record is replaced (the Assertion itself can no longer
 * pass its time conditions then).
 */
export async function rememberAssertion(
  db: Db,
  input: { idpEntityId: string; assertionId: string; connectionId: string; expiresAt: Date; now: Date },
): Promise<boolean> {
  const row = await db
    .insertInto("saml_assertions")
    .values({
      idp_entity_id: input.idpEntityId,
      assertion_id: input.assertionId,
      connection_id: input.connectionId,
      created_at: input.now,
      expires_at: input.expiresAt,
    })
    .onConflict((oc) =>
      oc
        .columns(["idp_entity_id", "assertion_id"])
        .doUpdateSet({
          connection_id: input.connectionId,
          created_at: input.now,
          expires_at: input.expiresAt,
        })
        .where("saml_assertions.expires_at", "<=", input.now),
    )
    .returning("assertion_id")
    .executeTakeFirst();
  return !!row;
}

/**
 * The one-time rules for a verified Response, atomically: its AuthnRequest (unless IdP-initiated)
 * consumed, its Assertion ID recorded. Refusals: `in_response_to` (unknown, used, expired, another
 * connection's), `replay`.
 */
export async function settleSamlResponse(
  db: Db,
  input: { connectionId: string; idpEntityId: string; facts: SamlAssertionFacts; now: Date },
): Promise<void> {
  const { facts } = input;
  await transaction(db, async (tx) => {
    const fresh = await rememberAssertion(tx, {
      idpEntityId: input.idpEntityId,
      assertionId: facts.assertionId,
      connectionId: input.connectionId,
      expiresAt: facts.replayCacheUntil,
      now: input.now,
    });
    if (!fresh) throw new SamlError("replay", "this Assertion ID was already used");
    if (facts.inResponseTo !== null) {
      const used = await consumeAuthnRequest(tx, {
        id: facts.inResponseTo,
        connectionId: input.connectionId,
        now: input.now,
      });
      if (!used) {
        throw new SamlError(
          "in_response_to",
          "the AuthnRequest it answers is unknown, already used or expired",
        );
      }
    }
  });
}

/** Housekeeping: deletes expired AuthnRequests and Assertion IDs; idempotent on any node. */
export async function sweepSamlStore(db: Db, now: Date): Promise<{ requests: number; assertions: number }> {
  const requests = await db.deleteFrom("saml_requests").where("expires_at", "<=", now).executeTakeFirst();
  const assertions = await db.deleteFrom("saml_assertions").where("expires_at", "<=", now).executeTakeFirst();
  return { requests: Number(requests.numDeletedRows), assertions: Number(assertions.numDeletedRows) };
}
