// SPEC §13 on Cloudflare Access: the groups come from the team domain's identity endpoint
// (/cdn-cgi/access/get-identity, the double), asked with the person's CF_Authorization only when the
// connection maps groups; the mapping applies as for every kind; an unreachable endpoint fails closed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeCloudflareAccess, startCloudflareAccess } from "../support/cloudflare.js";
import { storages } from "../support/db.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";
import { attempt, createCloudflareConnection, enableWithTest, FAILED, person, runTest } from "./helpers.js";

/** A user as the admin API answers (the fields these tests read). */
type UserView = { role: string; subAccountIds: string[]; groupSubAccountIds: string[] };

describe.each(storages())("Cloudflare Access groups from get-identity (%s)", (storage) => {
  let w: SsoWorld;
  let cf: FakeCloudflareAccess;
  let conn: string;
  let north: string;
  let userId: string;

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    cf = await startCloudflareAccess();
    north = await w.t.seedSubAccount(w.agencyId, "North");
    userId = (await w.t.seedUser(w.agencyId, { email: "zoe@acme.test", role: "analyst" })).id;
    conn = (await createCloudflareConnection(w, cf)).id;
  });

  afterAll(async () => {
    await cf?.close();
    await w?.close();
  });

  it("asks get-identity nothing while the connection maps no groups", async () => {
    const before = cf.identityFetches;
    const test = await runTest(w, conn, await cf.sign(person("admin@acme.test")));
    expect(test.status).toBe("passed");
    expect(cf.identityFetches).toBe(before);
    expect(cf.requests.some((r) => r.url.includes("get-identity"))).toBe(false);
  });

  it("maps the identity's groups (ids or names of Cloudflare's group objects) to a sub-account", async () => {
    const res = await w.api("PUT", `/api/admin/sso/connections/${conn}`, {
      type: "cloudflare-access",
      name: "Cloudflare Access",
      teamDomain: cf.teamDomain,
      audience: cf.audTag,
      groupsField: "groups",
    });
    expect(res.status, res.body).toBe(200);
    expect(
      (
        await w.api("POST", `/api/admin/sso/connections/${conn}/group-mappings`, {
          group: "Team North",
          subAccountIds: [north],
        })
      ).status,
    ).toBe(201);
    cf.setIdentity("admin@acme.test", { groups: [{ id: "g-1", name: "Admins" }] });
    const test = await enableWithTest(w, conn, await cf.sign(person("admin@acme.test")));
    expect(test.diagnostic?.groups?.received).toEqual(["Admins", "g-1"]);

    cf.setIdentity("zoe@acme.test", { groups: [{ id: "g-2", name: "Team North" }] });
    let { res: back } = await attempt(w, await cf.sign(person("zoe@acme.test")));
    expect(where(back)).toBe("/");
    let zoe = (await w.api("GET", `/api/admin/users/${userId}`)).json<{ user: UserView }>().user;
    expect(zoe.groupSubAccountIds).toEqual([north]);

    // The group is gone at Cloudflare: the sub-account goes, and an analyst without one is refused.
    cf.setIdentity("zoe@acme.test", { groups: [] });
    ({ res: back } = await attempt(w, await cf.sign(person("zoe@acme.test"))));
    expect(where(back)).toBe("/login?error=not_authorized");
    zoe = (await w.api("GET", `/api/admin/users/${userId}`)).json<{ user: UserView }>().user;
    expect(zoe.subAccountIds).toEqual([]);
  });

  it("fails closed when get-identity does not answer an identity", async () => {
    await cf.setDown(true);
    try {
      // The certs are cached: the assertion verifies, the identity endpoint is down.
      const { res: down } = await attempt(w, await cf.sign(person("zoe@acme.test")));
      expect(where(down)).toBe(FAILED);
      const failure = await w.lastSignInFailure();
      expect(failure.step).toBe("groups");
      expect(failure.check).toBe("get_identity");
    } finally {
      await cf.setDown(false);
    }
  });
});
