// SPEC §1: an analyst needs a sub-account to sign in, so losing the last one ends their sessions
// (issue 14 item 10) — whichever way it goes: membership removal by an admin, the provisioning
// API, deleting the sub-account, or an admin made an analyst without sub-accounts.
import { describe, expect, it } from "vitest";
import { useAgencyWithScript } from "../provisioning/helpers.js";
import { Client } from "../support/app.js";
import { storages } from "../support/db.js";

describe.each(storages())("an analyst's last sub-account removed (%s)", (storage) => {
  const w = useAgencyWithScript(storage);

  /** A user signed in on their own client, with a first /me answered (and cached) 200. */
  async function signedIn(input: { role: "analyst" | "admin"; subAccountIds: string[] }) {
    const user = await w.t.seedUser(w.a.agency.id, input);
    const c = new Client(w.t.app, w.a.host);
    expect((await c.login(user.email)).statusCode).toBe(200);
    expect((await c.get("/api/auth/me")).statusCode).toBe(200);
    return { user, c };
  }

  const sessionsOf = async (userId: string) =>
    (await w.t.ctx.db.selectFrom("sessions").select("id").where("user_id", "=", userId).execute()).length;

  async function expectSignedOut(c: Client, userId: string) {
    expect((await c.get("/api/auth/me")).statusCode).toBe(401);
    expect(await sessionsOf(userId)).toBe(0);
  }

  it("ends the sessions when an admin removes the last membership", async () => {
    const { user, c } = await signedIn({ role: "analyst", subAccountIds: [w.a.subAccountId] });
    const res = await w.a.admin.put(`/api/admin/users/${user.id}`, { subAccountIds: [] });
    expect(res.statusCode, res.body).toBe(200);
    await expectSignedOut(c, user.id);
  });

  it("ends the sessions when the provisioning API sets subAccountIds to none", async () => {
    const { user, c } = await signedIn({ role: "analyst", subAccountIds: [w.a.subAccountId] });
    const res = await w.script.put(`/api/v1/users/${user.id}`, { subAccountIds: [] });
    expect(res.statusCode, res.body).toBe(200);
    await expectSignedOut(c, user.id);
  });

  it("ends the sessions of the analysts whose only sub-account is deleted, and only theirs", async () => {
    const doomed = await w.t.seedSubAccount(w.a.agency.id, "Doomed");
    const other = await w.t.seedSubAccount(w.a.agency.id, "Other");
    const only = await signedIn({ role: "analyst", subAccountIds: [doomed] });
    const both = await signedIn({ role: "analyst", subAccountIds: [doomed, other] });
    const elsewhere = await signedIn({ role: "analyst", subAccountIds: [w.a.subAccountId] });
    const res = await w.a.admin.delete(`/api/admin/sub-accounts/${doomed}`);
    expect(res.statusCode, res.body).toBe(204);
    await expectSignedOut(only.c, only.user.id);
    expect((await both.c.get("/api/auth/me")).statusCode).toBe(200);
    expect((await elsewhere.c.get("/api/auth/me")).statusCode).toBe(200);
  });

  it("ends the sessions when an admin without sub-accounts is made an analyst", async () => {
    const { user, c } = await signedIn({ role: "admin", subAccountIds: [] });
    const res = await w.a.admin.put(`/api/admin/users/${user.id}`, { role: "analyst" });
    expect(res.statusCode, res.body).toBe(200);
    await expectSignedOut(c, user.id);
    // And they cannot sign in again until they have a sub-account.
    expect((await new Client(w.t.app, w.a.host).login(user.email)).statusCode).toBe(403);
  });

  it("keeps the sessions while a sub-account is left, or of an admin", async () => {
    const second = await w.t.seedSubAccount(w.a.agency.id, "Second");
    const analyst = await signedIn({ role: "analyst", subAccountIds: [w.a.subAccountId, second] });
    expect(
      (await w.a.admin.put(`/api/admin/users/${analyst.user.id}`, { subAccountIds: [second] })).statusCode,
    ).toBe(200);
    expect((await analyst.c.get("/api/auth/me")).statusCode).toBe(200);
    const admin = await signedIn({ role: "admin", subAccountIds: [second] });
    expect((await w.a.admin.put(`/api/admin/users/${admin.user.id}`, { subAccountIds: [] })).statusCode).toBe(
      200,
    );
    expect((await admin.c.get("/api/auth/me")).statusCode).toBe(200);
    expect(await sessionsOf(admin.user.id)).toBe(1);
  });
});
