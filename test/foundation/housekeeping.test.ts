// Housekeeping (src/db/housekeeping.ts): unusable sessions, pending 2FA sign-ins and rate-limit
// windows are deleted, live ones kept; embedded storage is vacuumed too.
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHousekeeping, sweepExpired } from "../../src/db/housekeeping.js";
import { createTestApp, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";

describe.each(storages())("housekeeping (%s)", (storage) => {
  let t: TestApp;
  let agencyId: string;
  let userId: string;

  beforeAll(async () => {
    t = await createTestApp(storage);
    agencyId = (await t.seedAgency({ slug: "keep", domain: "keep.localhost" })).id;
    userId = (await t.seedUser(agencyId, { email: "keeper@keep.test" })).id;
  });
  afterAll(() => t?.close());

  const minutes = (n: number) => new Date(t.clock.now().getTime() + n * 60_000);

  async function seedRows() {
    const session = (id: string, idle: number, absolute: number) => ({
      id,
      user_id: userId,
      agency_id: agencyId,
      method: "password",
      last_seen_at: minutes(-1),
      idle_expires_at: minutes(idle),
      absolute_expires_at: minutes(absolute),
      ip: null,
      user_agent: null,
    });
    await t.ctx.db
      .insertInto("sessions")
      .values([session("live", 30, 600), session("idle-over", -1, 600), session("absolute-over", 30, -1)])
      .execute();
    const challenge = (id: string, expires: number) => ({
      id,
      user_id: userId,
      agency_id: agencyId,
      method: "password",
      purpose: "verify" as const,
      return_to: null,
      expires_at: minutes(expires),
    });
    await t.ctx.db
      .insertInto("mfa_challenges")
      .values([challenge("pending", 5), challenge("stale", -1)])
      .execute();
    await t.ctx.db
      .insertInto("throttle")
      .values([
        { key: "fresh", count: 3, window_start: minutes(-1), blocked_until: null },
        { key: "old", count: 3, window_start: minutes(-120), blocked_until: null },
        { key: "old-but-blocked", count: 99, window_start: minutes(-120), blocked_until: minutes(10) },
      ])
      .execute();
  }

  const ids = async (table: "sessions" | "mfa_challenges") =>
    (await t.ctx.db.selectFrom(table).select("id").orderBy("id").execute()).map((r) => r.id);

  it("deletes what can no longer be used and keeps the rest", async () => {
    await seedRows();
    const result = await sweepExpired(t.ctx, storage === "pglite" ? "tables" : "none");
    expect(result).toMatchObject({ sessions: 2, mfaChallenges: 1, throttle: 1 });
    expect(await ids("sessions")).toEqual(["live"]);
    expect(await ids("mfa_challenges")).toEqual(["pending"]);
    const keys = (await t.ctx.db.selectFrom("throttle").select("key").orderBy("key").execute()).map(
      (r) => r.key,
    );
    expect(keys).toEqual(["fresh", "old-but-blocked"]);
    // A second pass finds nothing more.
    expect(await sweepExpired(t.ctx, "none")).toMatchObject({ sessions: 0, mfaChallenges: 0, throttle: 0 });
  });

  it.runIf(storage === "pglite")("vacuums the swept tables, and the whole database when asked", async () => {
    const vacuums = async () => {
      const { rows } = await sql<{ relname: string; n: string }>`
        select relname, vacuum_count::text as n from pg_stat_user_tables
        where relname in ('sessions', 'users')`.execute(t.ctx.db);
      return Object.fromEntries(rows.map((r) => [r.relname, Number(r.n)]));
    };
    const before = await vacuums();
    expect((await sweepExpired(t.ctx, "tables")).vacuumed).toEqual([
      "sessions",
      "mfa_challenges",
      "throttle",
    ]);
    const afterTables = await vacuums();
    expect(afterTables.sessions).toBeGreaterThan(before.sessions ?? 0);
    expect(afterTables.users).toBe(before.users);
    await sweepExpired(t.ctx, "all");
    expect((await vacuums()).users).toBeGreaterThan(afterTables.users ?? 0);
  });

  it("runs on its interval and stops cleanly", async () => {
    await t.ctx.db
      .insertInto("sessions")
      .values({
        id: "expired-later",
        user_id: userId,
        agency_id: agencyId,
        method: "password",
        last_seen_at: minutes(-1),
        idle_expires_at: minutes(-1),
        absolute_expires_at: minutes(60),
        ip: null,
        user_agent: null,
      })
      .execute();
    const stop = startHousekeeping(t.ctx, { embedded: storage === "pglite", intervalMs: 20 });
    try {
      await expect
        .poll(async () => (await ids("sessions")).includes("expired-later"), { timeout: 5000 })
        .toBe(false);
    } finally {
      await stop();
    }
  });
});
