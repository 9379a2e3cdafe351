/**
 * SPEC §13 on a SAML connection (issue 17's "done when"): an admin maps "CoPilot Admins" → admin
 * and "Team North" → sub-account North; a person whose Response carries those groups in an
 * attribute (Entra's groups claim URI) signs in with that role and sub-account, and loses them
 * when the IdP stops sending the groups. The loopback SAML IdP double signs real Responses.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser } from "../support/browser.js";
import { storages } from "../support/db.js";
import { type ServedSamlIdp, serveSamlIdp } from "../support/saml-idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

const GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";

type UserView = { role: string; subAccountIds: string[]; groupSubAccountIds: string[] };

describe.each(storages())("groups on a SAML connection (%s)", (storage) => {
  let w: SsoWorld;
  let idp: ServedSamlIdp;
  let conn: string;
  let north: string;
  let carolId: string;

  const user = (groups: string[]) => ({
    nameId: "carol@acme.test",
    attributes: { email: ["carol@acme.test"], [GROUPS]: groups },
  });
  const userOf = async (id: string) =>
    (await w.api("GET", `/api/admin/users/${id}`)).json<{ user: UserView }>().user;

  /** start → IdP form → cross-site POST to the ACS → 303 → continue → settle. */
  async function throughIdp(browser: Browser, url: string) {
    const start = await browser.get(url);
    expect(start.status, start.body).toBe(302);
    const page = await browser.get(start.location!);
    expect(page.status, page.body).toBe(200);
    const acs = await browser.submitForm(page, {});
    expect(acs.status, acs.body).toBe(303);
    return browser.follow(acs, { stopBefore: (u) => !u.pathname.startsWith("/login/saml/") });
  }

  const signIn = () => throughIdp(new Browser(), `${w.origin}/login/sso/start?connection=${conn}`);

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    north = await w.t.seedSubAccount(w.agencyId, "North");
    carolId = (
      await w.t.seedUser(w.agencyId, {
        email: "carol@acme.test",
        role: "analyst",
        subAccountIds: [w.subAccountId],
      })
    ).id;
    idp = await serveSamlIdp({ profile: "okta" });
    idp.setUser(user(["CoPilot Admins", "Team North"]));
    const { id } = await w.createConnection({
      type: "saml",
      name: "Okta",
      samlMetadataUrl: idp.metadataUrl,
      mapping: { emailField: "email" },
      groupsField: GROUPS,
    });
    conn = id;
    for (const body of [
      { group: "CoPilot Admins", role: "admin" },
      { group: "Team North", role: "analyst", subAccountIds: [north] },
    ]) {
      const res = await w.api("POST", `/api/admin/sso/connections/${conn}/group-mappings`, body);
      expect(res.status, res.body).toBe(201);
    }
    const started = await w.api("POST", `/api/admin/sso/connections/${conn}/tests`);
    expect(started.status, started.body).toBe(201);
    const { authorizationUrl, test } = started.json<{ authorizationUrl: string; test: { id: string } }>();
    const page = await w.admin.get(authorizationUrl);
    const acs = await w.admin.submitForm(page, {});
    const back = await w.admin.follow(acs, { stopBefore: (u) => !u.pathname.startsWith("/login/saml/") });
    expect(where(back)).toBe(`/settings/sso?test=${test.id}`);
    const result = (await w.api("GET", `/api/admin/sso/tests/${test.id}`)).json<{
      test: { status: string; diagnostic: { groups?: { received: string[]; role: string | null } } };
    }>().test;
    expect(result.status, JSON.stringify(result)).toBe("passed");
    expect(result.diagnostic.groups).toMatchObject({
      received: ["CoPilot Admins", "Team North"],
      role: "admin",
    });
    expect((await w.api("PUT", `/api/admin/sso/connections/${conn}/enabled`, { enabled: true })).status).toBe(
      200,
    );
    expect((await w.api("PUT", "/api/admin/sso/settings", { enabled: true })).status).toBe(200);
  });

  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  it("signs the person in with the role and sub-account their groups give", async () => {
    expect(await userOf(carolId)).toMatchObject({ role: "analyst", groupSubAccountIds: [] });
    const res = await signIn();
    expect(where(res)).toBe("/");
    const carol = await userOf(carolId);
    expect(carol.role).toBe("admin");
    expect(carol.subAccountIds).toEqual(expect.arrayContaining([w.subAccountId, north]));
    expect(carol.groupSubAccountIds).toEqual([north]);
  });

  it("takes them away when the IdP stops sending the groups; the hand-granted sub-account stays", async () => {
    idp.setUser(user([]));
    const res = await signIn();
    expect(where(res)).toBe("/");
    const carol = await userOf(carolId);
    expect(carol.groupSubAccountIds).toEqual([]);
    expect(carol.subAccountIds).toEqual([w.subAccountId]);
    // No mapped group: the role stays as it is (SPEC §13); the highest mapped role decides otherwise.
    expect(carol.role).toBe("admin");
    idp.setUser(user(["Team North"]));
    expect(where(await signIn())).toBe("/");
    const again = await userOf(carolId);
    expect(again.role).toBe("analyst");
    expect(again.groupSubAccountIds).toEqual([north]);
  });
});
