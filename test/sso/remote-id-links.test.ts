// Issue 15 defect 3: a Remote ID belongs to the connection it came from. Two connections of one
// agency on two real loopback IdPs whose accounts share `sub` values: a link made through one
// connection never signs anybody in through the other, nor changes the linked user's email; an
// admin-provisioned externalUserId names the user to the agency's connections until one of them
// links it; migration 003 turns the old agency-wide links into per-connection ones.
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateToLatest } from "../../src/db/migrate.js";
import { Script } from "../provisioning/helpers.js";
import { storages } from "../support/db.js";
import { type Idp, type IdpAccount, startIdp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

const verified = (email: string) => ({ email, email_verified: true, name: email.split("@")[0] });

async function twoConnections(w: SsoWorld, accountsA: IdpAccount[], accountsB: IdpAccount[]) {
  const idps: Idp[] = [];
  const ids: string[] = [];
  for (const [name, accounts] of [
    ["Okta", accountsA],
    ["Other IdP", accountsB],
  ] as const) {
    const idp = await startIdp({ profile: "generic", redirectUris: [`${w.origin}/login/sso`], accounts });
    w.watch(idp);
    idps.push(idp);
    const { id } = await w.createConnection({
      type: "oidc",
      name,
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      discoveryUrl: idp.discoveryUrl,
    });
    ids.push(id);
  }
  return { idpA: idps[0]!, idpB: idps[1]!, a: ids[0]!, b: ids[1]! };
}

async function linksOf(w: SsoWorld, userId: string) {
  return w.t.ctx.db
    .selectFrom("sso_identities")
    .select(["agency_id", "connection_id", "remote_id"])
    .where("user_id", "=", userId)
    .orderBy("connection_id")
    .execute();
}

async function emailOf(w: SsoWorld, userId: string) {
  return (
    await w.t.ctx.db.selectFrom("users").select("email").where("id", "=", userId).executeTakeFirstOrThrow()
  ).email;
}

async function signedInAs(w: SsoWorld, connectionId: string, login: string) {
  const { res, browser } = await w.signIn(connectionId, login);
  if (where(res) !== "/") return where(res);
  const me = await browser.get(`${w.origin}/api/auth/me`);
  return me.json<{ user: { email: string } }>().user.email;
}

describe.each(storages())("SSO links belong to their connection (%s)", (storage) => {
  let w: SsoWorld;
  let idpA: Idp;
  let idpB: Idp;
  let a: string;
  let b: string;
  let aliceId: string;
  let janeId: string;

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    ({ idpA, idpB, a, b } = await twoConnections(
      w,
      [
        { sub: "shared-sub", claims: verified("alice@acme.test") },
        { sub: "hr-42", claims: verified("jane.a@okta.example") },
      ],
      [
        // Connection B's IdP names another person with connection A's Remote IDs.
        { sub: "shared-sub", claims: verified("mallory@evil.example") },
        { sub: "hr-42", claims: verified("jane@hr.example") },
      ],
    ));
    aliceId = (await w.t.seedUser(w.agencyId, { email: "alice@acme.test", subAccountIds: [w.subAccountId] }))
      .id;
    await w.enable(a, "shared-sub");
    await w.enable(b, "hr-42");
  });
  afterAll(async () => {
    await idpA?.close();
    await idpB?.close();
    await w?.close();
  });

  it("links a first sign-in to its connection, then finds the user by that link and follows the IdP's email", async () => {
    expect(await signedInAs(w, a, "shared-sub")).toBe("alice@acme.test");
    expect(await linksOf(w, aliceId)).toEqual([
      { agency_id: w.agencyId, connection_id: a, remote_id: "shared-sub" },
    ]);
    // The next sign-in is found by A's link, not by email: the IdP's new email follows.
    idpA.patchClaims("shared-sub", { email: "alice.new@acme.test" });
    expect(await signedInAs(w, a, "shared-sub")).toBe("alice.new@acme.test");
    idpA.patchClaims("shared-sub", { email: "alice@acme.test" });
    expect(await signedInAs(w, a, "shared-sub")).toBe("alice@acme.test");
    const signIns = await w.auditFor("auth.sign_in");
    expect(signIns[0]!.details).toMatchObject({ connectionId: a, matchedBy: "remote_id" });
  });

  it("refuses connection B's IdP asserting the sub connection A linked: no sign-in, no email change, no link", async () => {
    expect(await signedInAs(w, b, "shared-sub")).toBe("/login?error=user_not_found");
    expect(await emailOf(w, aliceId)).toBe("alice@acme.test");
    expect(await linksOf(w, aliceId)).toHaveLength(1);
    const failure = (await w.auditFor("sso.sign_in"))[0]!;
    expect(failure.details).toMatchObject({ code: "user_not_found", step: "resolution" });
    // Nor does a configuration test of B report A's user as the match.
    const test = await w.runTest(b, "shared-sub");
    expect(test.status).toBe("passed");
    expect(test.matchedUserId).toBeNull();
  });

  it("honours a provisioned externalUserId for the first connection that signs the user in with it, and for no other after", async () => {
    const token = await w.api("POST", "/api/admin/tokens", { name: "HR sync", scopes: ["users.write"] });
    expect(token.status, token.body).toBe(201);
    const script = new Script(w.t, token.json<{ secret: string }>().secret);
    const created = await script.post("/api/v1/users", {
      email: "jane@acme.test",
      name: "Jane",
      externalUserId: "hr-42",
      subAccountIds: [w.subAccountId],
    });
    expect(created.statusCode, created.body).toBe(201);
    janeId = created.json().user.id;

    // B has no link for hr-42 yet: the externalUserId names Jane, B links her and her email follows.
    expect(await signedInAs(w, b, "hr-42")).toBe("jane@hr.example");
    expect(await linksOf(w, janeId)).toEqual([
      { agency_id: w.agencyId, connection_id: b, remote_id: "hr-42" },
    ]);
    expect((await w.auditFor("auth.sign_in"))[0]!.details).toMatchObject({
      connectionId: b,
      matchedBy: "external_id",
    });
    // Now hr-42 is B's: A's IdP asserting it (with another email) finds nobody and changes nothing.
    expect(await signedInAs(w, a, "hr-42")).toBe("/login?error=user_not_found");
    expect(await emailOf(w, janeId)).toBe("jane@hr.example");
    expect(await linksOf(w, janeId)).toHaveLength(1);
    const fetched = await script.get(`/api/v1/users/${janeId}`);
    expect(fetched.json().user.externalUserId).toBe("hr-42");
  });

  it("lets a user have one identity per connection, each found only through its own connection", async () => {
    // Alice's verified email at B's IdP links B's own sub for her (SPEC §4's email match).
    idpB.addAccount({ sub: "b-alice", claims: verified("alice@acme.test") });
    expect(await signedInAs(w, b, "b-alice")).toBe("alice@acme.test");
    expect(await linksOf(w, aliceId)).toEqual(
      [
        { agency_id: w.agencyId, connection_id: a, remote_id: "shared-sub" },
        { agency_id: w.agencyId, connection_id: b, remote_id: "b-alice" },
      ].sort((x, y) => x.connection_id.localeCompare(y.connection_id)),
    );
    expect(await signedInAs(w, b, "shared-sub")).toBe("/login?error=user_not_found");
  });

  it("deletes a connection's links with the connection, and a user's links with the user", async () => {
    const res = await w.api("DELETE", `/api/admin/sso/connections/${b}`);
    expect(res.status, res.body).toBeLessThan(300);
    expect((await linksOf(w, aliceId)).map((l) => l.connection_id)).toEqual([a]);
    expect(await linksOf(w, janeId)).toEqual([]);
    await w.t.ctx.db.deleteFrom("users").where("id", "=", aliceId).execute();
    expect(await linksOf(w, aliceId)).toEqual([]);
  });
});

