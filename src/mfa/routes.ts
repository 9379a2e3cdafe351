/**
 * Two-factor authentication routes (SPEC §6, docs/api-contract.md):
 *
 *   POST /api/auth/2fa {code}|{backupCode}      pending-2FA cookie (purpose verify) → session
 *   GET  /api/account/2fa                       session
 *   POST /api/account/2fa/setup                 session, or pending cookie of purpose enroll
 *   POST /api/account/2fa/confirm {code}        session, or pending cookie of purpose enroll (→ session)
 *   POST /api/account/2fa/backup-codes {code}   session
 *   POST /api/account/2fa/disable {code}        session
 *
 * The pending cookie is read here and nowhere else: the guards of every other route read only
 * the session cookie. Wrong codes count against the pending sign-in (5 end it), against the
 * account and against the IP (DB-backed limits, so they hold across nodes). Codes, secrets and
 * backup codes are never logged or audited.
 */

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { audit } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import { inTransaction } from "../db/transaction.js";
import { clearCookie } from "../http/cookies.js";
import { AppError, conflict, unauthorized } from "../http/errors.js";
import { noContent } from "../http/replies.js";
import { type Guards, requestOrigin } from "../http/request-context.js";
import { ErrorResponse, Nullable, UserSchema } from "../http/schemas.js";
import { LIMITS, release, reserve } from "../http/throttle.js";
import { authorizationProblem, startSession } from "../sessions/sign-in.js";
import { safeReturnTo } from "../shared/return-to.js";
import { getUser, type User, userApi } from "../users/users.js";
import { consumeBackupCode, remainingBackupCodes } from "./backup-codes.js";
import {
  type Challenge,
  currentChallenge,
  endChallenge,
  MFA_MAX_ATTEMPTS,
  recordFailedAttempt,
  reserveAttempt,
} from "./challenges.js";
import {
  acceptTotp,
  beginSetup,
  type CodeFailure,
  confirmSetup,
  regenerateBackupCodes,
  removeTwoFactor,
  twoFactorStatus,
} from "./service.js";

const MESSAGES = {
  expired: "Your sign-in has expired. Please sign in again.",
  ended: `Too many wrong codes (${MFA_MAX_ATTEMPTS}). Please sign in again.`,
  wrong: "That code is not valid. Check your authenticator app and try again.",
  replayed: "That code was already used. Wait for the next code in your authenticator app.",
  wrongBackup: "That backup code is not valid or was already used.",
  notAuthorized: "You are not authorized to access this account. Please contact your admin.",
};

const expired = () => new AppError(401, "mfa_expired", MESSAGES.expired);
const notEnabled = () => conflict("2fa_not_enabled", "Two-factor authentication is not on for your account.");

const errors = {
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  422: ErrorResponse,
  429: ErrorResponse,
};

const CodeBody = Type.Object(
  { code: Type.String({ minLength: 1, maxLength: 64, description: "A 6-digit code of the authenticator" }) },
  { additionalProperties: false },
);
const BackupCodesResponse = Type.Object({
  backupCodes: Type.Array(Type.String(), { description: "Shown once: only their hashes are kept" }),
});

type Factor = { kind: "totp" | "backup_code"; value: string; field: "code" | "backupCode" };

