/**
 * Attempt counters kept in the database, so every node of a cluster sees the same count
 * (SPEC §6 and §10: sign-in attempts are limited per account and per IP). A fixed window per
 * key; past the limit the key is blocked until the window ends.
 *
 * An attempt is reserved (counted) BEFORE it is verified, by one statement that increments the
 * key and returns the new count (`reserve`): of a burst of parallel attempts exactly `max` get
 * through, whatever the interleaving, on one node or many. An attempt that turns out not to
 * count (a right code, where only wrong ones are limited) gives its reservation back (`release`).
 */
import { sql } from "kysely";
import type { AppContext } from "../context.js";
import { AppError } from "./errors.js";

export interface Limit {
  max: number;
  windowSeconds: number;
}

export const LIMITS = {
  signInPerIp: { max: 30, windowSeconds: 60 },
  signInPerAccount: { max: 10, windowSeconds: 15 * 60 },
  mfaPerAccount: { max: 15, windowSeconds: 15 * 60 },
  mfaPerIp: { max: 30, windowSeconds: 60 },
  /** Home-realm discovery on the instance host (email-first lookup). */
  lookupPerIp: { max: 30, windowSeconds: 60 },
  /** Failed provisioning API authentications (unknown, malformed, revoked tokens) per IP. */
  tokenFailuresPerIp: { max: 30, windowSeconds: 60 },
} satisfies Record<string, Limit>;

/**
 * Counts one attempt against the key and returns the key's count in its window, including this
 * attempt, and the seconds until the window ends: one upsert, atomic on every storage.
 */
export async function hit(
  ctx: AppContext,
  key: string,
  limit: Limit,
): Promise<{ count: number; retryAfter: number }> {
  const now = ctx.now();
  const windowStart = new Date(now.getTime() - limit.windowSeconds * 1000);
  const row = await ctx.db
    .insertInto("throttle")
    .values({ key, count: 1, window_start: now })
    .onConflict((oc) =>
      oc.column("key").doUpdateSet({
        count: sql`CASE WHEN throttle.window_start <= ${windowStart} THEN 1 ELSE throttle.count + 1 END`,
        window_start: sql`CASE WHEN throttle.window_start <= ${windowStart} THEN ${now} ELSE throttle.window_start END`,
      }),
    )
    .returning(["count", "window_start"])
    .executeTakeFirstOrThrow();
  const windowEnd = new Date(row.window_start).getTime() + limit.windowSeconds * 1000;
  return { count: row.count, retryAfter: Math.max(1, Math.ceil((windowEnd - now.getTime()) / 1000)) };
}

function rateLimited(wait: number): AppError {
  return new AppError(429, "rate_limited", "Too many attempts. Please wait and try again.", undefined, {
    headers: { "retry-after": String(wait) },
  });
}

/**
 * Reserves one attempt on each key before the attempt is verified; throws 429 with Retry-After
 * when any key is past its limit (the attempt is then not made). Counted first, checked after,
 * so concurrent attempts cannot all pass a check made before any of them is counted.
 */
export async function reserve(ctx: AppContext, checks: Array<[string, Limit]>): Promise<void> {
  for (const [key, limit] of checks) {
    const { count, retryAfter: wait } = await hit(ctx, key, limit);
    if (count > limit.max) throw rateLimited(wait);
  }
}

/** Gives back an attempt reserved on the key (it turned out not to count against the limit). */
export async function release(ctx: AppContext, key: string): Promise<void> {
  await ctx.db
    .updateTable("throttle")
    .set((eb) => ({ count: eb("count", "-", 1) }))
    .where("key", "=", key)
    .where("count", ">", 0)
    .execute();
}

export async function reset(ctx: AppContext, key: string): Promise<void> {
  await ctx.db.deleteFrom("throttle").where("key", "=", key).execute();
}
