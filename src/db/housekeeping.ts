/**
 * Housekeeping: rows that can no longer be used are deleted, so the hot tables do not grow without
 * end. A session is removed when it is presented after its expiry, but a browser that never comes
 * back would leave its row forever; the same holds for pending 2FA sign-ins and rate-limit windows.
 *
 *   sessions         past their idle or absolute expiry
 *   mfa_challenges   past their expiry
 *   throttle         windows that ended and block nothing any more
 *   sso_traces       connection traces older than 7 days (SPEC §17)
 *
 * On embedded storage (PGlite) PostgreSQL runs as a single backend without its autovacuum worker,
 * so housekeeping also vacuums and analyses those tables (and, once a day, the whole database):
 * dead rows are reclaimed and the planner's statistics stay current. On a PostgreSQL server,
 * autovacuum does that. Every run is idempotent: any number of nodes may run it.
 */
import { sql } from "kysely";
import type { AppContext } from "../context.js";
import { LIMITS } from "../http/throttle.js";
import { sweepSamlStore } from "../sso/saml/index.js";
import { sweepSamlHandoffs } from "../sso/saml-routes.js";
import { purgeTraces, TRACE_RETENTION_MS } from "../sso/traces.js";

/** The longest rate-limit window: a throttle row older than this counts nothing. */
const LONGEST_WINDOW_MS = Math.max(...Object.values(LIMITS).map((l) => l.windowSeconds)) * 1000;
const SWEPT_TABLES = ["sessions", "mfa_challenges", "throttle"] as const;

export interface SweepResult {
  sessions: number;
  mfaChallenges: number;
  throttle: number;
  /** Connection traces past their 7 days. */
  traces: number;
  /** SAML AuthnRequests, Assertion IDs and ACS handles past their expiry. */
  saml: { requests: number; assertions: number; handoffs: number };
  vacuumed: string[];
}

/** One housekeeping pass. `vacuum`: "tables" (the swept ones), "all" (the database) or "none". */
export async function sweepExpired(ctx: AppContext, vacuum: "tables" | "all" | "none"): Promise<SweepResult> {
  const now = ctx.now();
  const sessions = await ctx.db
    .deleteFrom("sessions")
    .where((eb) => eb.or([eb("idle_expires_at", "<=", now), eb("absolute_expires_at", "<=", now)]))
    .executeTakeFirst();
  const challenges = await ctx.db
    .deleteFrom("mfa_challenges")
    .where("expires_at", "<=", now)
    .executeTakeFirst();
  const windowsBefore = new Date(now.getTime() - LONGEST_WINDOW_MS);
  const throttle = await ctx.db
    .deleteFrom("throttle")
    .where("window_start", "<=", windowsBefore)
    .where((eb) => eb.or([eb("blocked_until", "is", null), eb("blocked_until", "<=", now)]))
    .executeTakeFirst();
  const traces = await purgeTraces(ctx.db, new Date(now.getTime() - TRACE_RETENTION_MS));
  const saml = await sweepSamlStore(ctx.db, now);
  const samlHandoffs = await sweepSamlHandoffs(ctx.db, now);
  const vacuumed: string[] = [];
  if (vacuum === "all") {
    await sql`VACUUM (ANALYZE)`.execute(ctx.db);
    vacuumed.push("*");
  } else if (vacuum === "tables") {
    await sql`VACUUM (ANALYZE) sessions, mfa_challenges, throttle`.execute(ctx.db);
    vacuumed.push(...SWEPT_TABLES);
  }
  return {
    sessions: Number(sessions.numDeletedRows),
    mfaChallenges: Number(challenges.numDeletedRows),
    throttle: Number(throttle.numDeletedRows),
    traces,
    saml: { ...saml, handoffs: samlHandoffs },
    vacuumed,
  };
}

export interface HousekeepingOptions {
  /** Embedded storage: vacuum too (no autovacuum there). */
  embedded: boolean;
  /** Between passes. Default 15 minutes; the first pass runs one interval after start. */
  intervalMs?: number;
  /** Whole-database VACUUM on embedded storage every this many passes. Default: once a day. */
  fullEvery?: number;
}

/** Starts the periodic passes; returns the function that stops them (waiting for a running pass). */
export function startHousekeeping(ctx: AppContext, options: HousekeepingOptions): () => Promise<void> {
  const intervalMs = options.intervalMs ?? 15 * 60_000;
  const fullEvery = options.fullEvery ?? Math.max(1, Math.round((24 * 3_600_000) / intervalMs));
  let passes = 0;
  let running: Promise<void> | null = null;
  const pass = async () => {
    passes++;
    const vacuum = !options.embedded ? "none" : passes % fullEvery === 0 ? "all" : "tables";
    try {
      const result = await sweepExpired(ctx, vacuum);
      ctx.log.debug({ housekeeping: result }, "housekeeping pass");
    } catch (err) {
      ctx.log.warn({ err }, "housekeeping pass failed; the next one will try again");
    }
  };
  const timer = setInterval(() => {
    if (running) return; // a slow pass is never overlapped by the next
    running = pass().finally(() => {
      running = null;
    });
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