export function mfaRoutes(ctx: AppContext, guards: Guards) {
  const ipKey = (request: FastifyRequest) => `mfa:ip:${request.ip}`;
  const accountKey = (userId: string) => `mfa:account:${userId}`;

  /**
   * SPEC §6: per-account and per-IP limits. The attempt is reserved on both before any code is
   * looked at, so a burst of parallel codes cannot outrun them; the account's counter keeps only
   * wrong codes: an accepted code gives its reservation back (`accepted`).
   */
  async function throttle(request: FastifyRequest, userId: string): Promise<void> {
    await reserve(ctx, [
      [ipKey(request), LIMITS.mfaPerIp],
      [accountKey(userId), LIMITS.mfaPerAccount],
    ]);
  }

  /** A code was accepted: it does not count against the account's wrong-code limit. */
  async function accepted(userId: string): Promise<void> {
    await release(ctx, accountKey(userId));
  }

  /**
   * Reserves this attempt on the pending sign-in before the code is checked; when its attempts
   * are all used (or reserved by requests still being checked) it is over: 401.
   */
  async function reserveOn(
    request: FastifyRequest,
    reply: FastifyReply,
    challenge: Challenge,
  ): Promise<Challenge> {
    const attempts = await reserveAttempt(ctx, challenge.id);
    if (attempts === null) {
      clearCookie(reply, request, "mfa");
      throw new AppError(401, "mfa_ended", MESSAGES.ended);
    }
    return { ...challenge, attempts };
  }

  function actorBase(request: FastifyRequest, user: User) {
    return {
      agencyId: user.agencyId,
      actor: { type: "user" as const, id: user.id, label: user.email },
      target: { type: "user", id: user.id },
      ip: request.ip,
    };
  }

  /**
   * A refused code (already counted against the account and the pending sign-in, if any, by
   * its reservation): audited, answered 422 — or 401 once the pending sign-in is over.
   */
  async function refuse(
    request: FastifyRequest,
    reply: FastifyReply,
    user: User,
    why: Exclude<CodeFailure, "unavailable">,
    context: { factor: Factor; purpose: string; challenge: Challenge | null },
  ): Promise<never> {
    const left = context.challenge
      ? await recordFailedAttempt(ctx, context.challenge.id, context.challenge.attempts)
      : null;
    await audit(ctx.db, {
      ...actorBase(request, user),
      action: "mfa.failed",
      outcome: "failure",
      details: {
        purpose: context.purpose,
        factor: context.factor.kind,
        cause: why === "replayed" ? "code already used" : "wrong code",
        ...(context.challenge ? { method: context.challenge.method, attemptsLeft: left } : {}),
        ...(left === 0 ? { ended: true } : {}),
      },
    });
    if (context.challenge) ctx.metrics.signIn(context.challenge.method, "mfa_failure");
    if (left === 0) {
      clearCookie(reply, request, "mfa");
      throw new AppError(401, "mfa_ended", MESSAGES.ended);
    }
    const message =
      context.factor.kind === "backup_code"
        ? MESSAGES.wrongBackup
        : why === "replayed"
          ? MESSAGES.replayed
          : MESSAGES.wrong;
    const suffix = left !== null ? ` ${left} ${left === 1 ? "attempt" : "attempts"} left.` : "";
    throw new AppError(422, "invalid_code", message + suffix, context.factor.field);
  }

  /** The user a setup/confirm is for: a pending enrolment sign-in first, else the session. */
  async function enrollee(request: FastifyRequest, reply: FastifyReply) {
    const agency = await guards.requireAgency(request);
    const challenge = await currentChallenge(ctx, request);
    if (challenge?.purpose === "enroll") {
      const user = await getUser(ctx.db, agency.id, challenge.userId);
      if (authorizationProblem(user)) {
        await endChallenge(ctx, challenge.id);
        clearCookie(reply, request, "mfa");
        throw new AppError(403, "not_authorized", MESSAGES.notAuthorized);
      }
      return { user, challenge };
    }
    await guards.loadSession(request);
    if (!request.auth) throw unauthorized();
    return { user: request.auth.user, challenge: null };
  }

  /** Takes the pending sign-in for this request: one challenge yields at most one session. */
  async function claim(
    request: FastifyRequest,
    reply: FastifyReply,
    challenge: Challenge,
    tx: AppContext = ctx,
  ): Promise<void> {
    if (!(await endChallenge(tx, challenge.id))) {
      clearCookie(reply, request, "mfa");
      throw expired();
    }
  }

  /** Turns a claimed pending sign-in into a session: the second factor passed (or was enrolled). */
  async function finishSignIn(
    request: FastifyRequest,
    reply: FastifyReply,
    user: User,
    challenge: Challenge,
    mfa: string,
    tx: AppContext = ctx,
  ): Promise<string | null> {
    await startSession(tx, request, reply, user, challenge.method, {
      ...actorBase(request, user),
      action: "auth.sign_in",
      details: { method: challenge.method, mfa },
    });
    ctx.metrics.signIn(challenge.method, "success");
    return safeReturnTo(challenge.returnTo, requestOrigin(request));
  }

  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.post(
      "/api/auth/2fa",
      {
        schema: {
          tags: ["auth"],
          summary: "Second factor of a pending sign-in: a TOTP code or a backup code",
          description:
            "Needs the pending-2FA cookie from the first factor. Send exactly one of `code` and " +
            "`backupCode`. A wrong code answers 422; the fifth ends the pending sign-in (401).",
          body: Type.Object(
            {
              code: Type.Optional(Type.String({ maxLength: 64 })),
              backupCode: Type.Optional(Type.String({ maxLength: 64 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ user: UserSchema, returnTo: Nullable(Type.String()) }),
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const agency = await guards.requireAgency(request);
        const body = request.body ?? {};
        const pending = await currentChallenge(ctx, request);
        if (!pending || pending.purpose !== "verify") {
          // An enrolment sign-in keeps its cookie: it continues at setup/confirm.
          if (!pending) clearCookie(reply, request, "mfa");
          throw expired();
        }
        const factor = factorOf(body);
        await throttle(request, pending.userId);
        const challenge = await reserveOn(request, reply, pending);

        const user = await getUser(ctx.db, agency.id, challenge.userId);
        const problem = authorizationProblem(user);
        if (problem) {
          await inTransaction(ctx, async (tx) => {
            await endChallenge(tx, challenge.id);
            await audit(tx.db, {
              ...actorBase(request, user),
              action: "auth.sign_in",
              outcome: "failure",
              details: { method: challenge.method, cause: problem },
            });
          });
          clearCookie(reply, request, "mfa");
          ctx.metrics.signIn(challenge.method, "refused");
          throw new AppError(403, "not_authorized", MESSAGES.notAuthorized);
        }

        let result: { ok: true } | { ok: false; why: CodeFailure };
        if (factor.kind === "totp") {
          result = await acceptTotp(ctx, user.id, factor.value);
        } else {
          result = user.twoFactorEnabled
            ? (await consumeBackupCode(ctx.db, user.id, factor.value, ctx.now()))
              ? { ok: true }
              : { ok: false, why: "wrong" }
            : { ok: false, why: "unavailable" };
        }
        if (!result.ok) {
          if (result.why === "unavailable") {
            // 2FA was turned off or reset since the first factor: this pending sign-in is void.
            await endChallenge(ctx, challenge.id);
            clearCookie(reply, request, "mfa");
            throw expired();
          }
          return refuse(request, reply, user, result.why, { factor, purpose: "sign_in", challenge });
        }

        await accepted(user.id);
        // The pending sign-in ends, its audit records and the session come: all or nothing.
        const returnTo = await inTransaction(ctx, async (tx) => {
          await claim(request, reply, challenge, tx);
          await audit(tx.db, {
            ...actorBase(request, user),
            action: "mfa.verified",
            details: { method: challenge.method, factor: factor.kind },
          });
          if (factor.kind === "backup_code") {
            await audit(tx.db, {
              ...actorBase(request, user),
              action: "mfa.backup_code_used",
              details: { remaining: await remainingBackupCodes(tx.db, user.id) },
            });
          }
          return finishSignIn(request, reply, user, challenge, factor.kind, tx);
        });
        return { user: userApi(user), returnTo };
      },
    );

    app.get(
      "/api/account/2fa",
      {
        preHandler: guards.requireSession,
        schema: {
          tags: ["account"],
          summary: "My two-factor authentication",
          response: {
            200: Type.Object({
              enabled: Type.Boolean(),
              backupCodesRemaining: Type.Integer(),
              required: Type.Boolean({ description: "The agency requires 2FA of everyone" }),
            }),
            401: ErrorResponse,
            404: ErrorResponse,
          },
        },
      },
      async (request) => {
        const { agency, user } = await guards.requireSession(request);
        return { ...(await twoFactorStatus(ctx, user.id)), required: agency.require2fa };
      },
    );

    app.post(
      "/api/account/2fa/setup",
      {
        schema: {
          tags: ["account"],
          summary: "Start setting up an authenticator app",
          description:
            "Session, or the pending cookie of a sign-in that must enrol (agency requires 2FA). " +
            "A new secret replaces any earlier unconfirmed one; refused (409) while 2FA is on.",
          response: {
            200: Type.Object({
              otpauthUri: Type.String(),
              secret: Type.String({ description: "Base32, for typing into the app by hand" }),
              qrCode: Type.String({ description: "data:image/svg+xml;base64,… of the otpauth URI" }),
            }),
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const { user, challenge } = await enrollee(request, reply);
        const setup = await inTransaction(ctx, async (tx) => {
          const started = await beginSetup(tx, user);
          await audit(tx.db, {
            ...actorBase(request, user),
            action: "mfa.setup_started",
            details: challenge ? { duringSignIn: true, method: challenge.method } : {},
          });
          return started;
        });
        reply.header("cache-control", "no-store");
        return setup;
      },
    );

    app.post(
      "/api/account/2fa/confirm",
      {
        schema: {
          tags: ["account"],
          summary: "Turn 2FA on with a first code; returns 10 backup codes once",
          description:
            "With the pending cookie of an enrolment sign-in, this also finishes the sign-in: " +
            "the answer sets the session cookie and carries `returnTo`.",
          body: CodeBody,
          response: {
            200: Type.Object({
              backupCodes: BackupCodesResponse.properties.backupCodes,
              returnTo: Type.Optional(Nullable(Type.String())),
            }),
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const enrolling = await enrollee(request, reply);
        const user = enrolling.user;
        await throttle(request, user.id);
        const challenge = enrolling.challenge ? await reserveOn(request, reply, enrolling.challenge) : null;
        const { code } = request.body;
        const factor: Factor = { kind: "totp", value: code, field: "code" };
        // 2FA on, its backup codes and the mfa.enrolled record commit together; a refused code
        // (its failure record and counters) is written outside, so that it stays.
        const result = await inTransaction(ctx, async (tx) => {
          const confirmed = await confirmSetup(tx, user.id, code);
          if (confirmed.ok) {
            await audit(tx.db, {
              ...actorBase(request, user),
              action: "mfa.enrolled",
              details: challenge ? { duringSignIn: true, method: challenge.method } : {},
            });
          }
          return confirmed;
        });
        if (!result.ok) {
          if (result.why === "unavailable") {
            const status = await twoFactorStatus(ctx, user.id);
            if (status.enabled)
              throw conflict("2fa_already_enabled", "Two-factor authentication is already on.");
            throw conflict("2fa_setup_not_started", "Start the setup first: no authenticator is pending.");
          }
          return refuse(request, reply, user, result.why, { factor, purpose: "enroll", challenge });
        }
        await accepted(user.id);
        reply.header("cache-control", "no-store");
        if (!challenge) return { backupCodes: result.backupCodes };
        const enrolled = { ...user, twoFactorEnabled: true };
        const returnTo = await inTransaction(ctx, async (tx) => {
          await claim(request, reply, challenge, tx);
          return finishSignIn(request, reply, enrolled, challenge, "enrolled", tx);
        });
        return { backupCodes: result.backupCodes, returnTo };
      },
    );

    app.post(
      "/api/account/2fa/backup-codes",
      {
        preHandler: guards.requireSession,
        schema: {
          tags: ["account"],
          summary: "Replace my backup codes (needs a current authenticator code)",
          body: CodeBody,
          response: { 200: BackupCodesResponse, ...errors },
        },
      },
      async (request, reply) => {
        const { user } = await guards.requireSession(request);
        await throttle(request, user.id);
        const { code } = request.body;
        const result = await acceptTotp(ctx, user.id, code);
        if (!result.ok) {
          if (result.why === "unavailable") throw notEnabled();
          const factor: Factor = { kind: "totp", value: code, field: "code" };
          return refuse(request, reply, user, result.why, { factor, purpose: "regenerate", challenge: null });
        }
        await accepted(user.id);
        const backupCodes = await inTransaction(ctx, async (tx) => {
          const codes = await regenerateBackupCodes(tx, user.id);
          await audit(tx.db, { ...actorBase(request, user), action: "mfa.backup_codes_regenerated" });
          return codes;
        });
        reply.header("cache-control", "no-store");
        return { backupCodes };
      },
    );

    app.post(
      "/api/account/2fa/disable",
      {
        preHandler: guards.requireSession,
        schema: {
          tags: ["account"],
          summary: "Turn my 2FA off (needs a current authenticator code)",
          description:
            "Allowed even when the agency requires 2FA (to move to a new device): the next " +
            "sign-in then asks to set it up again.",
          body: CodeBody,
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (request, reply) => {
        const { user } = await guards.requireSession(request);
        await throttle(request, user.id);
        const { code } = request.body;
        const result = await acceptTotp(ctx, user.id, code);
        if (!result.ok) {
          if (result.why === "unavailable") throw notEnabled();
          const factor: Factor = { kind: "totp", value: code, field: "code" };
          return refuse(request, reply, user, result.why, { factor, purpose: "disable", challenge: null });
        }
        await accepted(user.id);
        await inTransaction(ctx, async (tx) => {
          await removeTwoFactor(tx, user.id);
          await audit(tx.db, { ...actorBase(request, user), action: "mfa.disabled" });
        });
        noContent(reply);
      },
    );
  };
}

/** Exactly one of `code` and `backupCode`. */
function factorOf(body: { code?: string; backupCode?: string }): Factor {
  const code = body.code?.trim() ? body.code : undefined;
  const backupCode = body.backupCode?.trim() ? body.backupCode : undefined;
  if (code !== undefined && backupCode !== undefined) {
    throw new AppError(422, "invalid_input", "Send either code or backupCode, not both", "code");
  }
  if (code !== undefined) return { kind: "totp", value: code, field: "code" };
  if (backupCode !== undefined) return { kind: "backup_code", value: backupCode, field: "backupCode" };
  throw new AppError(422, "invalid_input", "code is required", "code");
}
