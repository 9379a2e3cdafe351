/**
 * The SAML SP endpoints of a connection (SPEC §12):
 *   GET  /login/saml/:id/metadata   the SP metadata (entity ID, ACS, signing/encryption certificates)
 *   POST /login/saml/:id/acs        the IdP's cross-site form POST: the Response verified by the
 *                                   SAML library (every §12 rule, AuthnRequest used once, Assertion
 *                                   ID never seen on any node), the result — or the refusal — kept
 *                                   60 s under a one-time handle, then 303 to …/continue. No
 *                                   SameSite=Lax cookie arrives on this POST, so it checks no browser
 *                                   binding and sets no session. Exempt from the Origin rule (app.ts).
 *   GET  /login/saml/:id/continue   the same-origin navigation on which the Lax cookies arrive: the
 *                                   handle used once, then the state with its browser binding
 *                                   (finishCallback, as for OIDC), the kind's completion, settle.
 * IdP-initiated Responses (no InResponseTo) pass only when the connection allows them, and land on
 * `/`, never on a RelayState.
 */
import { createHash } from "node:crypto";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { lockAgency } from "../agencies/agencies.js";
import { auditRequest } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import { randomToken } from "../crypto/tokens.js";
import type { Db } from "../db/database.js";
import { transaction } from "../db/transaction.js";
import { AppError, notFound } from "../http/errors.js";
import { type Guards, requestOrigin } from "../http/request-context.js";
import { ErrorResponse } from "../http/schemas.js";
import { agencyConnections, getConnectionRow, ssoLive } from "./connections.js";
import { agencyTarget, attemptOf, finishCallback } from "./flow-routes.js";
import type { ConnectionRow } from "./kinds/kind.js";
import {
  acceptanceOptions,
  refreshMetadata,
  type SamlHandoff,
  SP_NAMEID_FORMATS,
  samlKind,
  spKeyAad,
  spUrls,
} from "./kinds/saml.js";
import {
  acceptSamlResponse,
  buildSpMetadata,
  certificateInfo,
  expiresSoon,
  generateSpKey,
  isSamlError,
} from "./saml/index.js";
import { failSignIn, settle, wantedClaims } from "./settle.js";
import { peekState } from "./state.js";

/** How long the ACS's result waits for its continue request. */
export const HANDOFF_TTL_MS = 60_000;
/** The ACS's form body: a base64 Response of at most 256 KB decoded, plus RelayState. */
const ACS_BODY_LIMIT = 512 * 1024;

