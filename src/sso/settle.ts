/**
 * Where an SSO callback becomes a session: `settle` takes every completed flow, whatever its
 * kind (an OIDC callback, a Cloudflare Access assertion, the instance's Google sign-in; SAML
 * next), and runs the steps after the IdP (SPEC §4 steps 4–7, §7):
 *
 *   IdP failure  → the test's failed result, or the sign-in's failure (the §4 table's message)
 *   mapping      → the connection's mapping applied to the vouched claims (resolve-user.ts)
 *   groups       → the groups of the claims (groups.ts, SPEC §13): an overage fails, a person in
 *                  none of the allowed groups is refused before anyone is resolved or created
 *   resolution   → the user, by this connection's link, externalUserId, id field or email, and
 *                  the provisioning policy (creation under `allowlist`)
 *   test         → the test's result (nothing else changes; resolution is a dry run)
 *   sign-in      → the role and group memberships recomputed (groups.ts), then 2FA or the
 *                  session (sessions/sign-in.ts), then where the person lands
 *
 * Every failure ends on the login page with one message of SPEC §4's table; the precise cause
 * goes to the audit log, the debug log and the connection's trace (SPEC §17). Writes that belong
 * together commit together: a test's result with its audit record and trace; a user created or
 * linked with its audit record, the session (or pending 2FA step) and the trace.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Agency } from "../agencies/agencies.js";
import { audit } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import type { Db } from "../db/database.js";
import { inTransaction } from "../db/transaction.js";
import { prefersJson } from "../http/errors.js";
import { completeSignIn, type SignInOutcome } from "../sessions/sign-in.js";
import { findUserByEmail } from "../users/users.js";
import {
  applyGroupGrants,
  describeGroups,
  type GroupsOutcome,
  type GroupsRead,
  groupGrants,
  groupMappingsOf,
  passesAllowedGroups,
  readGroups,
} from "./groups.js";
import type {
  Completion,
  ConnectionKind,
  ConnectionRow,
  FlowFailure,
  FlowPurpose,
  ProtocolMessage,
} from "./kinds/kind.js";
import { type SsoErrorCode, ssoMessage } from "./messages.js";
import type { SsoStep } from "./oidc.js";
import {
  changesNothing,
  isEmailVerified,
  type MappingResult,
  mapIdentity,
  mappedClaims,
  type Resolution,
  resolveUser,
} from "./resolve-user.js";
import { finishTest } from "./tests.js";
import { redactMessage } from "./trace-redact.js";
import { causeWithIdpError, recordTrace } from "./traces.js";

export type SignInMethod = "sso" | "cloudflare" | "google";

export interface SsoFailure {
  code: SsoErrorCode;
  step: SsoStep | "policy";
  cause: string;
  idpError?: string | null;
  claimNames?: string[];
  details?: Record<string, string | boolean>;
}

/** The attempt a trace is about: a connection of the agency, its kind and the flow's purpose. */
export interface Attempt {
  agency: Agency;
  connection: ConnectionRow;
  kind: ConnectionKind;
  flow: FlowPurpose;
  /** When the flow started (the state's time), or when this request began for flows without one. */
  startedAt: Date;
  /**
   * `connection`: the agency's own connection (SPEC §4). `instance`: the instance's Google
   * sign-in (SPEC §2): existing users by their verified Google email only; it never links a
   * Remote ID, never creates anyone, and its attempts belong to no connection's trace.
   */
  origin: "connection" | "instance";
}

interface TraceRecord {
  outcome: "success" | "failure";
  step: string;
  code: SsoErrorCode | null;
  cause: string | null;
  claimNames: string[];
  userId: string | null;
  messages: ProtocolMessage[];
}

/**
 * The connection's trace of this attempt (SPEC §17), in the caller's transaction: the protocol
 * messages redacted here, the one place raw messages go. The instance's Google sign-in belongs
 * to no connection of the agency and leaves none.
 */
