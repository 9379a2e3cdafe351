// SPEC §16: a revocation or settings change made on one node is seen by every other node at once
// (LISTEN/NOTIFY), not after the read cache's time limit. Node B runs with a one-hour time limit,
// so only a notification (or a reconnect's clear) can make it see A's change; "at once" is bounded
// in polls, not in wall time (timing belongs to bench/).
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/crypto/tokens.js";
import { agencyConnections } from "../../src/sso/connections.js";
import { Client, createTestApp, type TestApp } from "../support/app.js";
import { openAnotherNode, storages } from "../support/db.js";

const HOUR = 3_600_000;
/** How many times B is asked before the test gives up (5 ms apart: far below B's time limit). */
const POLLS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` holds; returns how many polls it took, or fails after POLLS. */
async function pollUntil(check: () => Promise<boolean>): Promise<number> {
  for (let i = 1; i <= POLLS; i++) {
    if (await check()) return i;
    await sleep(5);
  }
  throw new Error(`not seen after ${POLLS} polls`);
}

const postgres = storages().includes("postgres");

describe.skipIf(!postgres)("two nodes on one PostgreSQL database (postgres)", () => {
  let a: TestApp;
  let b: TestApp;
  let agencyId: string;

  beforeAll(async () => {
    a = await createTestApp("postgres");
    b = await createTestApp(
      "postgres",
      {},
      { database: await openAnotherNode(a.database, { readCacheTtlMs: HOUR }) },
    );
    const agency = await a.seedAgency({ slug: "acme", domain: "acme.localhost" });
    agencyId = agency.id;
    await a.seedUser(agency.id, { email: "admin@acme.test", role: "admin" });
  });
  afterAll(async () => {
    await b?.app.close();
    await b?.database.close();
    await a?.close();
  });

  const on = (t: TestApp, from?: Client) => {
    const c = new Client(t.app, "acme.localhost");
    if (from) c.cookies = new Map(from.cookies);
    return c;
  };
  /** Signs `email` in on node A; returns that browser on A and the same cookies on B. */
  const signedIn = async (email: string) => {
    const onA = on(a);
    expect((await onA.login(email)).statusCode).toBe(200);
    const onB = on(b, onA);
    // B reads (and caches) the session.
    expect((await onB.get("/api/auth/me")).statusCode).toBe(200);
    expect((await onB.get("/api/auth/me")).statusCode).toBe(200);
    return { onA, onB };
  };
  const refused = (c: Client) => async () => (await c.get("/api/auth/me")).statusCode === 401;

  it("a sign-out on A ends the session on B without waiting for B's cache", async () => {
    const { onA, onB } = await signedIn("admin@acme.test");
    expect((await onA.post("/api/auth/logout")).statusCode).toBeLessThan(300);
    await pollUntil(refused(onB));
  });

  it("a deactivation on A ends the user's session on B", async () => {
    const user = await a.seedUser(agencyId, { email: "deact@acme.test", role: "analyst" });
    await a.ctx.db
      .insertInto("memberships")
      .values({ user_id: user.id, sub_account_id: await a.seedSubAccount(agencyId) })
      .execute();
    const { onB } = await signedIn("deact@acme.test");
    const { onA: admin } = await signedIn("admin@acme.test");
    expect((await admin.delete(`/api/admin/users/${user.id}`)).statusCode).toBe(200);
    await pollUntil(refused(onB));
  });

  it("a password change on A ends the user's session on B", async () => {
    const user = await a.seedUser(agencyId, { email: "pw@acme.test", role: "admin" });
    const { onB } = await signedIn("pw@acme.test");
    const { onA: admin } = await signedIn("admin@acme.test");
    const res = await admin.put(`/api/admin/users/${user.id}`, { password: "a brand new password 1" });
    expect(res.statusCode).toBe(200);
    await pollUntil(refused(onB));
  });

  it("an SSO settings change and a new connection on A are seen on B", async () => {
    const { onA: adminA, onB: adminB } = await signedIn("admin@acme.test");
    expect((await adminB.get("/api/admin/sso")).json().settings.provisioning).toBe("existing-users");
    expect(await agencyConnections(b.ctx, agencyId)).toHaveLength(0);
    expect((await adminA.put("/api/admin/sso/settings", { provisioning: "allowlist" })).statusCode).toBe(200);
    await pollUntil(
      async () => (await adminB.get("/api/admin/sso")).json().settings.provisioning === "allowlist",
    );
    const created = await adminA.post("/api/admin/sso/connections", {
      type: "cloudflare-access",
      name: "Access",
      teamDomain: "acme.cloudflareaccess.com",
      audience: "a".repeat(64),
    });
    expect(created.statusCode).toBe(201);
    await pollUntil(async () => (await agencyConnections(b.ctx, agencyId)).length === 1);
  });

  it("B's listener, terminated, clears B's caches and subscribes again", async () => {
    const listener = b.database.cacheListener!;
    const firstPid = listener.backendPid!;
    const subscriptions = listener.subscriptions;
    const { onB } = await signedIn("admin@acme.test");
    // The session row goes without any notification (triggers off): only B's cache still has it.
    const token = onB.cookies.get("copilot_session")!;
    await a.ctx.db.transaction().execute(async (tx) => {
      await sql`SET LOCAL session_replication_role = replica`.execute(tx);
      const gone = await sql`DELETE FROM sessions WHERE id = ${sha256Hex(token)}`.execute(tx);
      expect(gone.numAffectedRows).toBe(1n);
    });
    for (let i = 0; i < 5; i++) expect((await onB.get("/api/auth/me")).statusCode).toBe(200);

    await sql`SELECT pg_terminate_backend(${firstPid}::int)`.execute(a.ctx.db);
    // Losing the connection may have lost notifications: B stops trusting (and clears) its caches.
    await pollUntil(refused(onB));
    await listener.subscribed(subscriptions);
    expect(listener.backendPid).not.toBe(firstPid);

    // Subscribed again: a sign-out on A reaches B as before.
    const again = await signedIn("admin@acme.test");
    expect((await again.onA.post("/api/auth/logout")).statusCode).toBeLessThan(300);
    await pollUntil(refused(again.onB));
  });
});
