/**
 * Where an SSO callback becomes a session: the claims an IdP vouched for (OIDC ID token +
 * user-info, or a Cloudflare Access assertion) go through the connection's mapping, the user
 * resolution and provisioning policy, then `completeSignIn` (2FA before any session). A test run
 * instead records its result and changes nothing. Every failure ends on the login page with one
 * message of SPEC §4's table; the precise cause goes to the audit log and the debug log.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Selectable } from "kysely";
import type { Agency } from "../agencies/agencies.js";
import { audit } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import type { SsoConnectionsTable } from "../db/schema.js";
import { inTransaction } from "../db/transaction.js";
import { prefersJson } from "../http/errors.js";
import { completeSignIn } from "../sessions/sign-in.js";
import { type SsoErrorCode, ssoMessage } from "./messages.js";
import type { SsoStep } from "./oidc.js";
import { changesNothing, mapIdentity, type Resolution, resolveUser } from "./resolve-user.js";
import { finishTest } from "./tests.js";

type ConnectionRow = Selectable<SsoConnectionsTable>;

export interface SsoFailure {
  code: SsoErrorCode;
  step: SsoStep;
  cause: string;
  idpError?: string | null;
  claimNames?: string[];
}

/** Ends a failed sign-in: audit + debug log with the cause, the user gets the table's message. */
export async function failSignIn(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  input: {
    agencyId: string | null;
    connectionId: string | null;
    method: "sso" | "cloudflare" | "google";
    failure: SsoFailure;
  },
) {
  const { failure } = input;
  ctx.metrics.signIn(input.method, "failure");
  request.log.debug({ sso: { ...failure, connectionId: input.connectionId } }, "SSO sign-in failed");
  if (input.agencyId) {
    await audit(ctx.db, {
      agencyId: input.agencyId,
      action: "sso.sign_in",
      outcome: "failure",
      actor: { type: "anonymous" },
      target: input.connectionId ? { type: "sso_connection", id: input.connectionId } : null,
      ip: request.ip,
      details: {
        method: input.method,
        code: failure.code,
        step: failure.step,
        cause: failure.cause,
        ...(failure.idpError ? { idpError: failure.idpError } : {}),
        ...(failure.claimNames ? { claimNames: failure.claimNames } : {}),
      },
    });
  }
  return sendFailure(request, reply, failure.code);
}

/** Browsers go back to the login page; API clients get the JSON error (SPEC §4). */
export function sendFailure(request: FastifyRequest, reply: FastifyReply, code: SsoErrorCode) {
  if (prefersJson(request)) {
    return reply.status(401).send({ error: { code, message: ssoMessage(code) } });
  }
  return reply.redirect(`/login?error=${code}`, 302);
}

export interface Vouched {
  agency: Agency;
  connection: ConnectionRow;
  claims: Record<string, unknown>;
  method: "sso" | "cloudflare";
  purpose: "login" | "test";
  testId?: string | null;
  returnTo?: string | null;
}

/** The steps after the IdP: mapping → resolution → 2FA/session, or the test's record. */
export async function finishSso(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, v: Vouched) {
  const claimNames = Object.keys(v.claims).sort();
  const mapping = v.connection.mapping;
  const mapped = mapIdentity(v.claims, mapping);

  if (v.purpose === "test") {
    // The test's result and its audit record commit together.
    await inTransaction(ctx, async (tx) => {
      if (!mapped.ok) {
        await finishTest(tx, v.testId!, {
          passed: false,
          errorCode: mapped.code,
          diagnostic: { step: "mapping", idpError: null, claimNames, detail: mapped.cause },
        });
      } else {
        const match = await resolveUser(tx, v.agency, v.connection.id, mapped.identity, { dryRun: true });
        await finishTest(tx, v.testId!, {
          passed: true,
          matchedUserId: match.ok ? match.userId : null,
          diagnostic: {
            step: "done",
            idpError: null,
            claimNames,
            detail: match.ok ? `matched by ${match.how}` : match.cause,
          },
        });
      }
      await audit(tx.db, {
        agencyId: v.agency.id,
        action: "sso.test",
        outcome: mapped.ok ? "success" : "failure",
        actor: { type: "user", id: request.auth?.user.id ?? null, label: request.auth?.user.email ?? null },
        target: { type: "sso_connection", id: v.connection.id },
        ip: request.ip,
        details: {
          testId: v.testId,
          ...(mapped.ok ? {} : { code: mapped.code, cause: mapped.cause }),
          claimNames,
        },
      });
    });
    return reply.redirect(`/settings/sso?test=${encodeURIComponent(v.testId!)}`, 302);
  }

  const base = { agencyId: v.agency.id, connectionId: v.connection.id, method: v.method };
  if (!mapped.ok) {
    return failSignIn(ctx, request, reply, {
      ...base,
      failure: { code: mapped.code, step: "mapping", cause: mapped.cause, claimNames },
    });
  }
  const identity = mapped.identity;
  const signIn = (c: AppContext, resolved: Extract<Resolution, { ok: true }>) =>
    completeSignIn(c, request, reply, {
      agency: v.agency,
      userId: resolved.userId,
      user: resolved.user,
      method: v.method,
      returnTo: v.returnTo ?? null,
      details: { connectionId: v.connection.id, connection: v.connection.name, matchedBy: resolved.how },
    });
  // Most sign-ins change nothing about the user (this connection's link, the same email): resolved
  // read-only, their only writes are the session and its audit record, one statement — no
  // transaction (two round trips instead of four: bench/README.md, issue 15).
  const known = await resolveUser(ctx, v.agency, v.connection.id, identity, { dryRun: true });
  // Otherwise the user (created, linked or updated), its audit record and the session (or pending
  // 2FA step) commit together: a fault between them leaves none of them.
  const result = changesNothing(known, identity)
    ? ({ ok: true, outcome: await signIn(ctx, known) } as const)
    : await inTransaction(ctx, async (tx) => {
        const resolved = await resolveUser(tx, v.agency, v.connection.id, identity, { dryRun: false });
        if (!resolved.ok) return { ok: false, failure: resolved } as const;
        if (resolved.how === "created" || resolved.linked || resolved.emailUpdated) {
          await audit(tx.db, {
            agencyId: v.agency.id,
            action: resolved.how === "created" ? "user.create" : "user.update",
            actor: { type: "system", label: `SSO ${v.connection.name}` },
            target: { type: "user", id: resolved.userId },
            ip: request.ip,
            details: {
              via: "sso",
              ...(resolved.how === "created" ? { policy: "allowlist" } : {}),
              ...(resolved.linked ? { linkedRemoteId: true } : {}),
              ...(resolved.emailUpdated ? { emailUpdatedFromIdp: true } : {}),
            },
          });
        }
        return { ok: true, outcome: await signIn(tx, resolved) } as const;
      });
  if (!result.ok) {
    const { code, cause } = result.failure;
    return failSignIn(ctx, request, reply, {
      ...base,
      failure: { code, step: "resolution", cause, claimNames },
    });
  }
  switch (result.outcome.kind) {
    case "session":
      return reply.redirect(v.returnTo ?? "/", 302);
    case "mfa":
      return reply.redirect("/login/2fa", 302);
    case "enroll":
      return reply.redirect("/login/2fa/enroll", 302);
    case "refused":
      return sendFailure(request, reply, "not_authorized");
  }
}