describe.each(
  storages(),
)("migration 003 moves the old agency-wide links to their connections (%s)", (storage) => {
  let w: SsoWorld;
  let idpA: Idp;
  let idpB: Idp;
  let a: string;
  let b: string;

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    ({ idpA, idpB, a, b } = await twoConnections(
      w,
      [
        { sub: "shared-sub", claims: verified("alice@acme.test") },
        { sub: "carol-sub", claims: verified("carol@acme.test") },
      ],
      [
        { sub: "shared-sub", claims: verified("mallory@evil.example") },
        { sub: "carol-sub", claims: verified("carol@acme.test") },
      ],
    ));
    await w.t.seedUser(w.agencyId, { email: "alice@acme.test", subAccountIds: [w.subAccountId] });
    await w.t.seedUser(w.agencyId, {
      email: "carol@acme.test",
      externalUserId: "carol-sub",
      subAccountIds: [w.subAccountId],
    });
    await w.enable(a, "shared-sub");
    await w.enable(b, "carol-sub");
  });
  afterAll(async () => {
    await idpA?.close();
    await idpB?.close();
    await w?.close();
  });

  it("links users by the connections they signed in through, or the agency's only connection; the rest stay claimable", async () => {
    const db = w.t.ctx.db;
    // The state before 003: Alice's first sign-in through A wrote her Remote ID into
    // users.external_user_id and its audit record names A; Carol's was provisioned and unused.
    expect(await signedInAs(w, a, "shared-sub")).toBe("alice@acme.test");
    const other = await w.t.seedAgency({ slug: "solo", domain: "solo.localhost" });
    const soloUser = await w.t.seedUser(other.id, { email: "sam@solo.test", externalUserId: "sam-sub" });
    const soloConnection = crypto.randomUUID();
    await db
      .insertInto("sso_connections")
      .values({
        id: soloConnection,
        agency_id: other.id,
        type: "cloudflare-access",
        name: "Access",
        team_domain: "solo.cloudflareaccess.com",
        audience: "aud",
        scopes: "[]",
        token_endpoint_auth_method: "client_secret_basic",
        mapping: JSON.stringify({
          remoteIdField: "sub",
          idField: null,
          emailField: "email",
          emailVerifiedField: "email",
          nameField: null,
        }),
      })
      .execute();
    // Back to before 003: the migrations after it undone too (Kysely runs migrations in order).
    const later = await sql<{ name: string }>`
      SELECT name FROM schema_migrations WHERE name > '003_sso_identities' ORDER BY name DESC`.execute(db);
    for (const { name } of later.rows) {
      const migration: { down(db: unknown): Promise<void> } = await import(
        `../../src/db/migrations/${name}.ts`
      );
      await migration.down(db);
    }
    await sql`DROP TABLE sso_identities`.execute(db);
    await sql`DELETE FROM schema_migrations WHERE name >= '003_sso_identities'`.execute(db);

    expect(await migrateToLatest(db)).toEqual([
      "003_sso_identities",
      ...later.rows.map((r) => r.name).reverse(),
    ]);
    const links = await db
      .selectFrom("sso_identities")
      .innerJoin("users", "users.id", "sso_identities.user_id")
      .select(["users.email", "sso_identities.connection_id", "sso_identities.remote_id"])
      .orderBy("users.email")
      .execute();
    expect(links).toEqual([
      { email: "alice@acme.test", connection_id: a, remote_id: "shared-sub" },
      { email: "sam@solo.test", connection_id: soloConnection, remote_id: "sam-sub" },
    ]);
    expect(soloUser.externalUserId).toBe("sam-sub");

    // Alice keeps signing in through A, and B's IdP asserting her old Remote ID gets nowhere.
    expect(await signedInAs(w, a, "shared-sub")).toBe("alice@acme.test");
    expect(await signedInAs(w, b, "shared-sub")).toBe("/login?error=user_not_found");
    // Carol, never signed in, is found by her externalUserId through the first connection to use it.
    expect(await signedInAs(w, b, "carol-sub")).toBe("carol@acme.test");
    expect((await w.auditFor("auth.sign_in"))[0]!.details).toMatchObject({ matchedBy: "external_id" });
  });
});
