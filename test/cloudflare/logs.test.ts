// SPEC §10: no Cloudflare Access assertion ever reaches a log line, at debug level, whether it
// arrives in the header or the cookie, valid or refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgency } from "../../src/agencies/agencies.js";
import { newConnectionId, rowValues } from "../../src/sso/connections.js";
import { normalizeConnection } from "../../src/sso/kinds/index.js";
import { createUser } from "../../src/users/users.js";
import { type FakeCloudflareAccess, startCloudflareAccess } from "../support/cloudflare.js";
import type { TestDatabase } from "../support/db.js";
import { type LoggedApp, startLoggedApp } from "../support/logged-app.js";

describe("Cloudflare Access and the logs", () => {
  const lines: string[] = [];
  let database: TestDatabase;
  let app: LoggedApp["app"];
  let cf: FakeCloudflareAccess;

  beforeAll(async () => {
    cf = await startCloudflareAccess({ email: "a@acme.test" });
    ({ app, database } = await startLoggedApp(lines, { ALLOW_PRIVATE_IDP_URLS: "true" }));
    const agency = await createAgency(database.db, {
      name: "Acme",
      slug: "acme",
      plan: "pro",
      domain: "acme.localhost",
    });
    await createUser(database.db, agency.id, { email: "a@acme.test", role: "admin" });
    // An enabled connection, as after a passed test (the admin flow is covered elsewhere).
    const { value } = normalizeConnection(
      { type: "cloudflare-access", name: "Cloudflare", teamDomain: cf.teamDomain, audience: cf.audTag },
      { allowHttp: true, defaultRedirectUrl: "http://acme.localhost/login/sso" },
    );
    await database.db
      .insertInto("sso_connections")
      .values({
        id: newConnectionId(),
        agency_id: agency.id,
        ...rowValues(value),
        client_secret_enc: null,
        enabled: true,
      })
      .execute();
    await database.db
      .updateTable("agencies")
      .set({ sso_enabled: true })
      .where("id", "=", agency.id)
      .execute();
  });
  afterAll(async () => {
    await app.close();
    await database.close();
    await cf.close();
  });

  it("never writes an assertion, valid or refused, from the header or the cookie", async () => {
    const good = await cf.sign({ sub: "cf-a" });
    const wrongAudience = await cf.sign({ sub: "cf-a", aud: ["other"] });
    const unknownKid = await cf.sign({ sub: "cf-a" }, { use: "next" });
    const host = "acme.localhost";
    const signedIn = await app.inject({
      url: "/login/sso/cloudflare",
      headers: { host, "cf-access-jwt-assertion": good },
    });
    expect(signedIn.statusCode).toBe(302);
    expect(signedIn.headers.location).toBe("/");
    for (const token of [wrongAudience, unknownKid]) {
      const refused = await app.inject({
        url: "/login/sso/cloudflare",
        headers: { host, "cf-access-jwt-assertion": token },
      });
      expect(refused.headers.location).toBe("/login?error=cloudflare_failed");
    }
    const viaCookie = await app.inject({
      url: "/login/sso/cloudflare",
      headers: { host, cookie: `CF_Authorization=${wrongAudience}` },
    });
    expect(viaCookie.headers.location).toBe("/login?error=cloudflare_failed");

    const all = lines.join("");
    expect(all).toContain("SSO sign-in failed"); // the debug line with the cause is there
    expect(all).toContain("audience check failed");
    for (const token of [good, wrongAudience, unknownKid]) {
      for (const part of token.split(".")) expect(all).not.toContain(part);
    }
  });
});
