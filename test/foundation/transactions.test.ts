// Writes that belong together commit together (issue 13 §2). A fault is injected between the parts
// of a change — a trigger in the test database that raises on the second table's insert (or on the
// change's audit record) — and nothing of the first part may remain; without the fault, every part
// commits. On PGlite and on PostgreSQL.
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findAgencyById } from "../../src/agencies/agencies.js";
import { audit, SYSTEM } from "../../src/audit/audit.js";
import { runCommand } from "../../src/cli/commands.js";
import type { Db } from "../../src/db/database.js";
import { inTransaction, savepoint, transaction } from "../../src/db/transaction.js";
import { resolveUser } from "../../src/sso/resolve-user.js";
import { updateUser } from "../../src/users/users.js";
import { codeAt, freshStep, IpClient, userWith2fa } from "../mfa/helpers.js";
import { TEST_PASSWORD } from "../support/app.js";
import { Browser } from "../support/browser.js";
import { storages } from "../support/db.js";
import type { Idp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

let triggers = 0;

/**
 * Makes every insert into `table` (matching `when`, over the row `new`) fail until the returned
 * function removes the trigger.
 */
async function failInserts(db: Db, table: string, when = "true"): Promise<() => Promise<void>> {
  const name = `injected_fault_${++triggers}`;
  await sql
    .raw(
      `create or replace function injected_fault() returns trigger language plpgsql as $$
       begin raise exception 'injected fault on %', tg_table_name; end $$`,
    )
    .execute(db);
  await sql
    .raw(
      `create trigger ${name} before insert on ${table} for each row when (${when}) execute function injected_fault()`,
    )
    .execute(db);
  return async () => {
    await sql.raw(`drop trigger ${name} on ${table}`).execute(db);
  };
}

/** A promise and the function that resolves it (one side waits for the other to get somewhere). */
function signal(): [Promise<void>, () => void] {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return [promise, resolve];
}

const auditAction = (action: string) => `new.action = '${action}'`;

describe.each(storages())("writes that belong together (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let connectionId: string;
  let db: Db;

  const count = async (
    table: "users" | "sessions" | "integration_tokens" | "memberships" | "mfa_challenges" | "backup_codes",
    where = {},
  ) => {
    let q = db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as("n"));
    for (const [k, v] of Object.entries(where)) q = q.where(k as never, "=", v as never);
    return Number((await q.executeTakeFirstOrThrow()).n);
  };
  const audits = async (action: string) =>
    db
      .selectFrom("audit_log")
      .selectAll()
      .where("agency_id", "=", w.agencyId)
      .where("action", "=", action)
      .execute();
  const userByEmail = (email: string) =>
    db
      .selectFrom("users")
      .select(["id", "active"])
      .where("agency_id", "=", w.agencyId)
      .where((eb) => eb(eb.fn("lower", ["email"]), "=", email))
      .executeTakeFirst();

  /** An admin created through the admin API (with a password), signed in on a browser of their own. */
  async function signedInAdmin(email: string) {
    const created = await w.api("POST", "/api/admin/users", {
      email,
      role: "admin",
      password: TEST_PASSWORD,
    });
    expect(created.status, created.body).toBe(201);
    const user = created.json<{ user: { id: string; email: string } }>().user;
    const browser = new Browser();
    expect(
      (await browser.postJson(`${w.origin}/api/auth/login`, { email, password: TEST_PASSWORD })).status,
    ).toBe(200);
    return { user, browser };
  }

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    db = w.t.ctx.db;
    idp = await w.startIdp([
      { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true } },
      { sub: "user-newbie", claims: { email: "newbie@acme.test", email_verified: true, name: "Newbie" } },
    ]);
    await w.t.seedUser(w.agencyId, { email: "alice@acme.test", role: "admin" });
    connectionId = await w.connectIdp(idp, { enableAs: "user-alice" });
    expect((await w.api("PUT", "/api/admin/sso/settings", { provisioning: "allowlist" })).status).toBe(200);
    for (const email of ["alice@acme.test", "newbie@acme.test"]) {
      expect((await w.api("POST", "/api/admin/sso/allowed-emails", { email, role: "admin" })).status).toBe(
        201,
      );
    }
  });
  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  describe("a first SSO sign-in (user, user.create record, session)", () => {
    const signIn = () => w.signIn(connectionId, "user-newbie");

    /** A first sign-in while inserts into `table` fail: refused, no user and no user.create record left. */
    async function expectSignInLeavesNothing(table: string, when?: string) {
      const heal = await failInserts(db, table, when);
      try {
        const { res, browser } = await signIn();
        expect(where(res)).not.toBe("/");
        expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
      } finally {
        await heal();
      }
      expect(await userByEmail("newbie@acme.test")).toBeUndefined();
      expect(await audits("user.create")).toHaveLength(0);
    }

    it("leaves no user when its audit record cannot be written", async () => {
      await expectSignInLeavesNothing("audit_log", auditAction("user.create"));
    });

    it("leaves no user and no user.create record when the session cannot be written", async () => {
      const sessionsBefore = await count("sessions");
      await expectSignInLeavesNothing("sessions");
      expect(await count("sessions")).toBe(sessionsBefore);
    });

    it("commits the user, its record and the session together without a fault", async () => {
      const { res, browser } = await signIn();
      expect(where(res)).toBe("/");
      const user = await userByEmail("newbie@acme.test");
      expect(user).toBeDefined();
      expect(
        (await browser.get(`${w.origin}/api/auth/me`)).json<{ user: { id: string; email: string } }>().user
          .id,
      ).toBe(user!.id);
      expect((await audits("user.create")).map((a) => a.target_id)).toEqual([user!.id]);
      expect(await count("sessions", { user_id: user!.id })).toBe(1);
      expect((await audits("auth.sign_in")).filter((a) => a.target_id === user!.id)).toHaveLength(1);
    });
  });

  // A sign-in that changes nothing about the user (this connection's link, the same email) runs
  // without a transaction: the session and its record are one statement (bench/README.md, issue 15).
  describe("a returning SSO sign-in (session and auth.sign_in record, one statement)", () => {
    it("leaves no session when its auth.sign_in record cannot be written", async () => {
      expect(where((await w.signIn(connectionId, "user-alice")).res)).toBe("/");
      const alice = await userByEmail("alice@acme.test");
      const sessionsBefore = await count("sessions", { user_id: alice!.id });
      const heal = await failInserts(db, "audit_log", auditAction("auth.sign_in"));
      try {
        const { res, browser } = await w.signIn(connectionId, "user-alice");
        expect(where(res)).not.toBe("/");
        expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
      } finally {
        await heal();
      }
      expect(await count("sessions", { user_id: alice!.id })).toBe(sessionsBefore);
      const { res } = await w.signIn(connectionId, "user-alice");
      expect(where(res)).toBe("/");
      expect(await count("sessions", { user_id: alice!.id })).toBe(sessionsBefore + 1);
    });
  });

  describe("the admin and provisioning user APIs (user, memberships, record)", () => {
    it("leaves no user and no membership when the admin API's audit record fails", async () => {
      const heal = await failInserts(db, "audit_log", auditAction("user.create"));
      try {
        const res = await w.api("POST", "/api/admin/users", {
          email: "half@acme.test",
          role: "analyst",
          subAccountIds: [w.subAccountId],
        });
        expect(res.status).toBeGreaterThanOrEqual(500);
      } finally {
        await heal();
      }
      expect(await userByEmail("half@acme.test")).toBeUndefined();
      const res = await w.api("POST", "/api/admin/users", {
        email: "half@acme.test",
        role: "analyst",
        subAccountIds: [w.subAccountId],
      });
      expect(res.status, res.body).toBe(201);
      const id = res.json<{ user: { id: string; email: string } }>().user.id;
      expect(await count("memberships", { user_id: id })).toBe(1);
      expect((await audits("user.create")).filter((a) => a.target_id === id)).toHaveLength(1);
    });

    it("leaves no user when the provisioning API's audit record fails", async () => {
      const created = await w.api("POST", "/api/admin/tokens", { name: "sync", scopes: ["users.write"] });
      expect(created.status, created.body).toBe(201);
      const secret = created.json<{ secret: string }>().secret;
      const call = () =>
        w.t.app.inject({
          method: "POST",
          url: "/api/v1/users",
          headers: {
            host: "acme.localhost",
            authorization: `Bearer ${secret}`,
            "content-type": "application/json",
          },
          payload: JSON.stringify({ email: "synced@acme.test", role: "analyst", externalUserId: "ext-1" }),
        });
      const heal = await failInserts(db, "audit_log", auditAction("user.create"));
      try {
        expect((await call()).statusCode).toBeGreaterThanOrEqual(500);
      } finally {
        await heal();
      }
      expect(await userByEmail("synced@acme.test")).toBeUndefined();
      const res = await call();
      expect(res.statusCode, res.body).toBe(201);
      expect((await audits("user.create")).filter((a) => a.target_id === res.json().user.id)).toHaveLength(1);
    });

    it("keeps a user active with its sessions when the deactivation's record fails", async () => {
      const { user, browser } = await signedInAdmin("dee@acme.test");
      const heal = await failInserts(db, "audit_log", auditAction("user.deactivate"));
      try {
        expect((await w.api("DELETE", `/api/admin/users/${user.id}`)).status).toBeGreaterThanOrEqual(500);
      } finally {
        await heal();
      }
      expect((await userByEmail("dee@acme.test"))!.active).toBe(true);
      expect(await count("sessions", { user_id: user.id })).toBe(1);
      expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(200);

      expect((await w.api("DELETE", `/api/admin/users/${user.id}`)).status).toBe(200);
      expect((await userByEmail("dee@acme.test"))!.active).toBe(false);
      expect(await count("sessions", { user_id: user.id })).toBe(0);
      expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
      expect((await audits("user.deactivate")).filter((a) => a.target_id === user.id)).toHaveLength(1);
    });
  });

  it("leaves no user and no new sub-account when the CLI's user.create record fails", async () => {
    const argv = [
      "user",
      "create",
      "--agency",
      "acme",
      "--email",
      "cli@acme.test",
      "--sub-account",
      "CLI team",
    ];
    const subAccount = () =>
      db
        .selectFrom("sub_accounts")
        .select("id")
        .where("agency_id", "=", w.agencyId)
        .where("name", "=", "CLI team")
        .execute();
    const heal = await failInserts(db, "audit_log", auditAction("user.create"));
    try {
      await expect(runCommand(w.t.ctx, argv)).rejects.toThrow(/injected fault/);
    } finally {
      await heal();
    }
    expect(await userByEmail("cli@acme.test")).toBeUndefined();
    expect(await subAccount()).toEqual([]);
    const { user } = (await runCommand(w.t.ctx, argv)) as { user: { id: string } };
    expect(await subAccount()).toHaveLength(1);
    expect(await count("memberships", { user_id: user.id })).toBe(1);
    expect((await audits("user.create")).filter((a) => a.target_id === user.id)).toHaveLength(1);
  });

  it("leaves no token without its token.create record", async () => {
    const before = await count("integration_tokens");
    const heal = await failInserts(db, "audit_log", auditAction("token.create"));
    try {
      const res = await w.api("POST", "/api/admin/tokens", { name: "half", scopes: ["users.readonly"] });
      expect(res.status).toBeGreaterThanOrEqual(500);
    } finally {
      await heal();
    }
    expect(await count("integration_tokens")).toBe(before);
  });

  it("leaves a connection, its tests and the SSO settings unchanged when the edit's record fails", async () => {
    const connection = () =>
      db
        .selectFrom("sso_connections")
        .select(["config_version", "enabled", "name"])
        .where("id", "=", connectionId)
        .executeTakeFirstOrThrow();
    const tests = () =>
      db
        .selectFrom("sso_tests")
        .select("status")
        .where("connection_id", "=", connectionId)
        .where("status", "=", "passed")
        .execute();
    const ssoEnabled = async () =>
      (
        await db
          .selectFrom("agencies")
          .select("sso_enabled")
          .where("id", "=", w.agencyId)
          .executeTakeFirstOrThrow()
      ).sso_enabled;
    const before = await connection();
    expect(before.enabled).toBe(true);
    expect(await ssoEnabled()).toBe(true);
    expect((await tests()).length).toBeGreaterThan(0);

    const edit = () =>
      w.api("PUT", `/api/admin/sso/connections/${connectionId}`, {
        type: "oidc",
        name: "Acme IdP (renamed)",
        clientId: idp.clientId,
        discoveryUrl: idp.discoveryUrl,
      });
    const heal = await failInserts(db, "audit_log", auditAction("sso.connection.update"));
    try {
      expect((await edit()).status).toBeGreaterThanOrEqual(500);
    } finally {
      await heal();
    }
    expect(await connection()).toEqual(before);
    expect((await tests()).length).toBeGreaterThan(0);
    expect(await ssoEnabled()).toBe(true);

    const res = await edit();
    expect(res.status, res.body).toBe(200);
    expect(await connection()).toEqual({
      config_version: before.config_version + 1,
      enabled: false,
      name: "Acme IdP (renamed)",
    });
    expect(await tests()).toEqual([]);
    expect(await ssoEnabled()).toBe(false);
    expect(await audits("sso.connection.update")).toHaveLength(1);
  });

  describe("two-factor authentication (challenge, records, session; 2FA off with its record)", () => {
    it("keeps the pending sign-in and starts no session when the mfa.verified record fails", async () => {
      const user = await userWith2fa(w.t, w.agencyId, "acme.localhost", { email: "mfa@acme.test" });
      const c = new IpClient(w.t, "acme.localhost");
      expect((await c.login(user.email)).json()).toEqual({ mfaRequired: true });
      const pending = () => count("mfa_challenges", { user_id: user.id });
      expect(await pending()).toBe(1);
      const heal = await failInserts(db, "audit_log", auditAction("mfa.verified"));
      try {
        const res = await c.post("/api/auth/2fa", { code: await codeAt(w.t, user.secret) });
        expect(res.statusCode).toBeGreaterThanOrEqual(500);
      } finally {
        await heal();
      }
      expect(await pending()).toBe(1);
      expect(await count("sessions", { user_id: user.id })).toBe(0);
      freshStep(w.t);
      const res = await c.post("/api/auth/2fa", { code: await codeAt(w.t, user.secret) });
      expect(res.statusCode, res.body).toBe(200);
      expect(await pending()).toBe(0);
      expect(await count("sessions", { user_id: user.id })).toBe(1);

      // Turning 2FA off: the secret and the backup codes stay when its record cannot be written.
      const twoFactor = async () =>
        (
          await db
            .selectFrom("users")
            .select("totp_enabled")
            .where("id", "=", user.id)
            .executeTakeFirstOrThrow()
        ).totp_enabled;
      freshStep(w.t);
      const heal2 = await failInserts(db, "audit_log", auditAction("mfa.disabled"));
      try {
        const off = await c.post("/api/account/2fa/disable", { code: await codeAt(w.t, user.secret) });
        expect(off.statusCode).toBeGreaterThanOrEqual(500);
      } finally {
        await heal2();
      }
      expect(await twoFactor()).toBe(true);
      expect(await count("backup_codes", { user_id: user.id })).toBe(10);
      freshStep(w.t);
      expect(
        (await c.post("/api/account/2fa/disable", { code: await codeAt(w.t, user.secret) })).statusCode,
      ).toBe(204);
      expect(await twoFactor()).toBe(false);
      expect(await count("backup_codes", { user_id: user.id })).toBe(0);
    });
  });

  it("creates one user when two first sign-ins race inside their transactions (the loser reads the winner)", async () => {
    expect((await w.api("POST", "/api/admin/sso/allowed-emails", { email: "racer@acme.test" })).status).toBe(
      201,
    );
    const agency = (await findAgencyById(db, w.agencyId))!;
    const identity = { remoteId: "racer-1", email: "racer@acme.test", idFieldValue: null, name: "Racer" };
    const [gate, release] = signal();
    let created!: () => void;
    const winnerCreated = new Promise<void>((resolve) => {
      created = resolve;
    });
    // The winner creates the user and keeps its transaction open (it would go on to the audit
    // record and the session); the loser's insert then collides with the uncommitted row.
    const winner = inTransaction(w.t.ctx, async (tx) => {
      const r = await resolveUser(tx, agency, connectionId, identity, { dryRun: false });
      created();
      await gate;
      await audit(tx.db, { agencyId: w.agencyId, action: "test.after_race", actor: SYSTEM });
      return r;
    });
    await winnerCreated;
    const loser = inTransaction(w.t.ctx, async (tx) => {
      const r = await resolveUser(tx, agency, connectionId, identity, { dryRun: false });
      // The loser's transaction is still usable after its failed insert.
      await audit(tx.db, { agencyId: w.agencyId, action: "test.after_race", actor: SYSTEM });
      return r;
    });
    if (storage === "postgres") {
      // Wait until the loser's insert waits for the winner's transaction (a lock wait).
      for (;;) {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`.execute(db);
        if (rows[0]!.n > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    release();
    const [a, b] = await Promise.all([winner, loser]);
    expect(a).toMatchObject({ ok: true, how: "created" });
    expect(b.ok && b.userId).toBe(a.ok && a.userId);
    const users = await db
      .selectFrom("users")
      .select("id")
      .where("external_user_id", "=", "racer-1")
      .execute();
    expect(users).toHaveLength(1);
    expect(
      await db.selectFrom("audit_log").select("id").where("action", "=", "test.after_race").execute(),
    ).toHaveLength(2);
  });

  describe("the transaction helper", () => {
    it("hides a transaction's writes from other statements until it commits, and forever after a rollback", async () => {
      const [gate, release] = signal();
      const [wrote, written] = signal();
      const running = transaction(db, async (tx) => {
        await tx
          .insertInto("sub_accounts")
          .values({ id: crypto.randomUUID(), agency_id: w.agencyId, name: "uncommitted" })
          .execute();
        written();
        await gate;
        throw new Error("roll back");
      }).catch((err: Error) => err.message);
      await wrote;
      // Another request's statement meanwhile (on PGlite it waits for the transaction to end: one
      // session must never run another request's statements inside an open transaction).
      const outside = db.selectFrom("sub_accounts").select("id").where("name", "=", "uncommitted").execute();
      release();
      expect(await running).toBe("roll back");
      expect(await outside).toEqual([]);
      expect(
        await db.selectFrom("sub_accounts").select("id").where("name", "=", "uncommitted").execute(),
      ).toEqual([]);
    });

    it("keeps a transaction usable after a failed statement in a savepoint", async () => {
      const name = `dup-${storage}`;
      await db
        .insertInto("sub_accounts")
        .values({ id: crypto.randomUUID(), agency_id: w.agencyId, name })
        .execute();
      const kept = crypto.randomUUID();
      const nested = crypto.randomUUID();
      await transaction(db, async (tx) => {
        await tx
          .insertInto("sub_accounts")
          .values({ id: kept, agency_id: w.agencyId, name: `${name}-kept` })
          .execute();
        await expect(
          savepoint(tx, (sp) =>
            sp
              .insertInto("sub_accounts")
              .values({ id: crypto.randomUUID(), agency_id: w.agencyId, name })
              .execute(),
          ),
        ).rejects.toMatchObject({ code: "23505" });
        // Still usable: on PostgreSQL, without the savepoint, this would fail with 25P02.
        await tx.selectFrom("sub_accounts").select("id").where("id", "=", kept).executeTakeFirstOrThrow();
        // Nested: the inner failure undoes the inner part only; the outer savepoint's write stays.
        await savepoint(tx, async (outer) => {
          await outer
            .insertInto("sub_accounts")
            .values({ id: nested, agency_id: w.agencyId, name: `${name}-nested` })
            .execute();
          await expect(
            savepoint(outer, (inner) =>
              inner
                .insertInto("sub_accounts")
                .values({ id: crypto.randomUUID(), agency_id: w.agencyId, name })
                .execute(),
            ),
          ).rejects.toMatchObject({ code: "23505" });
        });
      });
      const ids = (
        await db.selectFrom("sub_accounts").select("id").where("id", "in", [kept, nested]).execute()
      ).map((r) => r.id);
      expect(ids.sort()).toEqual([kept, nested].sort());
    });

    it("drops what other requests cached while the transaction was open, once it commits", async () => {
      const { user, browser } = await signedInAdmin("cached@acme.test");
      const me = () => browser.get(`${w.origin}/api/auth/me`);
      const [gate, release] = signal();
      const [wrote, written] = signal();
      const deactivation = transaction(db, async (tx) => {
        await updateUser(tx, w.agencyId, user.id, { active: false });
        written();
        await gate;
      });
      await wrote;
      const during = me();
      // On PostgreSQL the request reads (and caches) the committed rows while the deactivation is
      // open; on PGlite it waits for the transaction.
      if (storage === "postgres") expect((await during).status).toBe(200);
      release();
      await deactivation;
      if (storage === "pglite") expect((await during).status).toBe(401);
      expect((await me()).status).toBe(401);
    });
  });
});
