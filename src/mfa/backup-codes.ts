/**
 * Backup codes (SPEC §6): 10 single-use codes, shown once, stored hashed.
 *
 * A code is 10 characters from a 32-symbol alphabet without look-alikes (no 0/O, 1/I), shown
 * as `ABCDE-FGHJK`, and matched case-, space- and dash-insensitively. That is 50 bits: plenty
 * against online guessing (rate-limited, 5 tries per pending sign-in), but not against an
 * offline attack on a leaked database if the hash were a fast one (2^50 SHA-256 is hours on one
 * GPU). So each code is hashed with argon2id (salted, memory-hard, the same primitive as
 * passwords). Checking a code costs at most one argon2 verification per unused code of that one
 * user (≤ 10, run in parallel), which the rate limits keep cheap.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { hash, verify } from "@node-rs/argon2";
import type { Db } from "../db/database.js";

export const BACKUP_CODE_COUNT = 10;
const CODE_LENGTH = 10;
/** 32 symbols (A–Z without I and O, 2–9), so one random byte & 31 picks one without bias. */
export const BACKUP_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

export function generateBackupCode(): string {
  const bytes = randomBytes(CODE_LENGTH);
  let code = "";
  for (const b of bytes) code += BACKUP_CODE_ALPHABET[b & 31];
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

/** Upper case, without spaces and dashes; null when it cannot be one of our codes. */
export function normalizeBackupCode(input: string): string | null {
  const code = input.replace(/[\s-]+/g, "").toUpperCase();
  if (code.length !== CODE_LENGTH) return null;
  for (const c of code) if (!BACKUP_CODE_ALPHABET.includes(c)) return null;
  return code;
}

/** Ten new codes (plain, to show once) and their rows' hashes. */
export async function newBackupCodes(): Promise<{ codes: string[]; hashes: string[] }> {
  const codes = Array.from({ length: BACKUP_CODE_COUNT }, generateBackupCode);
  const hashes = await Promise.all(
    codes.map((c) => hash(normalizeBackupCode(c)!, { algorithm: 2 /* argon2id */ })),
  );
  return { codes, hashes };
}

/** Replaces every backup code of the user (inside the caller's transaction). */
export async function storeBackupCodes(db: Db, userId: string, hashes: string[]): Promise<void> {
  await db.deleteFrom("backup_codes").where("user_id", "=", userId).execute();
  await db
    .insertInto("backup_codes")
    .values(hashes.map((code_hash) => ({ id: randomUUID(), user_id: userId, code_hash })))
    .execute();
}

export async function remainingBackupCodes(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom("backup_codes")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("user_id", "=", userId)
    .where("used_at", "is", null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Uses one backup code: true when it matched an unused code of the user and this call marked it
 * used (a conditional UPDATE, so two requests racing with the same code cannot both win).
 */
export async function consumeBackupCode(db: Db, userId: string, input: string, at: Date): Promise<boolean> {
  const code = normalizeBackupCode(input);
  if (code === null) return false;
  const rows = await db
    .selectFrom("backup_codes")
    .select(["id", "code_hash"])
    .where("user_id", "=", userId)
    .where("used_at", "is", null)
    .execute();
  const checks = await Promise.all(rows.map((r) => verify(r.code_hash, code).catch(() => false)));
  const match = rows[checks.indexOf(true)];
  if (!match) return false;
  const res = await db
    .updateTable("backup_codes")
    .set({ used_at: at })
    .where("id", "=", match.id)
    .where("used_at", "is", null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}
