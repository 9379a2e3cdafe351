/**
 * A store for @fastify/rate-limit that counts in the database's `throttle` table, so every node
 * of a cluster sees the same count per token (SPEC §10 scale-out: "rate-limit counters live in
 * PostgreSQL"). A fixed window per key, one single-row upsert per request; the clock is the
 * context's (tests move it).
 */
import { sql } from "kysely";
import type { AppContext } from "../context.js";

type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void;

/** Keys of this store, apart from the sign-in throttle's. */
const PREFIX = "api:";

export function throttleTableStore(ctx: AppContext) {
  return class ThrottleTableStore {
    incr(key: string, cb: Callback, timeWindow: number): void {
      const now = ctx.now();
      const expired = new Date(now.getTime() - timeWindow);
      ctx.db
        .insertInto("throttle")
        .values({ key: PREFIX + key, count: 1, window_start: now })
        .onConflict((oc) =>
          oc.column("key").doUpdateSet({
            count: sql`CASE WHEN throttle.window_start <= ${expired} THEN 1 ELSE throttle.count + 1 END`,
            window_start: sql`CASE WHEN throttle.window_start <= ${expired} THEN ${now} ELSE throttle.window_start END`,
          }),
        )
        .returning(["count", "window_start"])
        .executeTakeFirstOrThrow()
        .then(
          (row) =>
            cb(null, {
              current: row.count,
              ttl: Math.max(1, new Date(row.window_start).getTime() + timeWindow - now.getTime()),
            }),
          (err: Error) => cb(err),
        );
    }

    read(key: string, cb: Callback, timeWindow: number): void {
      const now = ctx.now();
      ctx.db
        .selectFrom("throttle")
        .select(["count", "window_start"])
        .where("key", "=", PREFIX + key)
        .executeTakeFirst()
        .then(
          (row) => {
            const ends = row ? new Date(row.window_start).getTime() + timeWindow : 0;
            cb(
              null,
              ends > now.getTime()
                ? { current: row!.count, ttl: ends - now.getTime() }
                : { current: 0, ttl: 0 },
            );
          },
          (err: Error) => cb(err),
        );
    }

    child(): ThrottleTableStore {
      return new ThrottleTableStore();
    }
  };
}
