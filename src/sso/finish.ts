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
import { mapIdentity, resolveUser } from "./resolve-user.js";
import { finishTest } from "./tests.js";
import { causeWithIdpError, recordTrace, type TraceInput, type TraceMessage } from "./traces.js";

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
    /** What the connection trace records beyond the failure (SPEC §17); defaults: a sign-in started now. */
    trace?: Partial<Pick<TraceInput, "kind" | "purpose" | "testId" | "startedAt" | "messages">>;
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
    if (input.connectionId) {
      await recordTrace(ctx.db, ctx.now(), {
        agencyId: input.agencyId,
        connectionId: input.connectionId,
        purpose: "login",
        testId: null,
        startedAt: ctx.now(),
        messages: [],
        ...input.trace,
        outcome: "failure",
        step: failure.step,
        code: failure.code,
        cause: causeWithIdpError(failure.cause, failure.idpError),
        claimNames: failure.claimNames ?? [],
        userId: null,
      });
    }
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
  /** When the flow began (the state's timestamp), and the redacted protocol messages (SPEC §17). */
  startedAt?: Date;
  messages?: TraceMessage[];
}

/** The steps after the IdP: mapping → resolution → 2FA/session, or the test's record. */
export async function finishSso(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, v: Vouched) {
  const claimNames = Object.keys(v.claims).sort();
  const mapping = v.connection.mapping;
  const mapped = mapIdentity(v.claims, mapping);
  const traceBase = {
    agencyId: v.agency.id,
    connectionId: v.connection.id,
    kind: v.connection.type,
    claimNames,
    messages: v.messages ?? [],
    startedAt: v.startedAt ?? ctx.now(),
  };

  if (v.purpose === "test") {
    // The test's result and its audit record commit together.
    await inTransaction(ctx, async (tx) => {
      let match: Awaited<ReturnType<typeof resolveUser>> | null = null;
      if (!mapped.ok) {
        await finishTest(tx, v.testId!, {
          passed: false,
          errorCode: mapped.code,
          diagnostic: { step: "mapping", idpError: null, claimNames, detail: mapped.cause },
        });
      } else {
        match = await resolveUser(tx, v.agency, v.connection.id, mapped.identity, { dryRun: true });
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
      await recordTrace(tx.db, tx.now(), {
        ...traceBase,
        purpose: "test",
        testId: v.testId ?? null,
        outcome: mapped.ok ? "success" : "failure",
        step: mapped.ok ? "done" : "mapping",
        code: mapped.ok ? null : mapped.code,
        cause: mapped.ok ? (match?.ok ? `matched by ${match.how}` : (match?.cause ?? null)) : mapped.cause,
        userId: match?.ok ? match.userId : null,
      });
    });
    return reply.redirect(`/settings/sso?test=${encodeURIComponent(v.testId!)}`, 302);
  }

  const base = { agencyId: v.agency.id, connectionId: v.connection.id, method: v.method };
  if (!mapped.ok) {
    return failSignIn(ctx, request, reply, {
      ...base,
      failure: { code: mapped.code, step: "mapping", cause: mapped.cause, claimNames },
      trace: traceBase,
    });
  }
  // The user (created, linked or updated), its audit record and the session (or pending 2FA
  // step) commit together: a fault between them leaves none of them.
  const identity = mapped.identity;
  const result = await inTransaction(ctx, async (tx) => {
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
    const outcome = await completeSignIn(tx, request, reply, {
      agency: v.agency,
      userId: resolved.userId,
      user: resolved.user,
      method: v.method,
      returnTo: v.returnTo ?? null,
      details: { connectionId: v.connection.id, connection: v.connection.name, matchedBy: resolved.how },
    });
    await recordTrace(tx.db, tx.now(), {
      ...traceBase,
      purpose: "login",
      testId: null,
      outcome: outcome.kind === "refused" ? "failure" : "success",
      step: outcome.kind === "refused" ? "policy" : outcome.kind === "session" ? "done" : "mfa",
      code: outcome.kind === "refused" ? outcome.code : null,
      cause:
        outcome.kind === "refused"
          ? outcome.cause
          : `matched by ${resolved.how}${outcome.kind === "session" ? "" : "; continues at the two-factor step"}`,
      userId: resolved.userId,
    });
    return { ok: true, outcome } as const;
  });
  if (!result.ok) {
    const { code, cause } = result.failure;
    return failSignIn(ctx, request, reply, {
      ...base,
      failure: { code, step: "resolution", cause, claimNames },
      trace: traceBase,
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
