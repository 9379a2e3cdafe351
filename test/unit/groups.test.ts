// SPEC §13's pure rules: reading the groups of the vouched claims (overage detected, never "no
// groups") and what a mapping table gives (exact match, highest role wins, allowed groups).
import { describe, expect, it } from "vitest";
import { groupGrants, readGroups } from "../../src/sso/groups.js";

describe("readGroups", () => {
  it("reads nothing when the connection maps no groups", () => {
    expect(readGroups({ groups: ["a"] }, null)).toBeNull();
  });

  it("reads a list, a single value (a one-valued SAML attribute) and Cloudflare's group objects", () => {
    expect(readGroups({ groups: ["a", "b", "a"] }, "groups")).toEqual({ ok: true, groups: ["a", "b"] });
    expect(readGroups({ "http://x/groups": "a" }, "http://x/groups")).toEqual({ ok: true, groups: ["a"] });
    expect(readGroups({ groups: [{ id: "g1", name: "North" }] }, "groups")).toEqual({
      ok: true,
      groups: ["g1", "North"],
    });
    expect(readGroups({}, "groups")).toEqual({ ok: true, groups: [] });
  });

  it("refuses an overage (distributed claim or hasgroups) and a value that is no list", () => {
    for (const claims of [
      { _claim_names: { groups: "src1" }, _claim_sources: { src1: { endpoint: "https://graph" } } },
      { _claim_names: { roles: "src1" } },
      { hasgroups: true },
      { hasgroups: "true" },
    ]) {
      const read = readGroups(claims, "roles");
      expect(read?.ok).toBe(false);
      expect(read?.ok === false && read.overage).toBe(true);
      expect(read?.ok === false && read.cause).toContain("Groups assigned to the application");
    }
    const bad = readGroups({ groups: { a: 1 } }, "groups");
    expect(bad?.ok === false && bad.overage).toBe(false);
  });
});

describe("groupGrants", () => {
  const mappings = [
    { id: "1", group: "Admins", role: "admin" as const, subAccountIds: [] },
    { id: "2", group: "North", role: "analyst" as const, subAccountIds: ["n"] },
    { id: "3", group: "South", role: null, subAccountIds: ["s", "n"] },
  ];

  it("gives the highest role of the mapped groups, the union of their sub-accounts, by exact match", () => {
    const g = groupGrants(["North", "Admins", "south"], mappings, []);
    expect(g.role).toBe("admin");
    expect(g.roleGroups).toEqual(["Admins"]);
    expect(g.subAccountIds).toEqual(["n"]);
    expect(g.matched).toEqual(["Admins", "North"]);
    expect(groupGrants(["South"], mappings, []).role).toBeNull();
    expect(groupGrants(["South", "North"], mappings, []).subAccountGroups).toEqual({
      n: ["North", "South"],
      s: ["South"],
    });
  });

  it("allows anyone without allowedGroups, and members of one of them only otherwise", () => {
    expect(groupGrants([], mappings, []).allowed).toBe(true);
    expect(groupGrants(["North"], mappings, ["Staff"]).allowed).toBe(false);
    expect(groupGrants(["North", "Staff"], mappings, ["Staff"]).allowed).toBe(true);
  });
});
