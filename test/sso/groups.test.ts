// SPEC §13 on real loopback IdPs (oidc-provider emitting `groups`, an Entra-like overage token, the
// Cloudflare Access double serving get-identity): role promotion and demotion, sub-accounts granted
// and revoked at the next sign-in, hand-granted memberships kept, the allowed-groups restriction (and
// its combination with the allowlist), overage refused with its diagnostic, the test showing the
// groups, the mappings API's validation, and audit entries naming the groups.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_PASSWORD } from "../support/app.js";
import { Browser } from "../support/browser.js";
import { storages } from "../support/db.js";
import type { Idp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

/** A user as the admin API answers (the fields these tests read). */
type UserView = { role: string; subAccountIds: string[]; groupSubAccountIds: string[] };

const person = (email: string, groups: unknown) => ({
  email,
  email_verified: true,
  name: email.split("@")[0],
  groups,
});

describe.each(storages())("groups → role, sub-accounts and access (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let conn: string;
  let north: string;
  let south: string;
  let aliceId: string;
  let bobId: string;

  const mappings = (id = conn) => `/api/admin/sso/connections/${id}/group-mappings`;
  const userOf = async (id: string) =>
    (await w.api("GET", `/api/admin/users/${id}`)).json<{ user: UserView }>().user;
  const setGroups = (sub: string, groups: unknown) => {
    const account = idp.accounts.find((a) => a.sub === sub)!;
    account.claims = { ...account.claims, groups };
  };

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    north = await w.t.seedSubAccount(w.agencyId, "North");
    south = await w.t.seedSubAccount(w.agencyId, "South");
    aliceId = (
      await w.t.seedUser(w.agencyId, {
        email: "alice@acme.test",
        role: "analyst",
        subAccountIds: [w.subAccountId],
      })
    ).id;
    bobId = (await w.t.seedUser(w.agencyId, { email: "bob@acme.test", role: "analyst" })).id;
    idp = await w.startIdp([
      { sub: "alice", claims: person("alice@acme.test", ["CoPilot Admins", "Team North"]) },
      { sub: "bob", claims: person("bob@acme.test", ["Team North"]) },
    ]);
    w.watch(idp);
    conn = await w.connectIdp(idp, { fields: { groupsField: "groups" } });
    for (const body of [
      { group: "CoPilot Admins", role: "admin" },
      { group: "Team North", role: "analyst", subAccountIds: [north] },
      { group: "Team South", subAccountIds: [south] },
    ]) {
      const res = await w.api("POST", mappings(), body);
      expect(res.status, res.body).toBe(201);
    }
    await w.enable(conn, "alice");
  });

  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  it("the test shows the groups received and the role and sub-accounts they would give", async () => {
    const test = await w.runTest(conn, "alice");
    expect(test.status).toBe("passed");
    expect(test.diagnostic.groups).toEqual({
      received: ["CoPilot Admins", "Team North"],
      matched: ["CoPilot Admins", "Team North"],
      role: "admin",
      subAccountIds: [north],
      allowed: true,
    });
    expect(test.diagnostic.detail).toContain("groups received: CoPilot Admins, Team North");
    // A dry run: nothing changed.
    expect((await userOf(aliceId)).role).toBe("analyst");
    const trace = await w.api("GET", `/api/admin/sso/traces/${test.traceId}`);
    expect(trace.status, trace.body).toBe(200);
    expect(trace.body).toContain("CoPilot Admins");
  });

  it("promotes, grants, demotes and revokes at each sign-in; hand-granted memberships stay", async () => {
    setGroups("alice", ["CoPilot Admins", "Team North"]);
    let { res } = await w.signIn(conn, "alice");
    expect(where(res)).toBe("/");
    let alice = await userOf(aliceId);
    expect(alice.role).toBe("admin");
    expect(alice.subAccountIds).toEqual([w.subAccountId, north].sort());
    expect(alice.groupSubAccountIds).toEqual([north]);

    // The provisioning API shows the same.
    const token = await w.api("POST", "/api/admin/tokens", { name: "t", scopes: ["users.readonly"] });
    expect(token.status, token.body).toBe(201);
    const bearer = token.json<{ secret: string }>().secret;
    const prov = new Browser();
    const viaApi = await prov.get(`${w.origin}/api/v1/users/${aliceId}`, {
      headers: { authorization: `Bearer ${bearer}` },
    });
    expect(viaApi.status, viaApi.body).toBe(200);
    expect(viaApi.json<{ user: UserView }>().user.groupSubAccountIds).toEqual([north]);

    // "CoPilot Admins" gone, "Team South" in: demoted to analyst by Team North, North kept, South added.
    setGroups("alice", ["Team North", "Team South"]);
    ({ res } = await w.signIn(conn, "alice"));
    expect(where(res)).toBe("/");
    alice = await userOf(aliceId);
    expect(alice.role).toBe("analyst");
    expect(alice.subAccountIds).toEqual([w.subAccountId, north, south].sort());

    // No group at all: the role stays, the group-granted memberships go, the hand-granted one stays.
    setGroups("alice", []);
    ({ res } = await w.signIn(conn, "alice"));
    expect(where(res)).toBe("/");
    alice = await userOf(aliceId);
    expect(alice.role).toBe("analyst");
    expect(alice.subAccountIds).toEqual([w.subAccountId]);
    expect(alice.groupSubAccountIds).toEqual([]);

    // Audit entries name the groups that caused each change.
    const roles = await w.auditFor("user.update");
    const promoted = roles.find((e) => e.details?.via === "sso_groups" && e.details.role?.to === "admin");
    expect(promoted?.details.groups).toEqual(["CoPilot Admins"]);
    const demoted = roles.find((e) => e.details?.via === "sso_groups" && e.details.role?.to === "analyst");
    expect(demoted?.details.groups).toEqual(["Team North"]);
    const syncs = await w.auditFor("user.memberships.sync");
    expect(syncs.map((e) => e.details.added)).toContainEqual([
      { subAccountId: north, groups: ["Team North"] },
    ]);
    expect(syncs.some((e) => e.details.removed?.includes(north) && e.details.removed?.includes(south))).toBe(
      true,
    );
    await w.expectAuditClean();
  });

  it("an admin's PUT of the memberships keeps the group-granted ones the groups'", async () => {
    setGroups("alice", ["Team North"]);
    await w.signIn(conn, "alice");
    const put = await w.api("PUT", `/api/admin/users/${aliceId}`, { subAccountIds: [w.subAccountId, north] });
    expect(put.status, put.body).toBe(200);
    expect(put.json<{ user: UserView }>().user.groupSubAccountIds).toEqual([north]);
    setGroups("alice", []);
    await w.signIn(conn, "alice");
    expect((await userOf(aliceId)).subAccountIds).toEqual([w.subAccountId]);
  });

  it("an analyst whose only sub-account came from a group loses it and is refused next time", async () => {
    setGroups("bob", ["Team North"]);
    let { res } = await w.signIn(conn, "bob");
    expect(where(res)).toBe("/");
    expect((await userOf(bobId)).subAccountIds).toEqual([north]);
    setGroups("bob", []);
    ({ res } = await w.signIn(conn, "bob"));
    expect(where(res)).toBe("/login?error=not_authorized");
    expect((await userOf(bobId)).subAccountIds).toEqual([]);
  });

  it("an Entra group overage is refused with sso_failed and says how to fix it in Entra", async () => {
    setGroups("alice", undefined);
    idp.setTamper(async (body, i) => {
      if (body.id_token)
        body.id_token = await i.patchIdToken(body.id_token, {
          groups: undefined,
          _claim_names: { groups: "src1" },
          _claim_sources: { src1: { endpoint: "https://graph.microsoft.com/v1.0/users/x/getMemberObjects" } },
        });
      return body;
    });
    try {
      const { res } = await w.signIn(conn, "alice");
      expect(where(res)).toBe("/login?error=sso_failed");
      const failure = await w.lastSignInFailure();
      expect(failure.step).toBe("groups");
      expect(failure.check).toBe("group_overage");
      expect(String(failure.cause)).toContain("Groups assigned to the application");
      expect(String(failure.cause)).toContain("app roles");
      const test = await w.runTest(conn, "alice");
      expect(test.status).toBe("failed");
      expect(test.errorCode).toBe("sso_failed");
      expect(test.diagnostic.step).toBe("groups");
      expect(test.diagnostic.detail).toContain("Groups assigned to the application");
    } finally {
      idp.setTamper(async (body) => body);
    }
    // `hasgroups` (Entra's implicit-flow overage) alike.
    setGroups("alice", undefined);
    const account = idp.accounts.find((a) => a.sub === "alice")!;
    account.claims = { ...account.claims, hasgroups: true };
    try {
      const { res } = await w.signIn(conn, "alice");
      expect(where(res)).toBe("/login?error=sso_failed");
      expect((await w.lastSignInFailure()).overage).toBe("hasgroups");
    } finally {
      account.claims = { ...account.claims, hasgroups: undefined };
    }
  });

  it("allowedGroups refuses a person in none of them (not_authorized, the check named) and admits a member; the allowlist must pass too", async () => {
    const idp2 = await w.startIdp([
      { sub: "carol", claims: person("carol@acme.test", ["Contractors"]) },
      { sub: "dave", claims: person("dave@acme.test", ["Staff"]) },
      { sub: "erin", claims: person("erin@acme.test", ["Contractors"]) },
    ]);
    try {
      const restricted = await w.connectIdp(idp2, {
        fields: { name: "Restricted", groupsField: "groups", allowedGroups: ["Staff"] },
      });
      const got = await w.api("GET", `/api/admin/sso/connections/${restricted}`);
      expect(got.json<{ connection: { allowedGroups: string[] } }>().connection.allowedGroups).toEqual([
        "Staff",
      ]);
      await w.t.seedUser(w.agencyId, { email: "carol@acme.test", role: "analyst", subAccountIds: [north] });
      const started = await w.runTest(restricted, "carol");
      expect(started.status, JSON.stringify(started)).toBe("passed");
      expect(started.diagnostic.groups.allowed).toBe(false);
      expect(started.diagnostic.detail).toContain("would be refused");
      expect(
        (await w.api("PUT", `/api/admin/sso/connections/${restricted}/enabled`, { enabled: true })).status,
      ).toBe(200);

      let { res } = await w.signIn(restricted, "carol");
      expect(where(res)).toBe("/login?error=not_authorized");
      const failure = await w.lastSignInFailure();
      expect(failure.check).toBe("allowed_groups");
      expect(String(failure.cause)).toContain("allowed groups check");

      // Allowlist policy: dave is in Staff but not on the list; erin is on the list but not in Staff.
      expect((await w.api("PUT", "/api/admin/sso/settings", { provisioning: "allowlist" })).status).toBe(200);
      await w.api("POST", "/api/admin/sso/allowed-emails", { email: "erin@acme.test", role: "analyst" });
      ({ res } = await w.signIn(restricted, "dave"));
      expect(where(res)).toBe("/login?error=email_not_allowed");
      ({ res } = await w.signIn(restricted, "erin"));
      expect(where(res)).toBe("/login?error=not_authorized");
      const erin = await w.t.ctx.db
        .selectFrom("users")
        .select("id")
        .where("email", "=", "erin@acme.test")
        .executeTakeFirst();
      expect(erin).toBeUndefined();
      // Both pass: on the list and in Staff (with a mapping giving a sub-account).
      expect(
        (await w.api("POST", mappings(restricted), { group: "Staff", subAccountIds: [north] })).status,
      ).toBe(201);
      idp2.accounts.find((a) => a.sub === "erin")!.claims.groups = ["Staff"];
      ({ res } = await w.signIn(restricted, "erin"));
      expect(where(res)).toBe("/");
    } finally {
      await w.api("PUT", "/api/admin/sso/settings", { provisioning: "existing-users" });
      await idp2.close();
    }
  });

  it("validates the mappings API: 422 naming the field, 409 on a duplicate group, 403 for analysts, 404 for another agency", async () => {
    let res = await w.api("POST", mappings(), { group: "X", subAccountIds: ["nope"] });
    expect(res.status).toBe(422);
    expect(res.json<{ error: { field: string } }>().error.field).toBe("subAccountIds");
    res = await w.api("POST", mappings(), { group: "X" });
    expect(res.status).toBe(422);
    res = await w.api("POST", mappings(), { group: "CoPilot Admins", role: "analyst" });
    expect(res.status).toBe(409);
    expect(res.json<{ error: { code: string } }>().error.code).toBe("group_mapped");
    res = await w.api("POST", mappings(), { group: "Y", role: "owner" });
    expect(res.status).toBe(422);

    const list = (await w.api("GET", mappings())).json<{
      groupMappings: Array<{ id: string; group: string }>;
    }>();
    const south = list.groupMappings.find((m) => m.group === "Team South")!;
    res = await w.api("PUT", `${mappings()}/${south.id}`, { group: "Team North", role: "analyst" });
    expect(res.status).toBe(409);
    res = await w.api("PUT", `${mappings()}/${south.id}`, {
      group: "Team South",
      role: "analyst",
      subAccountIds: [],
    });
    expect(res.status, res.body).toBe(200);
    expect(res.json<{ groupMapping: { role: string | null } }>().groupMapping.role).toBe("analyst");
    const audits = await w.auditFor("sso.group_mapping.update");
    expect(audits[0]?.details.after.group).toBe("Team South");

    // An analyst of the agency may not read it.
    await w.t.seedUser(w.agencyId, { email: "ann@acme.test", role: "analyst", subAccountIds: [north] });
    const ann = new Browser();
    await ann.postJson(`${w.origin}/api/auth/login`, { email: "ann@acme.test", password: TEST_PASSWORD });
    expect((await ann.get(`${w.origin}${mappings()}`)).status).toBe(403);

    // Another agency's admin gets a 404 for this connection and this mapping.
    const port = new URL(w.origin).port;
    const other = await w.t.seedAgency({ slug: "globex", domain: "globex.localhost" });
    await w.t.seedUser(other.id, { email: "admin@globex.test", role: "admin" });
    const g = new Browser();
    const gOrigin = `http://globex.localhost:${port}`;
    expect(
      (await g.postJson(`${gOrigin}/api/auth/login`, { email: "admin@globex.test", password: TEST_PASSWORD }))
        .status,
    ).toBe(200);
    expect((await g.get(`${gOrigin}${mappings()}`)).status).toBe(404);
    expect(
      (await g.postJson(`${gOrigin}${mappings()}/${south.id}`, undefined, { method: "DELETE" })).status,
    ).toBe(404);

    res = await w.api("DELETE", `${mappings()}/${south.id}`);
    expect(res.status).toBe(204);
    res = await w.api("DELETE", `${mappings()}/${south.id}`);
    expect(res.status).toBe(404);
  });

  it("allowedGroups needs a groupsField (422 naming it)", async () => {
    const res = await w.api("POST", "/api/admin/sso/connections", {
      type: "oidc",
      name: "No field",
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      discoveryUrl: idp.discoveryUrl,
      allowedGroups: ["Staff"],
    });
    expect(res.status).toBe(422);
    expect(res.json<{ error: { field: string } }>().error.field).toBe("groupsField");
  });
});
