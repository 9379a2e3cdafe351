/**
 * The second factor of one user (SPEC §6): enrolment (a pending secret, then a confirming code),
 * checking codes with replay protection, backup codes, turning off and admin reset. Routes call
 * these; nothing here knows about HTTP beyond the errors it throws.
 *
 * Replay: the time step of every accepted code is stored in `users.totp_last_step`, and a code is
 * accepted by a conditional UPDATE (`… WHERE totp_last_step IS NULL OR totp_last_step < step`),
 * so of two requests (on any nodes) presenting the same code only one can win.
 *
 * The secret is sealed with ENCRYPTION_KEY (AES-256-GCM) bound to `user:<id>:totp`, and is never
 * logged or audited. A pending secret (set up, not yet confirmed) lives in the same column while
 * `totp_enabled` is false.
 */
import QRCode from "qrcode";
import type { AppContext } from "../context.js";
import type { Db } from "../db/database.js";
import { transaction } from "../db/transaction.js";
import { conflict } from "../http/errors.js";
import type { User } from "../users/users.js";
import { newBackupCodes, remainingBackupCodes, storeBackupCodes } from "./backup-codes.js";
import { generateTotpSecret, matchingSteps, otpauthUri } from "./totp.js";

export const totpAad = (userId: string) => `user:${userId}:totp`;

/** `ok`, or why a code was refused: no match, a step already used, or no (pending) secret. */
export type CodeFailure = "wrong" | "replayed" | "unavailable";

/** Which secret a code is checked against: the active one, or the pending one being confirmed. */
type SecretMode = "active" | "pending";

interface Matched {
  ok: true;
  step: number;
  secretEnc: string;
}

async function totpRow(db: Db, userId: string) {
  return db
    .selectFrom("users")
    .select(["totp_secret_enc", "totp_enabled", "totp_last_step"])
    .where("id", "=", userId)
    .executeTakeFirst();
}

/** Checks a code without recording it. */
async function matchTotp(
  ctx: AppContext,
  userId: string,
  code: string,
  mode: SecretMode,
): Promise<Matched | { ok: false; why: CodeFailure }> {
  const row = await totpRow(ctx.db, userId);
  const wanted = mode === "active";
  if (!row?.totp_secret_enc || row.totp_enabled !== wanted) return { ok: false, why: "unavailable" };
  const secret = ctx.secretBox.decrypt(row.totp_secret_enc, totpAad(userId));
  const steps = matchingSteps(secret, code, ctx.now());
  if (steps.length === 0) return { ok: false, why: "wrong" };
  const last = row.totp_last_step;
  const step = steps.find((s) => last === null || s > last);
  if (step === undefined) return { ok: false, why: "replayed" };
  return { ok: true, step, secretEnc: row.totp_secret_enc };
}

/**
 * Records an accepted step (and, for a pending secret, turns 2FA on) — only if the secret is
 * still the one the code was checked against and no code of this step or later was accepted.
 */
async function recordStep(ctx: AppContext, db: Db, userId: string, m: Matched, mode: SecretMode) {
  const res = await db
    .updateTable("users")
    .set(
      mode === "pending"
        ? { totp_last_step: m.step, totp_enabled: true, updated_at: ctx.now() }
        : { totp_last_step: m.step },
    )
    .where("id", "=", userId)
    .where("totp_enabled", "=", mode === "active")
    .where("totp_secret_enc", "=", m.secretEnc)
    .where((eb) => eb.or([eb("totp_last_step", "is", null), eb("totp_last_step", "<", m.step)]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Accepts a code of the user's active secret once. */
export async function acceptTotp(
  ctx: AppContext,
  userId: string,
  code: string,
): Promise<{ ok: true } | { ok: false; why: CodeFailure }> {
  const m = await matchTotp(ctx, userId, code, "active");
  if (!m.ok) return m;
  return (await recordStep(ctx, ctx.db, userId, m, "active")) ? { ok: true } : { ok: false, why: "replayed" };
}

export async function twoFactorStatus(ctx: AppContext, userId: string) {
  const row = await totpRow(ctx.db, userId);
  const enabled = row?.totp_enabled ?? false;
  return { enabled, backupCodesRemaining: enabled ? await remainingBackupCodes(ctx.db, userId) : 0 };
}

/**
 * Starts (or restarts) enrolment: a new pending secret replaces any earlier unconfirmed one.
 * Refused while 2FA is on (the active secret is never replaced behind the user's back).
 */
export async function beginSetup(ctx: AppContext, user: User) {
  const secret = generateTotpSecret();
  const res = await ctx.db
    .updateTable("users")
    .set({ totp_secret_enc: ctx.secretBox.encrypt(secret, totpAad(user.id)), totp_last_step: null })
    .where("id", "=", user.id)
    .where("totp_enabled", "=", false)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) {
    throw conflict(
      "2fa_already_enabled",
      "Two-factor authentication is already on. Turn it off first to set up a new authenticator.",
    );
  }
  const uri = otpauthUri(secret, user.email);
  const svg = await QRCode.toString(uri, { type: "svg", errorCorrectionLevel: "M", margin: 1 });
  return {
    otpauthUri: uri,
    secret,
    qrCode: `data:image/svg+xml;base64,${Buffer.from(svg, "utf8").toString("base64")}`,
  };
}

/** Confirms the pending secret with a first code: 2FA on, ten new backup codes (returned once). */
export async function confirmSetup(
  ctx: AppContext,
  userId: string,
  code: string,
): Promise<{ ok: true; backupCodes: string[] } | { ok: false; why: CodeFailure }> {
  const m = await matchTotp(ctx, userId, code, "pending");
  if (!m.ok) return m;
  const { codes, hashes } = await newBackupCodes();
  const enabled = await transaction(ctx.db, async (tx) => {
    if (!(await recordStep(ctx, tx, userId, m, "pending"))) return false;
    await storeBackupCodes(tx, userId, hashes);
    return true;
  });
  return enabled ? { ok: true, backupCodes: codes } : { ok: false, why: "replayed" };
}

/** New backup codes for a user with 2FA on (the old ones stop working). */
export async function regenerateBackupCodes(ctx: AppContext, userId: string): Promise<string[]> {
  const { codes, hashes } = await newBackupCodes();
  await transaction(ctx.db, (tx) => storeBackupCodes(tx, userId, hashes));
  return codes;
}

/**
 * Turns 2FA off: secret, last step, backup codes and pending sign-ins of the user are gone.
 * Used by the user (after a code) and by an admin reset. True when 2FA (or a pending setup) was
 * there to remove.
 */
export async function removeTwoFactor(ctx: AppContext, userId: string): Promise<boolean> {
  return transaction(ctx.db, async (tx) => {
    const res = await tx
      .updateTable("users")
      .set({ totp_secret_enc: null, totp_enabled: false, totp_last_step: null, updated_at: ctx.now() })
      .where("id", "=", userId)
      .where((eb) => eb.or([eb("totp_enabled", "=", true), eb("totp_secret_enc", "is not", null)]))
      .executeTakeFirst();
    await tx.deleteFrom("backup_codes").where("user_id", "=", userId).execute();
    await tx
      .deleteFrom("mfa_challenges")
      .where("user_id", "=", userId)
      .where("purpose", "=", "verify")
      .execute();
    return Number(res.numUpdatedRows) === 1;
  });
}
