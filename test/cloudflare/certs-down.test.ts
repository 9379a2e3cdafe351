// SPEC §5 / issue 4: every check fails closed when the team domain's certs cannot be fetched.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CloudflareDownMode, FakeCloudflareAccess } from "../support/cloudflare.js";
import { startCloudflareAccess } from "../support/cloudflare.js";
import { storages } from "../support/db.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";
import {
  accessHeaders,
  attempt,
  createCloudflareConnection,
  enableWithTest,
  expectNoSession,
  FAILED,
  newAuditEntry,
  newestAuditId,
  person,
  runTest,
} from "./helpers.js";

describe.each(storages())("Cloudflare Access with its certs endpoint down (%s)", (storage) => {
  let w: SsoWorld;
  let cf: FakeCloudflareAccess;
  let connectionId: string;
  const BOB = "bob@acme.test";

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    cf = await startCloudflareAccess();
    await w.t.seedUser(w.agencyId, { email: BOB, role: "analyst", subAccountIds: [w.subAccountId] });
    connectionId = (await createCloudflareConnection(w, cf)).id;
    await enableWithTest(w, connectionId, await cf.sign(person("admin@acme.test")));
  });
  afterAll(async () => {
    await w?.close();
    await cf?.close();
  });

  /** Everything a sign-in could write besides its failure audit. */
  async function snapshot() {
    const db = w.t.ctx.db;
    const sessions = await db
      .selectFrom("sessions")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    const users = await db
      .selectFrom("users")
      .select(["id", "email", "external_user_id", "updated_at"])
      .orderBy("id")
      .execute();
    const signIns = await db
      .selectFrom("audit_log")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("action", "in", ["auth.sign_in", "auth.first_factor", "user.create", "user.update"])
      .executeTakeFirstOrThrow();
    return JSON.stringify({ sessions: Number(sessions.n), users, signIns: Number(signIns.n) });
  }

  it.each<CloudflareDownMode>([
    "error",
    "reset",
    "refuse",
  ])("refuses a valid assertion when no key set can be fetched (%s), writing nothing", async (mode) => {
    // A node that has not downloaded the certs yet (a fresh process of the cluster).
    w.t.ctx.jwks.invalidate(cf.certsUrl);
    await cf.setDown(true, mode);
    try {
      const before = await snapshot();
      const auditBefore = await newestAuditId(w, "sso.sign_in");
      const { res, browser } = await attempt(w, await cf.sign(person(BOB)));
      expect(res.status).toBe(302);
      expect(where(res)).toBe(FAILED);
      await expectNoSession(w, browser);
      expect(await snapshot()).toBe(before);
      const entry = await newAuditEntry(w, "sso.sign_in", auditBefore);
      expect(entry.details).toMatchObject({
        method: "cloudflare",
        code: "cloudflare_failed",
        step: "assertion",
      });
      expect(entry.details.cause).toMatch(
        /; the certs check failed: the certs of 127\.0\.0\.1:\d+ could not be fetched/,
      );
      await browser.close();
    } finally {
      await cf.setDown(false);
    }
  });

  it("records a failed test naming the certs when they cannot be fetched", async () => {
    w.t.ctx.jwks.invalidate(cf.certsUrl);
    await cf.setDown(true, "error");
    try {
      const test = await runTest(w, connectionId, await cf.sign(person("admin@acme.test")));
      expect(test).toMatchObject({ status: "failed", errorCode: "cloudflare_failed" });
      expect(test.diagnostic?.detail).toMatch(/the certs check failed/);
    } finally {
      await cf.setDown(false);
    }
  });

  it("keeps refusing an unknown kid while down, and signs in once the certs are back", async () => {
    w.t.ctx.jwks.invalidate(cf.certsUrl);
    w.t.clock.advance(31_000);
    // Cached keys keep serving a known kid; an unknown kid cannot be looked up: refused.
    const warm = await attempt(w, await cf.sign(person(BOB)));
    expect(where(warm.res)).toBe("/");
    await cf.setDown(true, "error");
    try {
      w.t.clock.advance(31_000);
      const before = await snapshot();
      const { res } = await attempt(w, await cf.sign(person(BOB), { use: "next" }));
      expect(where(res)).toBe(FAILED);
      expect(await snapshot()).toBe(before);
    } finally {
      await cf.setDown(false);
    }
    w.t.clock.advance(31_000); // the failed download started a cooldown
    const { res, browser } = await attempt(w, await cf.sign(person(BOB)));
    expect(where(res)).toBe("/");
    const me = await browser.get(`${w.origin}/api/auth/me`, { headers: accessHeaders(browser) });
    expect(me.status).toBe(200);
  });
});