/** SPEC §12, §16: the IdP-facing POST endpoints, exempt from §11's Origin rule. */
export function isIdpFacingPost(url: string): boolean {
  return /^\/login\/saml\/[^/?#]+\/acs(?:[?#]|$)/.test(url);
}

const hashHandle = (handle: string) => createHash("sha256").update(handle, "utf8").digest("base64url");

async function keepHandoff(
  db: Db,
  now: Date,
  input: { connectionId: string; relayState: string | null; result: SamlHandoff },
): Promise<string> {
  const handle = randomToken(32);
  await db
    .insertInto("saml_handoffs")
    .values({
      handle_hash: hashHandle(handle),
      connection_id: input.connectionId,
      relay_state: input.relayState,
      result: JSON.stringify(input.result),
      created_at: now,
      expires_at: new Date(now.getTime() + HANDOFF_TTL_MS),
    })
    .execute();
  return handle;
}

/** The handle used once: the result and the state it came with, or null (unknown, used, expired). */
async function takeHandoff(db: Db, now: Date, connectionId: string, handle: string) {
  const row = await db
    .deleteFrom("saml_handoffs")
    .where("handle_hash", "=", hashHandle(handle))
    .where("connection_id", "=", connectionId)
    .where("expires_at", ">", now)
    .returning(["relay_state", "result"])
    .executeTakeFirst();
  return row ? { relayState: row.relay_state, result: row.result as unknown as SamlHandoff } : null;
}

/** Housekeeping: expired handles (a browser that never came back). */
export async function sweepSamlHandoffs(db: Db, now: Date): Promise<number> {
  const r = await db.deleteFrom("saml_handoffs").where("expires_at", "<=", now).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** SPEC §10/§12: the number of configured IdP signing certificates expiring within 30 days. */
export async function expiringIdpCertificates(db: Db, now: Date): Promise<number> {
  const rows = await db.selectFrom("sso_connections").select("saml_idp").where("type", "=", "saml").execute();
  let n = 0;
  for (const r of rows) {
    for (const pem of r.saml_idp?.certificates ?? []) {
      try {
        if (expiresSoon(certificateInfo(pem), now)) n++;
      } catch {
        n++;
      }
    }
  }
  return n;
}

const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

export function samlRoutes(ctx: AppContext, guards: Guards) {
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.decorateRequest("samlHandoff", null);
    ctx.metrics.addGauge(
      "copilot_saml_idp_certificates_expiring",
      "SAML IdP signing certificates configured on connections that expire within 30 days (or have expired).",
      () => expiringIdpCertificates(ctx.db, ctx.now()),
    );
    // The HTTP-POST binding's form body, here only (the rest of the API is JSON).
    app.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: ACS_BODY_LIMIT },
      (_request, body, done) => {
        const params = new URLSearchParams(body as string);
        const out: Record<string, string> = {};
        for (const key of new Set(params.keys())) {
          const values = params.getAll(key);
          // A repeated field is ambiguous: refused by the schema (no value of the right type).
          if (values.length === 1) out[key] = values[0]!;
        }
        done(null, out);
      },
    );

    /** This host's agency's SAML connection `id`. */
    const connectionOf = async (request: FastifyRequest, id: string): Promise<ConnectionRow | null> => {
      const agency = request.agency;
      if (!agency) return null;
      const row = (await agencyConnections(ctx, agency.id)).find((r) => r.id === id);
      return row && row.type === "saml" && row.agency_id === agency.id ? row : null;
    };

    app.post(
      "/api/admin/sso/connections/:id/saml/sp-key-rotation",
      {
        preHandler: guards.requireAdmin,
        schema: {
          tags: ["sso admin"],
          summary:
            "Rotate the SP key pair: `begin` publishes a next certificate in the SP metadata (it already decrypts), `complete` signs with it and drops the old one",
          params: IdParams,
          body: Type.Object(
            { step: Type.Union([Type.Literal("begin"), Type.Literal("complete")]) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              spCertificate: Type.String(),
              spNextCertificate: Type.Union([Type.String(), Type.Null()]),
            }),
            404: ErrorResponse,
            409: ErrorResponse,
            422: ErrorResponse,
          },
        },
      },
      async (request) => {
        const { agency } = await guards.requireAdmin(request);
        const found = await getConnectionRow(ctx.db, agency.id, request.params.id);
        if (found.type !== "saml") throw notFound("SAML connection not found");
        const { step } = request.body;
        // The key is made before the transaction (RSA generation takes a moment).
        const next =
          step === "begin"
            ? await generateSpKey({ commonName: `CoPilot SSO ${found.id}`, now: ctx.now() })
            : null;
        const row = await transaction(ctx.db, async (tx) => {
          await lockAgency(tx, agency.id);
          const row = await getConnectionRow(tx, agency.id, found.id);
          if (step === "begin" && row.saml_sp_next_key_enc) {
            throw new AppError(
              409,
              "rotation_under_way",
              "A rotation of the SP key is already under way: complete it first.",
              "step",
            );
          }
          if (step === "complete" && !row.saml_sp_next_key_enc) {
            throw new AppError(
              409,
              "no_rotation",
              "No rotation of the SP key is under way: begin one first.",
              "step",
            );
          }
          const set =
            step === "begin" && next
              ? {
                  saml_sp_next_key_enc: ctx.secretBox.encrypt(next.privateKeyPem, spKeyAad(row.id, "next")),
                  saml_sp_next_certificate: next.certificatePem,
                }
              : {
                  saml_sp_key_enc: ctx.secretBox.encrypt(
                    ctx.secretBox.decrypt(row.saml_sp_next_key_enc ?? "", spKeyAad(row.id, "next")),
                    spKeyAad(row.id, "current"),
                  ),
                  saml_sp_certificate: row.saml_sp_next_certificate,
                  saml_sp_next_key_enc: null,
                  saml_sp_next_certificate: null,
                };
          const updated = await tx
            .updateTable("sso_connections")
            .set({ ...set, updated_at: new Date() })
            .where("id", "=", row.id)
            .returningAll()
            .executeTakeFirstOrThrow();
          await auditRequest(tx, request, {
            action: "sso.connection.sp_key_rotation",
            target: { type: "sso_connection", id: row.id },
            details: { step },
          });
          return updated;
        });
        return {
          spCertificate: row.saml_sp_certificate ?? "",
          spNextCertificate: row.saml_sp_next_certificate,
        };
      },
    );

    app.get(
      "/login/saml/:id/metadata",
      {
        schema: {
          tags: ["sso"],
          summary: "The SP metadata of a SAML connection (entity ID, ACS URL, certificates)",
          params: IdParams,
          produces: ["application/samlmetadata+xml"],
          response: { 200: Type.String() },
        },
      },
      async (request, reply) => {
        const row = await connectionOf(request, request.params.id);
        if (!row || !row.saml_sp_certificate) throw notFound("SAML connection not found");
        const urls = spUrls(requestOrigin(request), row);
        const xml = buildSpMetadata({
          entityId: urls.entityId,
          acsUrl: urls.acsUrl,
          certificatePem: row.saml_sp_certificate,
          nextCertificatePem: row.saml_sp_next_certificate,
          wantAssertionsSigned:
            row.saml_signature_required === "assertion" || row.saml_signature_required === "both",
          authnRequestsSigned: row.saml_idp?.wantAuthnRequestsSigned ?? false,
          nameIdFormats: SP_NAMEID_FORMATS,
        });
        return reply.type("application/samlmetadata+xml").send(xml);
      },
    );

    app.post(
      "/login/saml/:id/acs",
      {
        bodyLimit: ACS_BODY_LIMIT,
        // A POST over the cap ends like every refusal (SPEC §12): sso_failed, the check audited.
        errorHandler: async (error, request, reply) => {
          if ((error as { code?: string }).code !== "FST_ERR_CTP_BODY_TOO_LARGE") throw error;
          return failSignIn(ctx, request, reply, {
            agencyId: request.agency?.id ?? null,
            connectionId: null,
            method: "sso",
            failure: {
              code: "sso_failed",
              step: "assertion",
              cause: `the ACS POST is larger than ${ACS_BODY_LIMIT / 1024} KB`,
              details: { check: "size" },
            },
          });
        },
        schema: {
          tags: ["sso"],
          summary: "Assertion Consumer Service (HTTP-POST): verifies the Response, then 303 to …/continue",
          params: IdParams,
          consumes: ["application/x-www-form-urlencoded"],
          body: Type.Object(
            {
              SAMLResponse: Type.Optional(Type.String({ maxLength: ACS_BODY_LIMIT })),
              RelayState: Type.Optional(Type.String({ maxLength: 8192 })),
            },
            { additionalProperties: true },
          ),
          response: { 303: Type.Null(), 302: Type.Null() },
        },
      },
      async (request, reply) => {
        let row = await connectionOf(request, request.params.id);
        if (!row) {
          return failSignIn(ctx, request, reply, {
            agencyId: request.agency?.id ?? null,
            connectionId: null,
            method: "sso",
            failure: {
              code: "sso_failed",
              step: "connection",
              cause: "no SAML connection of this agency with this id",
            },
          });
        }
        const { SAMLResponse, RelayState } = request.body;
        // The RelayState is our state when it opens (genuine, in time) for this connection: it names
        // the AuthnRequest this Response must answer. Its browser binding is checked on …/continue.
        const peeked = RelayState ? peekState(ctx.stateKeys, RelayState, ctx.now().getTime()) : null;
        const flowState = peeked?.ok && peeked.payload.connectionId === row.id ? peeked.payload : null;
        const origin = requestOrigin(request);
        let result: SamlHandoff;
        if (!SAMLResponse) {
          result = { ok: false, check: "input", cause: "the POST carries no SAMLResponse", summary: null };
        } else {
          row = await refreshMetadata(ctx, row, "daily");
          const verify = (r: ConnectionRow) =>
            acceptSamlResponse(
              ctx.db,
              { samlResponse: SAMLResponse },
              acceptanceOptions(ctx, r, origin, flowState?.nonce ?? null),
            );
          try {
            let facts: Awaited<ReturnType<typeof verify>>;
            try {
              facts = await verify(row);
            } catch (err) {
              // A signature that fails may be a key rotation at the IdP: its metadata once more.
              if (!isSamlError(err) || err.check !== "signature") throw err;
              const fresh = await refreshMetadata(ctx, row, "signature_failure");
              if (fresh === row) throw err;
              row = fresh;
              facts = await verify(row);
            }
            result = {
              ok: true,
              facts: {
                nameId: facts.nameId,
                nameIdFormat: facts.nameIdFormat,
                attributes: facts.attributes,
                inResponseTo: facts.inResponseTo,
                idpInitiated: facts.idpInitiated,
                assertionId: facts.assertionId,
                sha1: facts.algorithms.sha1,
                signed: facts.signed,
                encrypted: facts.encrypted,
              },
              summary: facts.summary,
            };
          } catch (err) {
            result = isSamlError(err)
              ? { ok: false, check: err.check, cause: err.cause, summary: err.summary }
              : {
                  ok: false,
                  check: "input",
                  cause: `the Response could not be verified (${err instanceof Error ? err.name : "error"})`,
                  summary: null,
                };
          }
        }
        const handle = await keepHandoff(ctx.db, ctx.now(), {
          connectionId: row.id,
          relayState: flowState ? (RelayState ?? null) : null,
          result,
        });
        return reply.redirect(`/login/saml/${encodeURIComponent(row.id)}/continue?h=${handle}`, 303);
      },
    );

    app.get(
      "/login/saml/:id/continue",
      {
        schema: {
          tags: ["sso"],
          summary: "Where the ACS sends the browser: the sign-in or test settles here (same-origin)",
          params: IdParams,
          querystring: Type.Object({ h: Type.Optional(Type.String({ maxLength: 128 })) }),
          response: { 302: Type.Null() },
        },
      },
      async (request, reply) => {
        const agency = request.agency;
        const row = await connectionOf(request, request.params.id);
        const taken =
          row && request.query.h ? await takeHandoff(ctx.db, ctx.now(), row.id, request.query.h) : null;
        if (!agency || !row || !taken) {
          return failSignIn(ctx, request, reply, {
            agencyId: agency?.id ?? null,
            connectionId: row?.id ?? null,
            method: "sso",
            failure: {
              code: "sso_failed",
              step: "state",
              cause: "the SAML continue handle is unknown, already used or expired",
            },
          });
        }
        request.samlHandoff = taken.result;
        if (taken.relayState) {
          return finishCallback(
            ctx,
            request,
            reply,
            "sso",
            taken.relayState,
            async (state) =>
              state.connectionId === row.id
                ? agencyTarget(ctx, agency, state)
                : {
                    ok: false,
                    agencyId: agency.id,
                    connectionId: row.id,
                    failure: {
                      code: "sso_failed",
                      step: "state",
                      cause: "the state is another connection's",
                    },
                  },
            taken.result.ok
              ? undefined
              : {
                  cause: `the SAML Response was refused by the ${taken.result.check} check too: ${taken.result.cause}`,
                  details: { check: taken.result.check },
                },
          );
        }
        // No flow of ours: IdP-initiated (when allowed), a sign-in landing on `/` only.
        const attempt = attemptOf(agency, row, { purpose: "login", returnTo: null }, ctx.now());
        if (!row.enabled || !ssoLive(agency)) {
          return failSignIn(ctx, request, reply, {
            agencyId: agency.id,
            connectionId: row.id,
            method: "sso",
            failure: {
              code: "sso_failed",
              step: "connection",
              cause: "the connection or SSO is not enabled",
            },
            attempt,
          });
        }
        const completion = await samlKind.complete(ctx, {
          request,
          row,
          flow: attempt.flow,
          state: null,
          wanted: wantedClaims(attempt),
        });
        return settle(ctx, request, reply, attempt, completion);
      },
    );
  };
}