async function keepTrace(db: Db, now: Date, attempt: Attempt, record: TraceRecord): Promise<void> {
  if (attempt.origin === "instance") return;
  const { flow, connection } = attempt;
  await recordTrace(db, now, {
    agencyId: attempt.agency.id,
    connectionId: connection.id,
    kind: connection.type,
    purpose: flow.purpose,
    testId: flow.purpose === "test" ? flow.testId : null,
    outcome: record.outcome,
    step: record.step,
    code: record.code,
    cause: record.cause,
    claimNames: record.claimNames,
    userId: record.userId,
    messages: record.messages.map((m) => redactMessage(m, connection.redirect_url)),
    startedAt: attempt.startedAt,
  });
}

function methodOf(attempt: Attempt): SignInMethod {
  return attempt.origin === "instance" ? "google" : attempt.kind.method;
}

/**
 * Ends a failed sign-in: metrics, the debug log and the audit record with the cause (and the
 * connection's trace when the attempt's connection is known); the person gets the table's message.
 */
export async function failSignIn(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  input: {
    agencyId: string | null;
    connectionId: string | null;
    method: SignInMethod;
    failure: SsoFailure;
    /** The attempt, when the connection is known: its trace records the failure. */
    attempt?: Attempt;
    messages?: ProtocolMessage[];
  },
) {
  const { failure } = input;
  ctx.metrics.signIn(input.method, "failure");
  request.log.debug({ sso: { ...failure, connectionId: input.connectionId } }, "SSO sign-in failed");
  const agencyId = input.agencyId;
  if (agencyId) {
    await inTransaction(ctx, async (tx) => {
      await audit(tx.db, {
        agencyId,
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
          ...failure.details,
        },
      });
      if (input.attempt) {
        await keepTrace(tx.db, ctx.now(), input.attempt, {
          outcome: "failure",
          step: failure.step,
          code: failure.code,
          cause: causeWithIdpError(failure.cause, failure.idpError),
          claimNames: failure.claimNames ?? [],
          userId: null,
          messages: input.messages ?? [],
        });
      }
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

/** The instance's Google sign-in reads the verified email only (SPEC §2). */
function instanceMapping(claims: Record<string, unknown>): MappingResult {
  const email = typeof claims.email === "string" && claims.email.trim() ? claims.email.trim() : null;
  if (!email) return { ok: false, code: "email_or_id_missing", cause: "Google gave no email" };
  if (!isEmailVerified(claims.email_verified)) {
    return { ok: false, code: "email_not_verified", cause: "Google says the email is not verified" };
  }
  return {
    ok: true,
    identity: { remoteId: String(claims.sub ?? ""), email, idFieldValue: null, name: null },
  };
}

/** Claim names the attempt's mapping reads (an OIDC sign-in asks user-info only when one is missing). */
export function wantedClaims(attempt: Pick<Attempt, "connection" | "origin">): readonly (string | null)[] {
  return attempt.origin === "instance"
    ? ["email", "email_verified"]
    : mappedClaims(attempt.connection.mapping);
}

/** The one settle function: every completed flow of every kind ends here. */
export async function settle(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  attempt: Attempt,
  completion: Completion,
) {
  const { flow } = attempt;
  if (flow.purpose === "test") return settleTest(ctx, request, reply, attempt, flow.testId, completion);
  const base = {
    agencyId: attempt.agency.id,
    connectionId: attempt.origin === "instance" ? null : attempt.connection.id,
    method: methodOf(attempt),
    attempt,
    messages: completion.messages,
  };
  if (!completion.ok) {
    const f = completion.failure;
    return failSignIn(ctx, request, reply, {
      ...base,
      failure: {
        code: attempt.kind.failureCode,
        step: f.step,
        cause: f.cause,
        idpError: f.idpError ?? null,
        ...(f.claimNames ? { claimNames: f.claimNames } : {}),
        ...(f.details ? { details: f.details } : {}),
      },
    });
  }
  const claimNames = Object.keys(completion.claims).sort();
  const mapped =
    attempt.origin === "instance"
      ? instanceMapping(completion.claims)
      : mapIdentity(completion.claims, attempt.connection.mapping);
  if (!mapped.ok) {
    return failSignIn(ctx, request, reply, {
      ...base,
      failure: { code: mapped.code, step: "mapping", cause: mapped.cause, claimNames },
    });
  }
  const identity = mapped.identity;
  const returnTo = flow.returnTo;
  // SPEC §13: the groups, read before anyone is resolved or created: an overage fails, and a
  // person in none of the allowed groups is refused (both this and the provisioning policy must pass).
  const groups =
    attempt.origin === "instance" ? null : readGroups(completion.claims, attempt.connection.groups_field);
  if (groups && !groups.ok) {
    return failSignIn(ctx, request, reply, {
      ...base,
      failure: {
        code: groups.overage ? "sso_failed" : attempt.kind.failureCode,
        step: "groups",
        cause: groups.cause,
        claimNames,
        details: groups.details,
      },
    });
  }
  const refusal = groups ? allowedGroupsRefusal(attempt.connection, groups.groups) : null;
  if (refusal) {
    return failSignIn(ctx, request, reply, {
      ...base,
      failure: {
        code: "not_authorized",
        step: "policy",
        cause: refusal,
        claimNames,
        details: { check: "allowed_groups" },
      },
    });
  }
  const signIn = (c: AppContext, resolved: Extract<Resolution, { ok: true }>, reread: boolean) =>
    completeSignIn(c, request, reply, {
      agency: attempt.agency,
      userId: resolved.userId,
      // Groups may have changed the role and memberships: the user is read again then.
      ...(resolved.user && !reread ? { user: resolved.user } : {}),
      method: methodOf(attempt),
      returnTo,
      ...(attempt.origin === "instance"
        ? {}
        : {
            details: {
              connectionId: attempt.connection.id,
              connection: attempt.connection.name,
              matchedBy: resolved.how,
            },
          }),
    });
  const trace = (
    db: Db,
    resolved: Extract<Resolution, { ok: true }>,
    outcome: SignInOutcome,
    groupsNote: string | null,
  ) => {
    const traced = traceOfOutcome(outcome);
    return keepTrace(db, ctx.now(), attempt, {
      ...traced,
      cause: [traced.cause, groupsNote].filter(Boolean).join("; ") || null,
      claimNames,
      userId: resolved.userId,
      messages: completion.messages,
    });
  };

  // A returning person whose sign-in writes nothing about them (this connection's link, the same
  // email, no groups to apply; the instance's Google sign-in never writes the user) needs no
  // transaction: the session and its audit record are one statement; the trace, an observation,
  // follows it.
  // With groups to apply the sign-in always writes (in the transaction below): no dry run then.
  const known =
    attempt.origin === "instance"
      ? await instanceUser(ctx.db, attempt.agency, identity.email)
      : groups
        ? null
        : await resolveUser(ctx, attempt.agency, attempt.connection.id, identity, { dryRun: true });
  const result =
    known?.ok && (attempt.origin === "instance" || changesNothing(known, identity))
      ? await (async () => {
          const outcome = await signIn(ctx, known, false);
          await trace(ctx.db, known, outcome, null);
          return { ok: true, outcome } as const;
        })()
      : await inTransaction(ctx, async (tx) => {
          // The user (created, linked or updated), its groups, its audit records, the session (or
          // pending 2FA step) and the trace commit together.
          const resolved =
            attempt.origin === "instance" && known
              ? known
              : await resolveUser(tx, attempt.agency, attempt.connection.id, identity, { dryRun: false });
          if (!resolved.ok) return { ok: false, failure: resolved } as const;
          // SPEC §13: the role and the group-granted memberships recomputed in the sign-in's transaction.
          let groupsNote: string | null = null;
          if (groups) {
            const grants = groupGrants(
              groups.groups,
              await groupMappingsOf(tx.db, attempt.connection.id),
              attempt.connection.allowed_groups,
            );
            await applyGroupGrants(tx.db, {
              agencyId: attempt.agency.id,
              connectionId: attempt.connection.id,
              connectionName: attempt.connection.name,
              userId: resolved.userId,
              ip: request.ip,
              grants,
            });
            groupsNote = describeGroups(grants);
          }
          if (resolved.how === "created" || resolved.linked || resolved.emailUpdated) {
            await audit(tx.db, {
              agencyId: attempt.agency.id,
              action: resolved.how === "created" ? "user.create" : "user.update",
              actor: { type: "system", label: `SSO ${attempt.connection.name}` },
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
          const outcome = await signIn(tx, resolved, Boolean(groups));
          await trace(tx.db, resolved, outcome, groupsNote);
          return { ok: true, outcome } as const;
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
      return reply.redirect(returnTo ?? "/", 302);
    case "mfa":
      return reply.redirect("/login/2fa", 302);
    case "enroll":
      return reply.redirect("/login/2fa/enroll", 302);
    case "refused":
      return sendFailure(request, reply, "not_authorized");
  }
}

/** SPEC §13 "only members of these groups may sign in": the refusal's cause, or null when allowed. */
function allowedGroupsRefusal(connection: ConnectionRow, groups: readonly string[]): string | null {
  const allowed = connection.allowed_groups;
  if (passesAllowedGroups(allowed, groups)) return null;
  return `the allowed groups check refused the person: in none of the connection's allowed groups (${allowed.join(", ")}); groups received: ${groups.join(", ") || "none"}`;
}

/** What the trace says of a sign-in that got past resolution. */
function traceOfOutcome(outcome: SignInOutcome): Pick<TraceRecord, "outcome" | "step" | "code" | "cause"> {
  switch (outcome.kind) {
    case "session":
      return { outcome: "success", step: "done", code: null, cause: null };
    case "mfa":
      return {
        outcome: "success",
        step: "mfa",
        code: null,
        cause: "signed in at the IdP; the two-factor code is asked next",
      };
    case "enroll":
      return {
        outcome: "success",
        step: "mfa",
        code: null,
        cause: "signed in at the IdP; two-factor enrollment is asked next",
      };
    case "refused":
      return { outcome: "failure", step: "policy", code: outcome.code, cause: outcome.cause };
  }
}

/** SPEC §2: the instance's Google sign-in finds an existing user of the agency by email, nothing else. */
async function instanceUser(db: Db, agency: Agency, email: string | null): Promise<Resolution> {
  const user = email ? await findUserByEmail(db, agency.id, email) : null;
  if (!user) return { ok: false, code: "user_not_found", cause: `no user with ${email}` };
  return { ok: true, userId: user.id, how: "email", linked: false, emailUpdated: false };
}

/**
 * SPEC §7: a test records its result — the step that failed, the IdP's error, the NAMES of the
 * claims received and the user they would match (a dry run: nothing else changes) — with its
 * audit record and trace, then the admin is back on the SSO page.
 */
async function settleTest(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  attempt: Attempt,
  testId: string,
  completion: Completion,
) {
  const claimNames = completion.ok
    ? Object.keys(completion.claims).sort()
    : (completion.failure.claimNames ?? []);
  await inTransaction(ctx, async (tx) => {
    let result: Parameters<typeof finishTest>[2];
    let trace: Omit<TraceRecord, "claimNames" | "messages">;
    if (!completion.ok) {
      const f = completion.failure;
      const code = attempt.kind.failureCode;
      result = {
        passed: false,
        errorCode: code,
        diagnostic: { step: f.step, idpError: f.idpError ?? null, claimNames, detail: f.cause },
      };
      trace = {
        outcome: "failure",
        step: f.step,
        code,
        cause: causeWithIdpError(f.cause, f.idpError),
        userId: null,
      };
    } else {
      const mapped = mapIdentity(completion.claims, attempt.connection.mapping);
      const groupsRead: GroupsRead | null = readGroups(completion.claims, attempt.connection.groups_field);
      if (!mapped.ok) {
        result = {
          passed: false,
          errorCode: mapped.code,
          diagnostic: { step: "mapping", idpError: null, claimNames, detail: mapped.cause },
        };
        trace = { outcome: "failure", step: "mapping", code: mapped.code, cause: mapped.cause, userId: null };
      } else if (groupsRead && !groupsRead.ok) {
        const code = groupsRead.overage ? "sso_failed" : attempt.kind.failureCode;
        result = {
          passed: false,
          errorCode: code,
          diagnostic: { step: "groups", idpError: null, claimNames, detail: groupsRead.cause },
        };
        trace = { outcome: "failure", step: "groups", code, cause: groupsRead.cause, userId: null };
      } else {
        const match = await resolveUser(tx, attempt.agency, attempt.connection.id, mapped.identity, {
          dryRun: true,
        });
        let detail = match.ok ? `matched by ${match.how}` : match.cause;
        let groupsOutcome: GroupsOutcome | undefined;
        if (groupsRead) {
          const {
            roleGroups: _r,
            subAccountGroups: _s,
            ...outcome
          } = groupGrants(
            groupsRead.groups,
            await groupMappingsOf(tx.db, attempt.connection.id),
            attempt.connection.allowed_groups,
          );
          groupsOutcome = outcome;
          detail = `${detail}; ${describeGroups(outcome)}`;
          if (!outcome.allowed) {
            detail = `${detail}; a sign-in would be refused (not_authorized): ${allowedGroupsRefusal(attempt.connection, groupsRead.groups)}`;
          }
        }
        result = {
          passed: true,
          matchedUserId: match.ok ? match.userId : null,
          diagnostic: {
            step: "done",
            idpError: null,
            claimNames,
            detail,
            ...(groupsOutcome ? { groups: groupsOutcome } : {}),
          },
        };
        trace = {
          outcome: "success",
          step: "done",
          code: null,
          cause: detail,
          userId: match.ok ? match.userId : null,
        };
      }
    }
    const startedBy = await finishTest(tx, testId, result);
    await audit(tx.db, {
      agencyId: attempt.agency.id,
      action: "sso.test",
      outcome: result.passed ? "success" : "failure",
      actor: startedBy ? { type: "user", id: startedBy } : { type: "anonymous" },
      target: { type: "sso_connection", id: attempt.connection.id },
      ip: request.ip,
      details: {
        testId,
        ...(result.passed
          ? {}
          : {
              code: result.errorCode,
              step: result.diagnostic.step,
              cause: result.diagnostic.detail,
              ...(result.diagnostic.idpError ? { idpError: result.diagnostic.idpError } : {}),
              ...(completion.ok ? {} : completion.failure.details),
            }),
        claimNames,
      },
    });
    await keepTrace(tx.db, ctx.now(), attempt, { ...trace, claimNames, messages: completion.messages });
  });
  return reply.redirect(`/settings/sso?test=${encodeURIComponent(testId)}`, 302);
}

/**
 * SPEC §7: a test that could not even start (the IdP's metadata unreachable, a broken
 * configuration) is recorded as failed with the step and cause, with its audit record and trace;
 * the admin API answers 502 with the test's id.
 */
export async function failTestStart(
  ctx: AppContext,
  request: FastifyRequest,
  attempt: Attempt,
  testId: string,
  failure: FlowFailure,
): Promise<void> {
  await inTransaction(ctx, async (tx) => {
    await finishTest(tx, testId, {
      passed: false,
      errorCode: "test_start_failed",
      diagnostic: {
        step: failure.step,
        idpError: failure.idpError ?? null,
        claimNames: [],
        detail: failure.cause,
      },
    });
    await audit(tx.db, {
      agencyId: attempt.agency.id,
      action: "sso.test.start",
      outcome: "failure",
      actor: request.auth
        ? { type: "user", id: request.auth.user.id, label: request.auth.user.email }
        : { type: "anonymous" },
      target: { type: "sso_connection", id: attempt.connection.id },
      ip: request.ip,
      details: { testId, step: failure.step, cause: failure.cause },
    });
    await keepTrace(tx.db, ctx.now(), attempt, {
      outcome: "failure",
      step: failure.step,
      code: "test_start_failed",
      cause: causeWithIdpError(failure.cause, failure.idpError),
      claimNames: [],
      userId: null,
      messages: [],
    });
  });
}
